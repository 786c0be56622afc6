/* tap: where the proxy's exchanges go — the SQLite recording (store) and the
 * -v/--json output. The event loop calls tap_exchange() for every exchange
 * the stream layer pairs; neither path ever blocks the loop: the store copies
 * and queues (its own thread decodes and writes), and the output copies into
 * a bounded queue that a printer thread decodes, formats and writes to
 * stdout. When a queue is full the exchange is dropped from that sink and
 * counted (kafkatap_recordings_dropped_total{sink=...}).
 *
 * The printer thread also counts non-zero error codes in responses
 * (kafkatap_response_errors_total) and frames that did not decode. With a
 * recording but no output it sees only responses up to 64 KiB (error
 * answers are small; the large ones carry record data). */
#ifndef KT_TAP_H
#define KT_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/metrics.h"
#include "store/store.h"
#include "stream/exchange.h"

/* -v: one line per exchange; -vv: the line and both decoded trees; --json. */
enum tap_output { TAP_OUTPUT_NONE = 0, TAP_OUTPUT_LINE, TAP_OUTPUT_VERBOSE, TAP_OUTPUT_JSON };

struct tap_config {
	const char *record_path;  /* NULL: no recording */
	const struct store_opts *store; /* recording options; NULL: the defaults. The
					 * full-queue policy is drop (block would stop the
					 * loop) unless it is pause (tap_recording_full) */
	enum tap_output output;
	int argc;                 /* the command line, kept in the recording */
	char **argv;
	size_t queue_max_exchanges; /* output queue bound; 0 = default */
	size_t queue_max_bytes;
};

struct tap;

/* NULL with err set on failure (e.g. the recording file cannot be opened). */
struct tap *tap_open(const struct tap_config *cfg, struct metrics *m, char *err, size_t errlen);
/* Whether exchanges are wanted at all (the proxy skips the stream layer if not). */
bool tap_active(const struct tap *t);
void tap_conn_open(struct tap *t, const struct exchange_conn *c);
/* The connection's broker node id became known after tap_conn_open (a
 * bootstrap connection, from Metadata): update the recorded row. */
void tap_conn_node(struct tap *t, uint64_t conn_id, int32_t node_id);
/* bytes: per direction (to broker, to client); reason: why it ended. */
void tap_conn_close(struct tap *t, const struct exchange_conn *c, const uint64_t bytes[2],
		    const char *reason);
/* Called on the event loop thread; copies what it keeps. */
void tap_exchange(struct tap *t, const struct exchange *x);
/* --store-when-full pause. tap_pauses: that is the policy. tap_recording_full:
 * the recording's queue is at its limit, the proxy should stop reading from
 * its sockets. tap_recording_drained: it has come down far enough to resume
 * (true when the policy is not pause). */
bool tap_pauses(const struct tap *t);
/* Should a large frame of `bytes` go on unrecorded (stream_shed)? Only the
 * recording wants its bytes (no output), its policy is drop and its queue
 * has no room for them: it would be dropped once complete, so gathering it
 * would cost the event loop a copy for nothing. Logged once per episode. */
bool tap_sheds(struct tap *t, size_t bytes);
bool tap_recording_full(struct tap *t);
bool tap_recording_drained(struct tap *t);
/* SIGHUP: reopen the recording file. 0 on success. */
int tap_reopen(struct tap *t, char *err, size_t errlen);
/* Refresh metrics kept by the sinks (store counters). */
void tap_refresh_metrics(struct tap *t, struct metrics *m);
/* Flush everything queued, stop the threads, close the recording. */
void tap_close(struct tap *t);

#endif
