/* storeopt: the --store-* options that shape a recording, shared by every
 * command that writes a store (decode/sniff -w, proxy --record), so that they
 * are spelled, parsed and documented the same way everywhere. */
#ifndef KT_STOREOPT_H
#define KT_STOREOPT_H

#include <stdbool.h>

#include "store/store.h"

/* getopt_long codes; well above any command's own option codes. */
enum {
	STOREOPT_NO_RAW = 1000,
	STOREOPT_NO_RECORDS,
	STOREOPT_MAX_VALUE,
	STOREOPT_VALUES,
	STOREOPT_WHEN_FULL,
	STOREOPT_QUEUE,
};

/* Entries for a struct option array. */
#define STOREOPT_LONGOPTS \
	{"store-no-raw", no_argument, NULL, STOREOPT_NO_RAW}, \
	{"store-no-records", no_argument, NULL, STOREOPT_NO_RECORDS}, \
	{"store-max-value-bytes", required_argument, NULL, STOREOPT_MAX_VALUE}, \
	{"store-values", required_argument, NULL, STOREOPT_VALUES}, \
	{"store-when-full", required_argument, NULL, STOREOPT_WHEN_FULL}, \
	{"store-queue", required_argument, NULL, STOREOPT_QUEUE}

/* Help text lines; WHEN_FULL names the command's default policy. */
#define STOREOPT_USAGE(when_full_default) \
	"      --store-no-raw     do not keep the raw request and response bytes\n" \
	"      --store-no-records do not fill the records table\n" \
	"      --store-max-value-bytes N  keep at most N bytes of each record key and value\n" \
	"      --store-values MODE  record values: none (kept), hash (sha256) or drop\n" \
	"      --store-when-full MODE  when the writer falls behind: " when_full_default "\n" \
	"      --store-queue BYTES  memory for exchanges waiting to be written (k/M/G;\n" \
	"                         default 256M)\n"

/* Apply option CH (with ARG) to O. Returns -1 when CH is not a store option,
 * 0 when it was applied, or the usage-error exit status for CMD. */
int storeopt_parse(const char *cmd, int ch, const char *arg, struct store_opts *o);

#endif
