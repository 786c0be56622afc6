/* capture: packets to exchanges. Ties pcapin (link/IP/TCP), tcpreasm (TCP
 * reassembly) and one stream (stream.h) per Kafka connection together, for
 * `kafkatap decode` (files) and `kafkatap sniff` (live).
 *
 * Which TCP flows are Kafka, and which end is the broker:
 *   1. A flow is looked at when one of its ports is a configured Kafka port
 *      (-p, default 9092), or, with auto-detection (--auto), any flow.
 *   2. The SYN decides the sides when it was captured: its sender is the
 *      client (with --auto the client's first bytes must also be a plausible
 *      request, else the flow is not Kafka).
 *   3. Without a SYN, a flow with exactly one configured port has the broker
 *      on that port.
 *   4. Otherwise (both ports configured, or --auto) the first bytes of each
 *      side are kept (at most CAPTURE_DETECT_MAX) and tested: the side whose
 *      bytes start with a plausible request header (frame.h) is the client,
 *      confirmed when the other side's first frame carries the same
 *      correlation id. When neither side starts cleanly (the capture began
 *      mid-message), the decision waits until CAPTURE_DETECT_MAX bytes are
 *      kept or the flow ends, then each side is searched for a plausible
 *      request followed by another frame boundary. A flow that fits none of
 *      this is not Kafka (with --auto) or has its broker on the lower
 *      configured port.
 * A side whose first bytes were not its stream's start (no SYN) makes the
 * stream resynchronise there (stream_resync). */
#ifndef KT_CAPTURE_H
#define KT_CAPTURE_H

#include <stdint.h>
#include <stdbool.h>

#include "capture/pcapin.h"
#include "stream/stream.h"

#define CAPTURE_MAX_PORTS 64
#define CAPTURE_DEFAULT_PORT 9092
#define CAPTURE_DETECT_MAX (64u * 1024) /* bytes kept per flow while deciding */

struct capture_opts {
	uint16_t ports[CAPTURE_MAX_PORTS];
	unsigned nports;                 /* 0: CAPTURE_DEFAULT_PORT */
	bool auto_detect;
	struct stream_config stream;     /* resync is forced on */
	/* Where exchanges and notices go (conn may be NULL for notices). */
	void (*exchange)(void *ctx, const struct exchange *x);
	void (*notice)(void *ctx, const struct exchange_conn *conn, const char *msg);
	/* A Kafka connection starts / ends (optional: for the store). */
	void (*conn_start)(void *ctx, const struct exchange_conn *conn, int64_t ts_us);
	void (*conn_end)(void *ctx, const struct exchange_conn *conn, int64_t ts_us,
			 uint64_t bytes_to_broker, uint64_t bytes_to_client, const char *reason);
	void *ctx;
};

struct capture_counters {
	uint64_t packets;
	uint64_t bytes;                      /* captured bytes of all packets */
	uint64_t skipped[PCAPIN_SKIP_COUNT]; /* packets that gave no TCP segment; FRAGMENT:
					      * fragments refused or of datagrams dropped incomplete */
	uint64_t other_ports;                /* TCP segments of flows not looked at */
	uint64_t kafka_flows;                /* connections decoded as Kafka */
	uint64_t not_kafka;                  /* flows looked at and found not Kafka */
	struct tcpreasm_counters tcp;
	struct ipfrag_counters frag;         /* IP fragment reassembly (ipfrag.h) */
	struct stream_counters stream;       /* summed over the connections closed so far */
};

struct capture;

struct capture *capture_new(const struct capture_opts *o);
/* One packet of link type dlt (pkt->dlt instead when pkt->own_dlt). IP
 * fragments are reassembled (ipfrag.h) before TCP. */
void capture_packet(struct capture *c, int dlt, const struct pcapin_packet *pkt);
/* Close flows idle for long (capture_packet does it as capture time goes
 * by; a live capture calls it when no packets come). */
void capture_expire(struct capture *c, int64_t now_us);
/* End of the capture: every flow is closed and its requests in flight are
 * reported unanswered. */
void capture_finish(struct capture *c);
void capture_get_counters(const struct capture *c, struct capture_counters *out);
void capture_free(struct capture *c);

/* "10.0.0.1:9092" or "[2001:db8::1]:9092" */
void capture_format_endpoint(char *out, size_t n, uint8_t family, const uint8_t *addr, uint16_t port);

#endif
