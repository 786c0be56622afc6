/* exchange: one request paired with its response — what the stream layer
 * (framing + correlation, fed by the proxy or by a capture) hands to every
 * sink (text/JSON output, the SQLite store, replay). Frames are raw bytes as
 * they crossed the wire, without the 4-byte size prefix; sinks decode them
 * with the codec when they need to. The pointers are valid only during the
 * sink callback: a sink that keeps them copies them, or takes them over
 * where it may (struct exchange_own). */
#ifndef KT_EXCHANGE_H
#define KT_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Exchange flags: X(name, bit, description). One list, so names, JSON flag
 * names and docs cannot drift apart. */
#define EXCHANGE_FLAGS(X)                                                              \
	X(UNANSWERED, 0x0001, "unanswered", "no response came before the connection or capture ended") \
	X(ACKS0, 0x0002, "acks0", "Produce with acks=0: no response is expected")           \
	X(ORPHAN, 0x0004, "orphan", "a response whose request was never seen")             \
	X(REQ_MALFORMED, 0x0008, "request_malformed", "the request did not decode")         \
	X(RESP_MALFORMED, 0x0010, "response_malformed", "the response did not decode")      \
	X(UNSUPPORTED, 0x0020, "unsupported", "unknown api key or version: kept raw")       \
	X(GAP, 0x0040, "gap", "bytes were missing from the capture around this exchange")   \
	X(SASL_RAW, 0x0080, "sasl_raw", "a raw SASL token after SaslHandshake v0")          \
	X(CORR_REUSED, 0x0100, "correlation_reused", "the correlation id was reused while in flight") \
	X(REWRITTEN, 0x0200, "rewritten", "the proxy re-encoded this response (address rewrite)") \
	X(OVERSIZED, 0x0400, "oversized", "a frame over the maximum frame size: only its header was kept") \
	X(SHED, 0x0800, "shed", "the recording was full: a large frame went through unrecorded, only its header was kept")

enum exchange_flag {
#define EXCHANGE_FLAG_ENUM(name, bit, json, desc) EXCHANGE_##name = bit,
	EXCHANGE_FLAGS(EXCHANGE_FLAG_ENUM)
#undef EXCHANGE_FLAG_ENUM
};

/* Frames a sink may keep instead of copying (the store does, for large
 * ones: a copy of every recorded Produce and Fetch on the event loop cost a
 * fifth of its time). A member is non-NULL when that frame sits at the
 * start of a malloc'd block of its own; a sink takes the block by setting
 * the member to NULL and frees it with free() later. A sink that takes must
 * come after every sink that copies: the block may be gone as soon as it is
 * handed on. */
struct exchange_own {
	uint8_t *request;
	uint8_t *response;
};

/* One TCP connection between a client and a broker. */
struct exchange_conn {
	uint64_t id;            /* unique within a session */
	char client[64];        /* "127.0.0.1:53422" */
	char broker[64];        /* "127.0.0.1:9092" (the real broker) */
	int32_t broker_node_id; /* -1 when unknown */
};

struct exchange {
	const struct exchange_conn *conn;
	uint64_t seq;                 /* order within the connection */
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	int64_t request_us;           /* Unix time in microseconds; 0 when absent */
	int64_t response_us;
	/* The frames, or NULL. A frame not kept (oversized, cut by a gap, shed)
	 * is NULL with the size its prefix declared; otherwise NULL has size 0. */
	const uint8_t *request;
	uint32_t request_len;
	const uint8_t *response;
	uint32_t response_len;
	uint32_t flags;               /* EXCHANGE_* */
	struct exchange_own *own;     /* frames a sink may keep; NULL: none */
};

#endif
