/* metrics: the proxy's counters, gauges and latency histograms, shown by the
 * admin endpoint in the Prometheus text format (version 0.0.4).
 *
 * Every metric is one row of PROXY_METRICS: X(id, shape, type, name, help).
 * shape S is one number in metrics.v[]; shape L is a labelled family with
 * its own storage and a render function in metrics.c. Names, help text, the
 * exposition and docs/proxy.md all follow this list.
 *
 * Threads: everything is updated on the event loop thread except the response
 * error table and the decode-failure and drop counters, which the output
 * worker also updates (atomically / under a mutex). */
#ifndef KT_METRICS_H
#define KT_METRICS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

#define PROXY_METRICS(X)                                                                          \
	X(CONNECTIONS_ACCEPTED, S, counter, "kafkatap_connections_accepted_total",                   \
	  "Client connections accepted")                                                             \
	X(CONNECTIONS_ACTIVE, S, gauge, "kafkatap_connections_active",                               \
	  "Client connections open now")                                                             \
	X(CONNECTIONS_REFUSED, L, counter, "kafkatap_connections_refused_total",                     \
	  "Client connections refused when accepted, by reason")                                     \
	X(CONNECTIONS_CLOSED, L, counter, "kafkatap_connections_closed_total",                       \
	  "Proxied connections closed, by reason")                                                   \
	X(UPSTREAM_CONNECTS, S, counter, "kafkatap_upstream_connects_total",                         \
	  "Connections established to brokers")                                                      \
	X(UPSTREAM_CONNECT_FAILURES, S, counter, "kafkatap_upstream_connect_failures_total",         \
	  "Connection attempts to brokers that failed (refused, unreachable, timed out)")            \
	X(BYTES, L, counter, "kafkatap_bytes_total",                                                 \
	  "Bytes forwarded, by direction (to_broker, to_client)")                                    \
	X(REQUESTS, L, counter, "kafkatap_requests_total",                                           \
	  "Requests forwarded to brokers, by api and version")                                       \
	X(REQUEST_DURATION, L, histogram, "kafkatap_request_duration_seconds",                       \
	  "Time from the first byte of a request to the first byte of its response, by api")        \
	X(RESPONSE_ERRORS, L, counter, "kafkatap_response_errors_total",                             \
	  "Non-zero error codes in responses, by api and error (counted when exchanges are "         \
	  "recorded or printed)")                                                                    \
	X(RESPONSES_REWRITTEN, S, counter, "kafkatap_responses_rewritten_total",                     \
	  "Metadata, FindCoordinator and DescribeCluster responses re-encoded with proxy addresses") \
	X(REWRITE_FAILURES, S, counter, "kafkatap_rewrite_failures_total",                           \
	  "Responses that should have been rewritten but did not decode or encode (forwarded "       \
	  "untouched)")                                                                              \
	X(DECODE_FAILURES, S, counter, "kafkatap_decode_failures_total",                             \
	  "Frames that did not decode (malformed or unsupported), forwarded untouched")              \
	X(INFLIGHT_OVERFLOW, S, counter, "kafkatap_inflight_overflow_total",                         \
	  "Requests no longer tracked because too many were in flight on one connection")           \
	X(SPLICED_BYTES, S, counter, "kafkatap_spliced_bytes_total",                                 \
	  "Bytes of large frame bodies moved socket to socket by the kernel (splice), never "       \
	  "copied into the proxy (only when nothing records or prints)")                            \
	X(SPLICE_WAITS, S, counter, "kafkatap_splice_waits_total",                                  \
	  "Times moving a large frame stopped reading its source until the destination socket "     \
	  "had room, rather than copy what it would not take")                                      \
	X(EXCHANGES, S, counter, "kafkatap_exchanges_total",                                         \
	  "Exchanges (request/response pairs) handed to the recording and output")                   \
	X(RECORDINGS_DROPPED, L, counter, "kafkatap_recordings_dropped_total",                       \
	  "Exchanges not recorded or printed because a queue was full, by sink (store, output)")     \
	X(RECORDING_SHED, S, counter, "kafkatap_recording_shed_frames_total",                        \
	  "Large frames forwarded without being recorded (header kept) because the recording's "    \
	  "queue had no room for them (--store-when-full drop)")                                    \
	X(RECORDING_PAUSED, S, gauge, "kafkatap_recording_paused",                                   \
	  "1 while reading is paused because the recording's queue is full (--store-when-full "    \
	  "pause)")                                                                                 \
	X(RECORDING_PAUSES, S, counter, "kafkatap_recording_pauses_total",                           \
	  "Times reading was paused for the recording (--store-when-full pause)")                   \
	X(BROKERS_KNOWN, S, gauge, "kafkatap_brokers_known",                                         \
	  "Brokers learned from Metadata, FindCoordinator and DescribeCluster responses")            \
	X(LISTENERS, S, gauge, "kafkatap_listeners", "Listening sockets (bootstrap and per broker)") \
	X(SHUTTING_DOWN, S, gauge, "kafkatap_shutting_down",                                         \
	  "1 while the proxy drains connections after SIGINT/SIGTERM")                               \
	X(START_TIME, S, gauge, "kafkatap_start_time_seconds", "Unix time the proxy started")

enum metric_id {
#define METRIC_ENUM(id, shape, type, name, help) METRIC_##id,
	PROXY_METRICS(METRIC_ENUM)
#undef METRIC_ENUM
	METRIC_COUNT
};

/* Why a connection was refused or closed: X(id, label, text for logs). */
#define CONN_REASONS(X)                                                                      \
	X(CLIENT_CLOSED, "client_closed", "the client closed the connection")                 \
	X(CLIENT_ERROR, "client_error", "error on the client socket")                         \
	X(UPSTREAM_CLOSED, "upstream_closed", "the broker closed the connection")             \
	X(UPSTREAM_ERROR, "upstream_error", "error on the broker socket")                     \
	X(UPSTREAM_UNREACHABLE, "upstream_unreachable", "the broker could not be reached")    \
	X(NO_ROUTE, "no_route", "no broker address is known for this listener")               \
	X(MAX_CONNECTIONS, "max_connections", "--max-connections reached")                    \
	X(MAX_FRAME, "max_frame", "frame size out of range (see --max-frame)")                \
	X(IDLE_TIMEOUT, "idle_timeout", "no traffic for --idle-timeout seconds")              \
	X(NO_ORIGINAL_DST, "no_original_dst", "no original destination (transparent mode)") \
	X(LOOP, "loop", "the destination is the proxy itself")                                \
	X(RESOURCES, "resources", "out of memory or file descriptors")                        \
	X(SHUTDOWN, "shutdown", "the proxy is shutting down")

enum conn_reason {
#define REASON_ENUM(id, label, text) REASON_##id,
	CONN_REASONS(REASON_ENUM)
#undef REASON_ENUM
	REASON_COUNT
};
const char *conn_reason_label(enum conn_reason r);
const char *conn_reason_text(enum conn_reason r);

#define METRICS_MAX_API 128
#define METRICS_MAX_VER 32
#define METRICS_DURATION_BUCKETS 17
#define METRICS_ERROR_SLOTS 512

enum metrics_dir { METRICS_TO_BROKER = 0, METRICS_TO_CLIENT = 1 };
enum metrics_sink { METRICS_SINK_STORE = 0, METRICS_SINK_OUTPUT = 1 };

struct metrics {
	uint64_t v[METRIC_COUNT];
	uint64_t refused[REASON_COUNT];
	uint64_t closed[REASON_COUNT];
	uint64_t bytes[2];
	uint64_t requests[METRICS_MAX_API][METRICS_MAX_VER];
	uint64_t requests_other; /* api key or version out of the table's range */
	uint64_t dur_bucket[METRICS_MAX_API][METRICS_DURATION_BUCKETS];
	uint64_t dur_count[METRICS_MAX_API];
	uint64_t dur_sum_ns[METRICS_MAX_API];
	uint64_t dropped[2]; /* updated atomically */
	pthread_mutex_t err_lock;
	struct {
		int16_t api;
		int16_t code;
		uint64_t n;
	} err[METRICS_ERROR_SLOTS];
	uint32_t nerr;
	uint64_t err_other; /* table full */
	/* Called before rendering, so that counters kept elsewhere (the store's)
	 * can be copied in. */
	void (*refresh)(void *ctx, struct metrics *m);
	void *refresh_ctx;
};

void metrics_init(struct metrics *m);
void metrics_destroy(struct metrics *m);
static inline void metrics_inc(struct metrics *m, enum metric_id id) { m->v[id]++; }
static inline void metrics_add(struct metrics *m, enum metric_id id, uint64_t n) { m->v[id] += n; }
static inline void metrics_set(struct metrics *m, enum metric_id id, uint64_t n) { m->v[id] = n; }
/* Thread-safe increments (output worker). */
void metrics_atomic_inc(struct metrics *m, enum metric_id id);
void metrics_dropped(struct metrics *m, enum metrics_sink s, uint64_t n);
void metrics_request(struct metrics *m, int api_key, int api_version);
void metrics_duration(struct metrics *m, int api_key, uint64_t ns);
void metrics_response_error(struct metrics *m, int api_key, int code);
/* The whole exposition, appended to b. */
void metrics_render(struct metrics *m, struct buf *b);
/* Name and help of a metric (for docs and tests). */
const char *metrics_name(enum metric_id id);
const char *metrics_help(enum metric_id id);

#endif
