/* tcpreasm: TCP reassembly for captures. Segments of many connections come
 * in capture order; each connection's two byte streams come out in sequence
 * order, with explicit gaps where bytes are missing (RFC 9293, section 3.4
 * for sequence numbers and their modulo-2^32 comparison).
 *
 * Per direction it tracks the next expected sequence number:
 *   - a segment at that number is delivered at once (no copy);
 *   - a segment ahead of it is kept, sorted, until the hole before it fills;
 *   - bytes behind it are a retransmission: compared with the last bytes
 *     delivered (TCPREASM_HISTORY of them) and dropped; a retransmission or an
 *     overlap whose bytes differ is a conflict: counted and reported, and the
 *     copy seen first wins (what was delivered cannot be taken back).
 * A hole is declared a gap (tcpreasm_sink.gap, then the kept bytes flow) when
 *   - the other direction acknowledges bytes past it (the receiver got them:
 *     the capture missed them),
 *   - the bytes kept for one direction exceed TCPREASM_FLOW_BYTES, or for
 *     all flows TCPREASM_TOTAL_BYTES (that direction's kept bytes are
 *     flushed, holes becoming gaps),
 *   - or the flow ends (FIN, RST, idle, end of capture).
 * A direction whose start is unknown (no SYN, or for the client no SYN-ACK
 * either) starts at the first byte seen, and the owner is told that those
 * bytes may start mid-message. A SYN with a new initial sequence number on a
 * known flow starts a new flow. Flows idle for TCPREASM_IDLE_US of capture
 * time are closed. Segments without payload never open a flow (except SYNs). */
#ifndef KT_TCPREASM_H
#define KT_TCPREASM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define TCPREASM_HISTORY 1024                          /* bytes per direction kept to compare retransmissions */
#define TCPREASM_FLOW_BYTES (8u * 1024 * 1024)         /* out-of-order bytes kept per direction of a flow */
#define TCPREASM_TOTAL_BYTES (256u * 1024 * 1024)      /* ... and for all flows */
#define TCPREASM_IDLE_US (600ll * 1000000)             /* capture time after which an idle flow is closed */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

/* One TCP segment as the capture layer parsed it. */
struct tcp_segment {
	uint8_t family;              /* 4 or 6 */
	uint8_t src[16], dst[16];    /* IPv4 addresses use the first 4 bytes */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;               /* TCP_* */
	const uint8_t *payload;
	uint32_t len;                /* payload bytes on the wire */
	uint32_t captured;           /* of which in the capture (<= len: a short snaplen) */
	int64_t ts_us;
};

/* How a flow ended. */
#define TCPREASM_ENDS(X)                                   \
	X(FIN, "closed")                                   \
	X(RST, "reset")                                    \
	X(IDLE, "idle")                                    \
	X(REUSED, "new connection on the same ports")     \
	X(EOF, "end of capture")

enum tcpreasm_end {
#define TCPREASM_END_ENUM(name, text) TCPREASM_END_##name,
	TCPREASM_ENDS(TCPREASM_END_ENUM)
#undef TCPREASM_END_ENUM
};
const char *tcpreasm_end_name(enum tcpreasm_end e);

struct tcpreasm_flow;

/* What the owner learns of a new flow. Side 0 is the endpoint that sent the
 * SYN, or without one, the source of the first segment seen. */
struct tcpreasm_flow_info {
	uint8_t family;
	uint8_t addr[2][16];
	uint16_t port[2];
	bool syn[2];                 /* the flow began with a SYN from side 0 / a SYN-ACK from side 1 */
	int64_t ts_us;
	struct tcpreasm_flow *flow;  /* handle for tcpreasm_ignore */
};

struct tcpreasm_sink {
	/* A flow starts (its first SYN or payload). Return the owner's state for
	 * it, or NULL to ignore the flow (its bytes are then not kept). */
	void *(*open)(void *ctx, const struct tcpreasm_flow_info *fi);
	/* In-order bytes from side `from` (0 or 1). `midstream` is set on the
	 * first bytes of a side whose start was not seen: they may begin
	 * anywhere in a message. */
	void (*data)(void *ctx, void *flow, int from, const uint8_t *p, size_t n, int64_t ts_us,
		     bool midstream);
	void (*gap)(void *ctx, void *flow, int from, uint64_t n, int64_t ts_us);
	/* The flow ended; the owner frees its state. */
	void (*close)(void *ctx, void *flow, enum tcpreasm_end why, int64_t ts_us);
	/* A message for the user (conflicting retransmission...). May be NULL. */
	void (*notice)(void *ctx, void *flow, const char *msg);
	void *ctx;
};

struct tcpreasm_counters {
	uint64_t segments;
	uint64_t flows;
	uint64_t ignored_flows;
	uint64_t retransmitted;      /* segments (or parts) already seen */
	uint64_t conflicts;          /* overlaps whose bytes differed */
	uint64_t out_of_order;       /* segments kept for later */
	uint64_t gaps;
	uint64_t gap_bytes;
	uint64_t truncated;          /* segments cut short by the snapshot length */
	uint64_t forced;             /* holes declared because the buffer limits were hit */
	uint64_t kept_bytes;         /* out-of-order bytes held now */
	uint64_t kept_peak;
};

struct tcpreasm;

struct tcpreasm *tcpreasm_new(const struct tcpreasm_sink *sink);
void tcpreasm_segment(struct tcpreasm *r, const struct tcp_segment *s);
/* Stop keeping bytes of a flow (the owner found it is not Kafka): data and
 * gap callbacks stop; close still comes. */
void tcpreasm_ignore(struct tcpreasm *r, struct tcpreasm_flow *flow);
/* Close flows idle since before now_us - TCPREASM_IDLE_US. */
void tcpreasm_expire(struct tcpreasm *r, int64_t now_us);
/* Close every flow (end of capture), in the order they started. */
void tcpreasm_finish(struct tcpreasm *r, int64_t ts_us);
void tcpreasm_free(struct tcpreasm *r);
void tcpreasm_get_counters(const struct tcpreasm *r, struct tcpreasm_counters *c);

#endif
