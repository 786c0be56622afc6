/* pcapin: libpcap input and the link / IP / TCP layers (see pcapin.h).
 * Layouts follow the link-layer header types registry (tcpdump.org
 * linktypes.html), RFC 791 (IPv4), RFC 8200 (IPv6), RFC 4302 (AH) and
 * RFC 9293 (TCP). Every read goes through a cursor. */
#include "config.h"
#include "capture/pcapin.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/cursor.h"

/* Link types by number, so that the code does not depend on which DLT_
 * names this libpcap defines. */
#define LT_NULL 0
#define LT_EN10MB 1
#define LT_RAW 12        /* DLT_RAW on most systems */
#define LT_RAW_OPENBSD 14
#define LT_RAW_LINKTYPE 101
#define LT_LOOP 108
#define LT_LINUX_SLL 113
#define LT_IPV4 228
#define LT_IPV6 229
#define LT_LINUX_SLL2 276

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100

/* The stdio buffer of a capture file. */
#define PCAPIN_FILE_BUF (1u << 20)

static const char *const skip_names[] = {
#define PCAPIN_SKIP_NAME(name, desc) desc,
	PCAPIN_SKIPS(PCAPIN_SKIP_NAME)
#undef PCAPIN_SKIP_NAME
};

const char *pcapin_skip_name(enum pcapin_skip s)
{
	if ((unsigned)s >= PCAPIN_SKIP_COUNT)
		return "?";
	return skip_names[s];
}

bool pcapin_dlt_supported(int dlt)
{
	switch (dlt) {
	case LT_NULL:
	case LT_EN10MB:
	case LT_RAW:
	case LT_RAW_OPENBSD:
	case LT_RAW_LINKTYPE:
	case LT_LOOP:
	case LT_LINUX_SLL:
	case LT_IPV4:
	case LT_IPV6:
	case LT_LINUX_SLL2:
		return true;
	default:
		return false;
	}
}

static bool tcp_layer(struct cursor *c, uint32_t wire_len, struct tcp_segment *seg,
		      enum pcapin_skip *why)
{
	/* wire_len: the TCP header + payload length the IP header gives. */
	uint16_t sport, dport, offflags, win, sum, urg;
	uint32_t seq, ack;
	if (!cursor_read_u16(c, &sport) || !cursor_read_u16(c, &dport) || !cursor_read_u32(c, &seq) ||
	    !cursor_read_u32(c, &ack) || !cursor_read_u16(c, &offflags) || !cursor_read_u16(c, &win) ||
	    !cursor_read_u16(c, &sum) || !cursor_read_u16(c, &urg)) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	uint32_t hlen = (uint32_t)(offflags >> 12) * 4;
	if (hlen < 20 || hlen > wire_len) {
		*why = PCAPIN_SKIP_BAD_HEADER;
		return false;
	}
	if (!cursor_skip(c, hlen - 20)) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	seg->sport = sport;
	seg->dport = dport;
	seg->seq = seq;
	seg->ack = ack;
	seg->flags = (uint8_t)(offflags & 0x3f);
	seg->len = wire_len - hlen;
	size_t have = cursor_left(c);
	seg->captured = have < seg->len ? (uint32_t)have : seg->len;
	const uint8_t *p = NULL;
	if (!cursor_read_bytes(c, seg->captured, &p))
		p = NULL;
	seg->payload = p;
	return true;
}

static bool ipv4_layer(struct cursor *c, struct tcp_segment *seg, enum pcapin_skip *why)
{
	uint8_t vihl, tos, ttl, proto;
	uint16_t total, id, frag, sum;
	const uint8_t *src, *dst;
	if (!cursor_read_u8(c, &vihl) || !cursor_read_u8(c, &tos) || !cursor_read_u16(c, &total) ||
	    !cursor_read_u16(c, &id) || !cursor_read_u16(c, &frag) || !cursor_read_u8(c, &ttl) ||
	    !cursor_read_u8(c, &proto) || !cursor_read_u16(c, &sum) || !cursor_read_bytes(c, 4, &src) ||
	    !cursor_read_bytes(c, 4, &dst)) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	uint32_t ihl = (uint32_t)(vihl & 0x0f) * 4;
	if ((vihl >> 4) != 4 || ihl < 20 || total < ihl) {
		*why = PCAPIN_SKIP_BAD_HEADER;
		return false;
	}
	if (!cursor_skip(c, ihl - 20)) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	if (frag & 0x3fff) { /* MF set or a fragment offset */
		*why = PCAPIN_SKIP_FRAGMENT;
		return false;
	}
	if (proto != 6) {
		*why = PCAPIN_SKIP_NOT_TCP;
		return false;
	}
	/* Link-layer padding after the datagram is not payload. TSO captures
	 * may carry a total length of 0: then the captured bytes are all. */
	uint32_t wire = total ? total - ihl : (uint32_t)cursor_left(c);
	struct cursor dgram;
	if (!cursor_sub(c, cursor_left(c) < wire ? cursor_left(c) : wire, &dgram))
		return false; /* cannot fail: the size is at most what is left */
	seg->family = 4;
	memset(seg->src, 0, sizeof seg->src);
	memset(seg->dst, 0, sizeof seg->dst);
	memcpy(seg->src, src, 4);
	memcpy(seg->dst, dst, 4);
	return tcp_layer(&dgram, wire, seg, why);
}

static bool ipv6_layer(struct cursor *c, struct tcp_segment *seg, enum pcapin_skip *why)
{
	uint32_t vtcfl;
	uint16_t plen;
	uint8_t next, hops;
	const uint8_t *src, *dst;
	if (!cursor_read_u32(c, &vtcfl) || !cursor_read_u16(c, &plen) || !cursor_read_u8(c, &next) ||
	    !cursor_read_u8(c, &hops) || !cursor_read_bytes(c, 16, &src) ||
	    !cursor_read_bytes(c, 16, &dst)) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	if ((vtcfl >> 28) != 6) {
		*why = PCAPIN_SKIP_BAD_HEADER;
		return false;
	}
	/* Payload length 0 is a jumbogram (or TSO): take what was captured. */
	uint32_t wire = plen ? plen : (uint32_t)cursor_left(c);
	struct cursor dg;
	if (!cursor_sub(c, cursor_left(c) < wire ? cursor_left(c) : wire, &dg))
		return false; /* cannot fail: the size is at most what is left */
	c = &dg;
	for (int i = 0; i < 16 && next != 6; i++) {
		uint8_t nh, hl;
		size_t at = cursor_offset(c);
		uint32_t ext;
		switch (next) {
		case 0:  /* hop-by-hop options */
		case 43: /* routing */
		case 60: /* destination options */
			if (!cursor_read_u8(c, &nh) || !cursor_read_u8(c, &hl)) {
				*why = PCAPIN_SKIP_SHORT;
				return false;
			}
			ext = ((uint32_t)hl + 1) * 8;
			break;
		case 51: /* AH: length in 4-byte units, minus 2 */
			if (!cursor_read_u8(c, &nh) || !cursor_read_u8(c, &hl)) {
				*why = PCAPIN_SKIP_SHORT;
				return false;
			}
			ext = ((uint32_t)hl + 2) * 4;
			break;
		case 44: { /* fragment */
			uint8_t res;
			uint16_t off;
			if (!cursor_read_u8(c, &nh) || !cursor_read_u8(c, &res) || !cursor_read_u16(c, &off)) {
				*why = PCAPIN_SKIP_SHORT;
				return false;
			}
			if (off & 0xfff9) { /* an offset or more fragments */
				*why = PCAPIN_SKIP_FRAGMENT;
				return false;
			}
			ext = 8;
			break;
		}
		default:
			*why = PCAPIN_SKIP_NOT_TCP;
			return false;
		}
		size_t used = cursor_offset(c) - at;
		if (ext > wire || !cursor_skip(c, ext - used)) {
			*why = ext > wire ? PCAPIN_SKIP_BAD_HEADER : PCAPIN_SKIP_SHORT;
			return false;
		}
		wire -= ext;
		next = nh;
	}
	if (next != 6) {
		*why = PCAPIN_SKIP_NOT_TCP;
		return false;
	}
	seg->family = 6;
	memcpy(seg->src, src, 16);
	memcpy(seg->dst, dst, 16);
	return tcp_layer(c, wire, seg, why);
}

static bool ip_layer(struct cursor *c, uint16_t ethertype, struct tcp_segment *seg,
		     enum pcapin_skip *why)
{
	if (ethertype == ETH_IPV4)
		return ipv4_layer(c, seg, why);
	if (ethertype == ETH_IPV6)
		return ipv6_layer(c, seg, why);
	*why = PCAPIN_SKIP_NOT_IP;
	return false;
}

/* Raw IP: the version nibble says which. */
static bool raw_ip(struct cursor *c, struct tcp_segment *seg, enum pcapin_skip *why)
{
	if (cursor_left(c) < 1) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	uint8_t v = cursor_ptr(c)[0] >> 4;
	if (v == 4)
		return ipv4_layer(c, seg, why);
	if (v == 6)
		return ipv6_layer(c, seg, why);
	*why = PCAPIN_SKIP_NOT_IP;
	return false;
}

bool pcapin_parse(int dlt, const uint8_t *data, uint32_t caplen, uint32_t len, int64_t ts_us,
		  struct tcp_segment *seg, enum pcapin_skip *why)
{
	struct cursor c;
	cursor_init(&c, data, caplen < len ? caplen : len);
	seg->ts_us = ts_us;
	uint16_t type;
	switch (dlt) {
	case LT_EN10MB:
		/* dst(6) src(6) type(2), then 802.1Q/802.1ad tags: TCI(2) type(2). */
		if (!cursor_skip(&c, 12) || !cursor_read_u16(&c, &type)) {
			*why = PCAPIN_SKIP_SHORT;
			return false;
		}
		for (int tags = 0; tags < 4 && (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD);
		     tags++) {
			if (!cursor_skip(&c, 2) || !cursor_read_u16(&c, &type)) {
				*why = PCAPIN_SKIP_SHORT;
				return false;
			}
		}
		return ip_layer(&c, type, seg, why);
	case LT_LINUX_SLL:
		/* packet type(2) arphrd(2) addr len(2) addr(8) protocol(2) */
		if (!cursor_skip(&c, 14) || !cursor_read_u16(&c, &type)) {
			*why = PCAPIN_SKIP_SHORT;
			return false;
		}
		return ip_layer(&c, type, seg, why);
	case LT_LINUX_SLL2:
		/* protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addr len(1) addr(8) */
		if (!cursor_read_u16(&c, &type) || !cursor_skip(&c, 18)) {
			*why = PCAPIN_SKIP_SHORT;
			return false;
		}
		return ip_layer(&c, type, seg, why);
	case LT_RAW:
	case LT_RAW_OPENBSD:
	case LT_RAW_LINKTYPE:
		return raw_ip(&c, seg, why);
	case LT_IPV4:
		return ipv4_layer(&c, seg, why);
	case LT_IPV6:
		return ipv6_layer(&c, seg, why);
	case LT_NULL:
	case LT_LOOP: {
		/* A 4-byte address family: host order for DLT_NULL (either, since
		 * the capturing host is unknown), network order for DLT_LOOP.
		 * AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD,
		 * OpenBSD), 28 (FreeBSD), 30 (macOS). */
		const uint8_t *fam;
		if (!cursor_read_bytes(&c, 4, &fam)) {
			*why = PCAPIN_SKIP_SHORT;
			return false;
		}
		uint32_t be = (uint32_t)fam[0] << 24 | (uint32_t)fam[1] << 16 | (uint32_t)fam[2] << 8 | fam[3];
		uint32_t le = (uint32_t)fam[3] << 24 | (uint32_t)fam[2] << 16 | (uint32_t)fam[1] << 8 | fam[0];
		uint32_t af = dlt == LT_LOOP ? be : (be < 256 ? be : le);
		if (af == 2)
			return ipv4_layer(&c, seg, why);
		if (af == 10 || af == 24 || af == 28 || af == 30)
			return ipv6_layer(&c, seg, why);
		*why = PCAPIN_SKIP_NOT_IP;
		return false;
	}
	default:
		*why = PCAPIN_SKIP_LINKTYPE;
		return false;
	}
}

/* ---- libpcap ---- */

struct pcapin {
	pcap_t *pc;
	FILE *fp;           /* a file we opened (libpcap closes it) */
	char *iobuf;
	bool live;
	bool truncated;
	int dlt;
	char err[PCAP_ERRBUF_SIZE + 256];
};

static bool set_filter(struct pcapin *p, const char *filter, char *err, size_t errlen)
{
	if (!filter || !*filter)
		return true;
	struct bpf_program prog;
	if (pcap_compile(p->pc, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(err, errlen, "bad filter '%s': %s", filter, pcap_geterr(p->pc));
		return false;
	}
	int rc = pcap_setfilter(p->pc, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		snprintf(err, errlen, "cannot set filter '%s': %s", filter, pcap_geterr(p->pc));
		return false;
	}
	return true;
}

struct pcapin *pcapin_open_file(const char *path, const char *filter, char *err, size_t errlen,
				bool *not_capture)
{
	if (not_capture)
		*not_capture = false;
	struct pcapin *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	bool is_stdin = strcmp(path, "-") == 0;
	p->fp = is_stdin ? stdin : fopen(path, "rb");
	if (!p->fp) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		free(p);
		return NULL;
	}
	/* A large stdio buffer: libpcap reads each record with fread. */
	p->iobuf = malloc(PCAPIN_FILE_BUF);
	if (p->iobuf)
		setvbuf(p->fp, p->iobuf, _IOFBF, PCAPIN_FILE_BUF);
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	p->pc = pcap_fopen_offline_with_tstamp_precision(p->fp, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
	if (!p->pc) {
		/* libpcap reads the magic number first: anything failing here is
		 * "not a capture" unless the file could not be read at all. */
		bool readerr = ferror(p->fp);
		if (not_capture)
			*not_capture = !readerr;
		if (readerr)
			snprintf(err, errlen, "cannot read '%s': %s", path, ebuf);
		else
			snprintf(err, errlen, "'%s' is not a pcap or pcapng capture (%s)", path, ebuf);
		if (!is_stdin)
			fclose(p->fp);
		free(p->iobuf);
		free(p);
		return NULL;
	}
	p->dlt = pcap_datalink(p->pc);
	if (!set_filter(p, filter, err, errlen)) {
		pcapin_close(p);
		return NULL;
	}
	return p;
}

struct pcapin *pcapin_open_live(const char *iface, const char *filter, char *err, size_t errlen)
{
	struct pcapin *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	p->live = true;
	p->pc = pcap_create(iface, ebuf);
	if (!p->pc) {
		snprintf(err, errlen, "cannot capture on '%s': %s", iface, ebuf);
		free(p);
		return NULL;
	}
	/* Whole packets, a large kernel buffer (Kafka traffic comes in
	 * bursts), and a short timeout so that Ctrl-C and flow expiry are
	 * handled promptly. */
	pcap_set_snaplen(p->pc, 262144);
	pcap_set_buffer_size(p->pc, 64 * 1024 * 1024);
	pcap_set_timeout(p->pc, 200);
	pcap_set_promisc(p->pc, 0);
	pcap_set_tstamp_precision(p->pc, PCAP_TSTAMP_PRECISION_MICRO);
	int rc = pcap_activate(p->pc);
	if (rc < 0) {
		const char *why = rc == PCAP_ERROR_PERM_DENIED ? "permission denied (run as root or give the "
								  "binary CAP_NET_RAW)"
								: pcap_geterr(p->pc);
		if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
			why = "no such interface";
		snprintf(err, errlen, "cannot capture on '%s': %s", iface, why);
		pcap_close(p->pc);
		free(p);
		return NULL;
	}
	p->dlt = pcap_datalink(p->pc);
	if (!set_filter(p, filter, err, errlen)) {
		pcapin_close(p);
		return NULL;
	}
	return p;
}

enum pcapin_status pcapin_next(struct pcapin *p, struct pcapin_packet *pkt)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc = pcap_next_ex(p->pc, &h, &data);
	if (rc == 1) {
		pkt->ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
		pkt->caplen = h->caplen;
		pkt->len = h->len;
		pkt->data = data;
		return PCAPIN_PACKET;
	}
	if (rc == 0)
		return PCAPIN_TIMEOUT;
	if (rc == PCAP_ERROR_BREAK)
		return PCAPIN_END;
	snprintf(p->err, sizeof p->err, "%s", pcap_geterr(p->pc));
	/* libpcap says "truncated dump file" (pcap) or "truncated pcapng dump
	 * file" / "block ... truncated" for a file cut short. */
	p->truncated = strstr(p->err, "truncated") != NULL;
	return PCAPIN_ERROR;
}

int pcapin_datalink(const struct pcapin *p)
{
	return p->dlt;
}

const char *pcapin_error(const struct pcapin *p)
{
	return p->err;
}

bool pcapin_truncated(const struct pcapin *p)
{
	return p->truncated;
}

uint64_t pcapin_offset(const struct pcapin *p)
{
	if (p->live)
		return 0;
	FILE *f = pcap_file(p->pc);
	long off = f ? ftell(f) : -1;
	return off > 0 ? (uint64_t)off : 0;
}

bool pcapin_drops(struct pcapin *p, uint64_t *dropped)
{
	struct pcap_stat st;
	if (!p->live || pcap_stats(p->pc, &st) != 0)
		return false;
	*dropped = (uint64_t)st.ps_drop + st.ps_ifdrop;
	return true;
}

void pcapin_break(struct pcapin *p)
{
	pcap_breakloop(p->pc);
}

void pcapin_close(struct pcapin *p)
{
	if (!p)
		return;
	if (p->pc)
		pcap_close(p->pc); /* closes the FILE too */
	free(p->iobuf);
	free(p);
}
