/* pcapin: libpcap input and the link / IP / TCP layers (see pcapin.h).
 * Layouts follow the link-layer header types registry (tcpdump.org
 * linktypes.html), RFC 791 (IPv4), RFC 8200 (IPv6), RFC 4302 (AH) and
 * RFC 9293 (TCP). Every read goes through a cursor. */
#include "config.h"
#include "capture/pcapin.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/pcapng.h"
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

static bool ipv4_layer(struct cursor *c, struct tcp_segment *seg, enum pcapin_skip *why,
		       struct ipfrag_piece *fr)
{
	const uint8_t *ip = cursor_ptr(c);
	uint8_t vihl, tos, ttl, proto;
	uint16_t total, id, fragf, sum;
	const uint8_t *src, *dst;
	if (!cursor_read_u8(c, &vihl) || !cursor_read_u8(c, &tos) || !cursor_read_u16(c, &total) ||
	    !cursor_read_u16(c, &id) || !cursor_read_u16(c, &fragf) || !cursor_read_u8(c, &ttl) ||
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
	if (proto != 6) {
		*why = PCAPIN_SKIP_NOT_TCP;
		return false;
	}
	if (fragf & 0x3fff) { /* MF set or a fragment offset */
		*why = PCAPIN_SKIP_FRAGMENT;
		if (fr) {
			/* Only TCP fragments are described: nothing else is kept. */
			memset(fr, 0, sizeof *fr);
			fr->family = 4;
			fr->proto = proto;
			memcpy(fr->src, src, 4);
			memcpy(fr->dst, dst, 4);
			fr->id = id;
			fr->offset = (uint32_t)(fragf & 0x1fff) * 8;
			fr->more = (fragf & 0x2000) != 0;
			fr->hdr = ip;
			fr->hdr_len = ihl;
			fr->len = total - ihl;
			fr->data = cursor_ptr(c);
			fr->captured = cursor_left(c) < fr->len ? (uint32_t)cursor_left(c) : fr->len;
		}
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

static bool ipv6_layer(struct cursor *c, struct tcp_segment *seg, enum pcapin_skip *why,
		       struct ipfrag_piece *fr)
{
	/* Where the header starts and which byte names the header being read:
	 * a fragment keeps both for its reassembly (ipfrag.h). */
	const uint8_t *ip = cursor_ptr(c), *nhp = ip + 6;
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
		const uint8_t *ext_start = cursor_ptr(c);
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
				uint32_t ident;
				if (!cursor_read_u32(c, &ident)) {
					*why = PCAPIN_SKIP_SHORT;
					return false;
				}
				if (wire < 8) {
					*why = PCAPIN_SKIP_BAD_HEADER;
					return false;
				}
				/* What follows must be able to lead to TCP. */
				if (nh != 6 && nh != 0 && nh != 43 && nh != 60 && nh != 51) {
					*why = PCAPIN_SKIP_NOT_TCP;
					return false;
				}
				*why = PCAPIN_SKIP_FRAGMENT;
				if (fr) {
					memset(fr, 0, sizeof *fr);
					fr->family = 6;
					fr->proto = nh;
					memcpy(fr->src, src, 16);
					memcpy(fr->dst, dst, 16);
					fr->id = ident;
					fr->offset = off & 0xfff8u;
					fr->more = (off & 1) != 0;
					fr->hdr = ip;
					fr->hdr_len = (uint32_t)(ext_start - ip);
					fr->nh_at = (uint32_t)(nhp - ip);
					fr->len = wire - 8;
					fr->data = cursor_ptr(c);
					fr->captured = cursor_left(c) < fr->len ? (uint32_t)cursor_left(c) : fr->len;
				}
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
		nhp = ext_start;
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
		     enum pcapin_skip *why, struct ipfrag_piece *fr)
{
	if (ethertype == ETH_IPV4)
		return ipv4_layer(c, seg, why, fr);
	if (ethertype == ETH_IPV6)
		return ipv6_layer(c, seg, why, fr);
	*why = PCAPIN_SKIP_NOT_IP;
	return false;
}

/* Raw IP: the version nibble says which. */
static bool raw_ip(struct cursor *c, struct tcp_segment *seg, enum pcapin_skip *why,
		   struct ipfrag_piece *fr)
{
	if (cursor_left(c) < 1) {
		*why = PCAPIN_SKIP_SHORT;
		return false;
	}
	uint8_t v = cursor_ptr(c)[0] >> 4;
	if (v == 4)
		return ipv4_layer(c, seg, why, fr);
	if (v == 6)
		return ipv6_layer(c, seg, why, fr);
	*why = PCAPIN_SKIP_NOT_IP;
	return false;
}

bool pcapin_parse(int dlt, const uint8_t *data, uint32_t caplen, uint32_t len, int64_t ts_us,
		  struct tcp_segment *seg, enum pcapin_skip *why)
{
	return pcapin_parse_frag(dlt, data, caplen, len, ts_us, seg, why, NULL);
}

bool pcapin_parse_frag(int dlt, const uint8_t *data, uint32_t caplen, uint32_t len, int64_t ts_us,
		       struct tcp_segment *seg, enum pcapin_skip *why, struct ipfrag_piece *fr)
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
		return ip_layer(&c, type, seg, why, fr);
	case LT_LINUX_SLL:
		/* packet type(2) arphrd(2) addr len(2) addr(8) protocol(2) */
		if (!cursor_skip(&c, 14) || !cursor_read_u16(&c, &type)) {
			*why = PCAPIN_SKIP_SHORT;
			return false;
		}
		return ip_layer(&c, type, seg, why, fr);
	case LT_LINUX_SLL2:
		/* protocol(2) reserved(2) ifindex(4) arphrd(2) pkttype(1) addr len(1) addr(8) */
		if (!cursor_read_u16(&c, &type) || !cursor_skip(&c, 18)) {
			*why = PCAPIN_SKIP_SHORT;
			return false;
		}
		return ip_layer(&c, type, seg, why, fr);
	case LT_RAW:
	case LT_RAW_OPENBSD:
	case LT_RAW_LINKTYPE:
		return raw_ip(&c, seg, why, fr);
	case LT_IPV4:
		return ipv4_layer(&c, seg, why, fr);
	case LT_IPV6:
		return ipv6_layer(&c, seg, why, fr);
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
			return ipv4_layer(&c, seg, why, fr);
		if (af == 10 || af == 24 || af == 28 || af == 30)
			return ipv6_layer(&c, seg, why, fr);
		*why = PCAPIN_SKIP_NOT_IP;
		return false;
	}
	default:
		*why = PCAPIN_SKIP_LINKTYPE;
		return false;
	}
}

/* ---- libpcap ---- */

/* A BPF filter compiled for each link type met (pcapng files). */
#define PCAPIN_MAX_PROGS 16

struct filter_prog {
	int linktype;
	struct bpf_program prog;
};

struct pcapin {
	pcap_t *pc;          /* libpcap: pcap files, live captures */
	struct pcapng *ng;   /* pcapng files (pcapng.h says why) */
	FILE *fp;            /* a file we opened (libpcap closes it; pcapng leaves it to us) */
	bool is_stdin;
	char *iobuf;
	bool live;
	bool truncated;
	volatile sig_atomic_t stop; /* pcapin_break on a pcapng file */
	int dlt;
	char *filter;        /* pcapng: the filter, compiled per link type */
	struct filter_prog progs[PCAPIN_MAX_PROGS];
	unsigned nprogs;
	char err[PCAP_ERRBUF_SIZE + 256];
};

/* pcapng files give LINKTYPE_ values; libpcap's API (pcap_compile,
 * pcap_datalink_val_to_name) and pcap files read through it give DLT_
 * values. They are the same number for every link type pcapin_parse knows
 * but LINKTYPE_RAW, which is DLT_RAW (12 on most systems, 14 on OpenBSD). */
static int dlt_of_linktype(int linktype)
{
	return linktype == LT_RAW_LINKTYPE ? DLT_RAW : linktype;
}

/* The compiled filter for a link type (NULL with p->err set on failure). */
static const struct bpf_program *filter_for(struct pcapin *p, int linktype)
{
	for (unsigned i = 0; i < p->nprogs; i++)
		if (p->progs[i].linktype == linktype)
			return &p->progs[i].prog;
	if (p->nprogs == PCAPIN_MAX_PROGS) {
		snprintf(p->err, sizeof p->err, "more than %u link types to filter", PCAPIN_MAX_PROGS);
		return NULL;
	}
	pcap_t *dead = pcap_open_dead(linktype, 262144);
	if (!dead) {
		snprintf(p->err, sizeof p->err, "out of memory");
		return NULL;
	}
	struct filter_prog *fp = &p->progs[p->nprogs];
	if (pcap_compile(dead, &fp->prog, p->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		snprintf(p->err, sizeof p->err, "bad filter '%s' for link type %d: %s", p->filter, linktype,
			 pcap_geterr(dead));
		pcap_close(dead);
		return NULL;
	}
	pcap_close(dead);
	fp->linktype = linktype;
	p->nprogs++;
	return &fp->prog;
}

/* Put the bytes read to sniff the format back: seek when the input can,
 * else push them back (glibc keeps any number of pushed-back bytes; the
 * ones read are still in the stdio buffer anyway). */
static bool unread(FILE *fp, const uint8_t *b, size_t n)
{
	if (fseek(fp, 0, SEEK_SET) == 0)
		return true;
	for (size_t i = n; i > 0; i--)
		if (ungetc(b[i - 1], fp) == EOF)
			return false;
	return true;
}

static struct pcapin *open_pcapng(struct pcapin *p, const char *path, const char *filter, char *err,
				  size_t errlen, bool *not_capture)
{
	char ebuf[256] = "";
	bool not_ng = false;
	p->ng = pcapng_open(p->fp, ebuf, sizeof ebuf, &not_ng);
	if (!p->ng) {
		if (not_capture)
			*not_capture = not_ng;
		snprintf(err, errlen, "'%s' is not a pcap or pcapng capture (%s)", path, ebuf);
		pcapin_close(p);
		return NULL;
	}
	p->dlt = dlt_of_linktype(pcapng_first_linktype(p->ng));
	if (filter && *filter) {
		p->filter = strdup(filter);
		/* A bad filter is reported now, as for pcap files. */
		if (!p->filter || !filter_for(p, p->dlt)) {
			snprintf(err, errlen, "%s", p->filter ? p->err : "out of memory");
			pcapin_close(p);
			return NULL;
		}
	}
	return p;
}

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
	p->is_stdin = is_stdin;
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
	uint8_t magic[4];
	size_t got = fread(magic, 1, sizeof magic, p->fp);
	if (!unread(p->fp, magic, got)) {
		snprintf(err, errlen, "cannot read '%s': cannot go back to its start", path);
		pcapin_close(p);
		return NULL;
	}
	if (got == 4 && magic[0] == 0x0A && magic[1] == 0x0D && magic[2] == 0x0D && magic[3] == 0x0A)
		return open_pcapng(p, path, filter, err, errlen, not_capture);
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

static enum pcapin_status next_pcapng(struct pcapin *p, struct pcapin_packet *pkt)
{
	for (;;) {
		if (p->stop)
			return PCAPIN_END;
		struct pcapng_packet np;
		enum pcapng_status st = pcapng_next(p->ng, &np);
		if (st == PCAPNG_END)
			return PCAPIN_END;
		if (st == PCAPNG_ERROR) {
			snprintf(p->err, sizeof p->err, "%s", pcapng_error(p->ng));
			p->truncated = pcapng_truncated(p->ng);
			return PCAPIN_ERROR;
		}
		int dlt = dlt_of_linktype(np.linktype);
		if (p->filter) {
			const struct bpf_program *prog = filter_for(p, dlt);
			if (!prog)
				return PCAPIN_ERROR;
			struct pcap_pkthdr h = {.caplen = np.caplen, .len = np.len};
			h.ts.tv_sec = (time_t)(np.ts_us / 1000000);
			h.ts.tv_usec = (suseconds_t)(np.ts_us % 1000000);
			if (!pcap_offline_filter(prog, &h, np.data))
				continue;
		}
		pkt->ts_us = np.ts_us;
		pkt->caplen = np.caplen;
		pkt->len = np.len;
		pkt->data = np.data;
		pkt->own_dlt = true;
		pkt->dlt = dlt;
		return PCAPIN_PACKET;
	}
}

enum pcapin_status pcapin_next(struct pcapin *p, struct pcapin_packet *pkt)
{
	if (p->ng)
		return next_pcapng(p, pkt);
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc = pcap_next_ex(p->pc, &h, &data);
	if (rc == 1) {
		pkt->ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
		pkt->caplen = h->caplen;
		pkt->len = h->len;
		pkt->data = data;
		pkt->own_dlt = true;
		pkt->dlt = p->dlt;
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
	if (p->ng)
		return pcapng_offset(p->ng);
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
	if (p->pc)
		pcap_breakloop(p->pc);
	p->stop = 1;
}

void pcapin_close(struct pcapin *p)
{
	if (!p)
		return;
	if (p->pc)
		pcap_close(p->pc); /* closes the FILE too */
	else if (p->fp && !p->is_stdin)
		fclose(p->fp);
	pcapng_close(p->ng);
	for (unsigned i = 0; i < p->nprogs; i++)
		pcap_freecode(&p->progs[i].prog);
	free(p->filter);
	free(p->iobuf);
	free(p);
}
