/* pcapin: packets in, TCP segments out. Reads pcap and pcapng files (and
 * live interfaces) through libpcap, then takes each packet apart down to TCP:
 *
 *   link layer  Ethernet (with 802.1Q / 802.1ad QinQ tags), Linux cooked
 *               capture v1 (SLL) and v2 (SLL2), raw IP (DLT_RAW,
 *               LINKTYPE_IPV4, LINKTYPE_IPV6), BSD loopback (DLT_NULL in the
 *               capturing host's byte order, DLT_LOOP in network order)
 *   network     IPv4 (options skipped) and IPv6 (hop-by-hop, routing,
 *               destination options and AH extension headers skipped). A
 *               fragment of a TCP datagram is described (ipfrag_piece) for
 *               ipfrag to reassemble; capture.c parses the whole datagram
 *               again as raw IP.
 *   transport   TCP (options skipped)
 *
 * pcap files and live captures are read through libpcap; pcapng files
 * through pcapng.c, which gives each packet its own interface's link type
 * (libpcap refuses files whose interfaces differ; see pcapin.c).
 *
 * Lengths come from the headers and are checked against the bytes captured:
 * a packet cut by the snapshot length gives a segment whose `captured` is
 * less than its `len` (the reassembler reports the rest as missing). A
 * record whose captured length exceeds its wire length uses the smaller.
 * Checksums are not verified (offloading makes them wrong in most captures). */
#ifndef KT_PCAPIN_H
#define KT_PCAPIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "capture/ipfrag.h"
#include "capture/tcpreasm.h"

/* Why a packet gave no TCP segment: X(name, description). */
#define PCAPIN_SKIPS(X)                                         \
	X(NOT_IP, "not IPv4 or IPv6")                           \
	X(NOT_TCP, "not TCP")                                   \
	X(FRAGMENT, "IP fragments not reassembled")             \
	X(SHORT, "cut before the end of the TCP header")       \
	X(BAD_HEADER, "invalid IP or TCP header")               \
	X(LINKTYPE, "link type not supported")

enum pcapin_skip {
#define PCAPIN_SKIP_ENUM(name, desc) PCAPIN_SKIP_##name,
	PCAPIN_SKIPS(PCAPIN_SKIP_ENUM)
#undef PCAPIN_SKIP_ENUM
	PCAPIN_SKIP_COUNT
};
const char *pcapin_skip_name(enum pcapin_skip s);

/* Take one packet apart. dlt: the libpcap link type. True with *seg filled
 * (payload pointing into data), or false with *why set. */
bool pcapin_parse(int dlt, const uint8_t *data, uint32_t caplen, uint32_t len, int64_t ts_us,
		  struct tcp_segment *seg, enum pcapin_skip *why);
/* The same; when it fails with PCAPIN_SKIP_FRAGMENT and frag is not NULL,
 * *frag describes the fragment (pointers into data). Only fragments of TCP
 * datagrams are described: others are PCAPIN_SKIP_NOT_TCP. */
bool pcapin_parse_frag(int dlt, const uint8_t *data, uint32_t caplen, uint32_t len, int64_t ts_us,
		       struct tcp_segment *seg, enum pcapin_skip *why, struct ipfrag_piece *frag);
/* Is this link type one pcapin_parse understands? */
bool pcapin_dlt_supported(int dlt);

/* A source of packets: a file (pcap or pcapng) or a live interface. */
struct pcapin;

/* Open a capture file ("-": standard input) with an optional BPF filter.
 * NULL on failure, with a message naming the file in err. `not_capture`
 * (may be NULL) is set when the file exists but is not a capture. */
struct pcapin *pcapin_open_file(const char *path, const char *filter, char *err, size_t errlen,
				bool *not_capture);
/* Open a live interface (needs the privileges libpcap needs). */
struct pcapin *pcapin_open_live(const char *iface, const char *filter, char *err, size_t errlen);

struct pcapin_packet {
	int64_t ts_us;
	uint32_t caplen, len;
	const uint8_t *data;
	/* pcapin_next sets own_dlt and dlt: the link type of the packet's own
	 * interface, which in a pcapng file may differ from pcapin_datalink().
	 * capture_packet takes it over its dlt argument when own_dlt is set,
	 * so that callers building packets by hand need not set it. */
	bool own_dlt;
	int dlt;
};

enum pcapin_status {
	PCAPIN_PACKET = 1,
	PCAPIN_END = 0,       /* end of file, or pcapin_break */
	PCAPIN_TIMEOUT = 2,   /* live: nothing within the read timeout */
	PCAPIN_ERROR = -1,    /* see pcapin_error(); pcapin_truncated() tells whether the file ends early */
};
/* The next packet; valid until the next call. */
enum pcapin_status pcapin_next(struct pcapin *p, struct pcapin_packet *pkt);
/* The link type of the file (pcapng: of its first interface). */
int pcapin_datalink(const struct pcapin *p);
const char *pcapin_error(const struct pcapin *p);
/* After PCAPIN_ERROR: the file was cut short (its last record is incomplete). */
bool pcapin_truncated(const struct pcapin *p);
/* Bytes of the file read so far (0 for live captures). */
uint64_t pcapin_offset(const struct pcapin *p);
/* Live: packets the kernel dropped; false when unknown. */
bool pcapin_drops(struct pcapin *p, uint64_t *dropped);
/* Make a blocking pcapin_next return PCAPIN_END (safe from a signal handler). */
void pcapin_break(struct pcapin *p);
void pcapin_close(struct pcapin *p);

#endif
