/* filteropt: the options that choose which exchanges are shown (--api,
 * --topic, --client-id, --errors, --slower-than), shared by decode/sniff and
 * show so that a filter means the same thing on a capture and a recording. */
#ifndef KT_FILTEROPT_H
#define KT_FILTEROPT_H

#include "output/report.h"

/* getopt_long codes; above any command's own codes and storeopt's. */
enum {
	FILTEROPT_API = 1100,
	FILTEROPT_TOPIC,
	FILTEROPT_CLIENT_ID,
	FILTEROPT_ERRORS,
	FILTEROPT_SLOWER,
};

/* Entries for a struct option array. */
#define FILTEROPT_LONGOPTS \
	{"api", required_argument, NULL, FILTEROPT_API}, \
	{"topic", required_argument, NULL, FILTEROPT_TOPIC}, \
	{"client-id", required_argument, NULL, FILTEROPT_CLIENT_ID}, \
	{"errors", no_argument, NULL, FILTEROPT_ERRORS}, \
	{"slower-than", required_argument, NULL, FILTEROPT_SLOWER}

/* Help text lines. */
#define FILTEROPT_USAGE \
	"      --api NAME|KEY     only this API (repeatable)\n" \
	"      --topic NAME       only exchanges naming this topic\n" \
	"      --client-id ID     only requests with this client id\n" \
	"      --errors           only exchanges with an error code or a malformed message\n" \
	"      --slower-than MS   only exchanges whose response took longer than MS milliseconds\n"

/* Apply option CH (with ARG) to F. Returns -1 when CH is not a filter
 * option, 0 when it was applied, or the usage-error exit status for CMD.
 * ARG must outlive F (getopt's optarg points into argv). */
int filteropt_parse(const char *cmd, int ch, const char *arg, struct report_filter *f);

#endif
