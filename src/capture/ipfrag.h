/* ipfrag: IPv4 and IPv6 fragment reassembly for the capture path (RFC 791
 * section 3.2, RFC 8200 section 4.5). pcapin takes a fragment apart
 * (struct ipfrag_piece); ipfrag keeps it until its datagram is whole, then
 * hands back the datagram as raw IP (the fragment fields cleared, the IPv6
 * fragment header removed), which pcapin parses again like any packet.
 *
 * Policy and limits (docs/decode.md says the same for users):
 *   - A datagram is identified by (family, source, destination, protocol or
 *     next header, identification).
 *   - Its header (IPv4 header with options; IPv6 header and the extension
 *     headers before the fragment header) is the one of the fragment at
 *     offset 0.
 *   - Overlaps: the bytes seen first are kept (what a receiver delivered
 *     cannot be taken back; tcpreasm does the same for TCP). An overlap with
 *     the same bytes is counted as a duplicate; one with other bytes as a
 *     conflict, reported through the notice callback. A fragment that
 *     disagrees on where the datagram ends is a conflict and is ignored.
 *   - Refused (counted, the datagram stays incomplete): a fragment that is
 *     empty, not a multiple of 8 bytes while more follow, ends past the
 *     largest datagram (65535 bytes with its header), whose header is longer
 *     than IPFRAG_MAX_HDR, or that the snapshot length cut (its bytes are
 *     unknown); and the fragments of a datagram past its max_frags-th.
 *   - Memory: at most max_frags fragments and IPFRAG_MAX_PAYLOAD bytes per
 *     datagram, at most `budget` bytes in all; a datagram that would go past
 *     the budget evicts the oldest incomplete ones first.
 *   - Time: a datagram whose first fragment is older than timeout_us
 *     (capture time) is dropped incomplete.
 *   - A datagram dropped incomplete (timed out, evicted, or still waiting at
 *     ipfrag_finish) is reported through the notice callback and its
 *     fragments are counted as lost. */
#ifndef KT_IPFRAG_H
#define KT_IPFRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPFRAG_MAX_PAYLOAD 65535u             /* the fragmentable part of one datagram */
#define IPFRAG_MAX_HDR 512u                   /* IPv6 header + unfragmentable extensions */
#define IPFRAG_DEFAULT_MAX_FRAGS 64u
#define IPFRAG_DEFAULT_BUDGET (8u << 20)      /* bytes over all datagrams */
#define IPFRAG_MIN_BUDGET (256u << 10)        /* so one whole datagram always fits */
#define IPFRAG_DEFAULT_TIMEOUT_US (30ll * 1000000) /* Linux's ipfrag_time */

/* One fragment as pcapin found it. Pointers are into the packet. */
struct ipfrag_piece {
	uint8_t family;       /* 4 or 6 */
	uint8_t proto;        /* IPv4 protocol; IPv6 next header after the fragment header */
	uint8_t src[16], dst[16]; /* IPv4 addresses use the first 4 bytes */
	uint32_t id;          /* IPv4: 16 bits; IPv6: 32 */
	uint32_t offset;      /* bytes into the fragmentable part */
	bool more;            /* more fragments follow */
	const uint8_t *hdr;   /* IPv4 header; IPv6 header + extensions before the fragment header */
	uint32_t hdr_len;
	uint32_t nh_at;       /* IPv6: offset in hdr of the next-header byte naming the fragment header */
	const uint8_t *data;  /* the fragment's payload */
	uint32_t len;         /* payload length the IP header gives */
	uint32_t captured;    /* of which captured */
};

struct ipfrag_config {
	uint32_t max_frags;   /* 0: IPFRAG_DEFAULT_MAX_FRAGS */
	size_t budget;        /* 0: IPFRAG_DEFAULT_BUDGET; at least IPFRAG_MIN_BUDGET */
	int64_t timeout_us;   /* 0: IPFRAG_DEFAULT_TIMEOUT_US */
};

/* X(field, description) */
#define IPFRAG_COUNTERS(X)                                                        \
	X(fragments, "fragments taken in")                                         \
	X(reassembled, "datagrams reassembled")                                    \
	X(duplicates, "fragments overlapping earlier ones with the same bytes")    \
	X(conflicts, "fragments overlapping earlier ones with other bytes")        \
	X(refused, "fragments refused (bad size, cut by the snapshot length, too many)") \
	X(incomplete, "datagrams dropped incomplete")                              \
	X(timed_out, "of which timed out")                                         \
	X(evicted, "of which evicted for the memory budget")                       \
	X(lost, "fragments of the datagrams dropped incomplete")

struct ipfrag_counters {
#define IPFRAG_COUNTER_FIELD(name, desc) uint64_t name;
	IPFRAG_COUNTERS(IPFRAG_COUNTER_FIELD)
#undef IPFRAG_COUNTER_FIELD
};

enum ipfrag_result {
	IPFRAG_HELD,     /* kept: the datagram is not whole yet */
	IPFRAG_DONE,     /* the datagram is whole: see *dgram */
	IPFRAG_REFUSED,  /* counted and dropped */
};

struct ipfrag;

/* notice (may be NULL): a message for the user (conflicts, datagrams
 * dropped incomplete). NULL when out of memory. */
struct ipfrag *ipfrag_new(const struct ipfrag_config *cfg, void (*notice)(void *ctx, const char *msg),
			  void *ctx);
/* Take one fragment captured at ts_us (expiring what timed out first).
 * IPFRAG_DONE: *dgram and *dlen are the whole datagram as raw IP, valid
 * until the next call. */
enum ipfrag_result ipfrag_add(struct ipfrag *f, const struct ipfrag_piece *p, int64_t ts_us,
			      const uint8_t **dgram, size_t *dlen);
/* Drop the datagrams whose first fragment came before now_us - timeout. */
void ipfrag_expire(struct ipfrag *f, int64_t now_us);
/* End of the capture: drop (and report) every datagram still incomplete. */
void ipfrag_finish(struct ipfrag *f);
void ipfrag_get_counters(const struct ipfrag *f, struct ipfrag_counters *out);
/* Bytes held now (for tests of the budget). */
size_t ipfrag_held_bytes(const struct ipfrag *f);
void ipfrag_free(struct ipfrag *f);

#endif
