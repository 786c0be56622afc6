/* stream: the layer both the proxy and the capture reader feed. Per TCP
 * connection and direction it cuts the byte stream into frames (4-byte
 * big-endian size prefix, "Protocol: Requests and Responses" in the protocol
 * guide), remembers each request by correlation id (api key, version, time)
 * and pairs it with its response into an exchange (exchange.h), which it hands
 * to the sink. It never changes the bytes and never blocks: the sink gets
 * pointers valid during the callback only.
 *
 * Handled here: pipelining, Produce acks=0 (no response expected), responses
 * with no request (capture started mid-stream), requests never answered
 * (reported at stream_close), SaslHandshake v0 followed by unframed SASL
 * tokens, a correlation id reused while in flight, a bad size (negative or
 * over max_frame: the connection is flagged and the rest kept raw), a stream
 * starting mid-frame (resynchronise on the next plausible frame boundary and
 * report the bytes skipped). Memory per connection is bounded. */
#ifndef KT_STREAM_H
#define KT_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "stream/exchange.h"

#define STREAM_DEFAULT_MAX_FRAME (100u * 1024 * 1024)

struct stream_config {
	uint32_t max_frame;     /* bytes; 0 = STREAM_DEFAULT_MAX_FRAME */
	uint32_t max_inflight;  /* requests remembered per connection; 0 = 1024 */
	bool resync;            /* look for a frame boundary when the start is unknown (captures) */
	uint64_t max_inflight_bytes; /* request bytes kept while waiting for responses;
				      * 0 = 64 MiB (never less than max_frame) */
};

struct stream_sink {
	/* A request/response pair, a lone request (unanswered / acks=0) or a lone response. */
	void (*exchange)(void *ctx, const struct exchange *x);
	/* Something a user should know about the connection ("skipped 312 bytes to
	 * resynchronise", "frame size 2147483647 exceeds the maximum"). May be NULL. */
	void (*notice)(void *ctx, const struct exchange_conn *conn, const char *msg);
	void *ctx;
};

enum stream_dir { STREAM_TO_BROKER = 0, STREAM_TO_CLIENT = 1 };

struct stream;

struct stream *stream_new(const struct stream_config *cfg, const struct stream_sink *sink,
			  const struct exchange_conn *conn);
/* Bytes seen in one direction, in order. ts_us: Unix time in microseconds. */
void stream_feed(struct stream *s, enum stream_dir d, const uint8_t *p, size_t n, int64_t ts_us);
/* frame_body_room / frame_body_commit for direction d: the proxy reads the
 * rest of a large frame straight into the block that keeps it. */
size_t stream_body_room(struct stream *s, enum stream_dir d, uint8_t **p, size_t want);
void stream_body_commit(struct stream *s, enum stream_dir d, size_t n, int64_t ts_us);
/* The proxy, whose recording has no room for the large frame being
 * gathered in direction d: the frame goes on unseen (frame_shed). Its
 * exchange keeps the header (api, version, correlation id, so that a
 * response still pairs) and is flagged SHED. stream_pass_room says how many
 * of its bytes may then bypass the stream; stream_pass counts those that did. */
bool stream_shed(struct stream *s, enum stream_dir d, int64_t ts_us);
uint64_t stream_pass_room(const struct stream *s, enum stream_dir d);
void stream_pass(struct stream *s, enum stream_dir d, uint64_t n);
/* `nbytes` are missing in direction d (a capture gap); the stream resynchronises. */
void stream_gap(struct stream *s, enum stream_dir d, uint64_t nbytes, int64_t ts_us);
/* The next bytes in direction d may start mid-frame (a capture that began
 * after the connection did): look for a frame boundary first. Needs
 * cfg.resync; without it the direction is only counted. */
void stream_resync(struct stream *s, enum stream_dir d);
/* End of the connection: every request still in flight is emitted as unanswered. */
void stream_close(struct stream *s, int64_t ts_us);
void stream_free(struct stream *s);

struct stream_counters {
	uint64_t frames[2];       /* per direction */
	uint64_t bytes[2];
	uint64_t exchanges;
	uint64_t unanswered;
	uint64_t orphans;
	uint64_t bad_frames;      /* size out of range */
	uint64_t skipped_bytes;   /* resynchronisation */
	uint64_t gaps;
	uint64_t shed_frames;     /* stream_shed */
};
void stream_get_counters(const struct stream *s, struct stream_counters *c);
/* The connection this stream belongs to (broker_node_id may be updated by the owner). */
struct exchange_conn *stream_conn(struct stream *s);

#endif
