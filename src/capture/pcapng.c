/* pcapng: the pcapng block reader (see pcapng.h). Layouts from
 * draft-ietf-opsawg-pcapng sections 4 (block structure) and 4.1-4.4:
 *
 *   block        type(4) total length(4) body ... total length(4)
 *   SHB body     byte-order magic 0x1A2B3C4D(4) major(2) minor(2)
 *                section length(8) options
 *   IDB body     link type(2) reserved(2) snaplen(4) options
 *   EPB body     interface(4) ts high(4) ts low(4) captured(4) original(4)
 *                data, padded to 4, options
 *   SPB body     original length(4) data (interface 0, no timestamp)
 *   PB body      interface(2) drops(2) ts high(4) ts low(4) captured(4)
 *                original(4) data ... (obsolete)
 *   option       code(2) length(2) value, padded to 4; code 0 ends them
 *
 * Numbers are in the byte order of the section's header. Block bodies are
 * taken apart through a bounds-checked reader; nothing is cast to a struct.
 *
 * Where the bytes come from: a regular file is mapped (pcapng.h says what
 * that means for a file that changes while it is read) and block bodies and
 * packet data are pointers into the mapping, so no byte is copied, not even
 * by the kernel; pipes, standard input that is not a file, and files that
 * cannot be mapped are read with fread, one block at a time into a buffer. */
#include "config.h"
#include "capture/pcapng.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BT_IDB 1u
#define BT_PB 2u
#define BT_SPB 3u
#define BT_EPB 6u
#define BO_MAGIC 0x1A2B3C4Du
#define OPT_END 0
#define OPT_TSRESOL 9
#define OPT_TSOFFSET 14

struct iface {
	int linktype;
	uint32_t snaplen;
	uint64_t units;        /* timestamp units per second */
	int64_t offset_s;      /* if_tsoffset */
};

struct pcapng {
	FILE *fp;
	const uint8_t *map;    /* the mapped file, or NULL: read through fp */
	size_t map_len;        /* its size when it was opened */
	int guard;             /* its slot in guards[] */
	bool be;               /* the section is big-endian */
	bool in_section;
	struct iface *ifs;
	uint32_t nifs, capifs;
	int first_linktype;
	uint8_t *buf;          /* the current block's body and trailer */
	size_t bufcap;
	uint64_t off;          /* bytes read */
	uint64_t block_off;    /* where the current block started */
	bool truncated;
	char err[256];
};

/* ---- a bounds-checked reader over one block body ---- */

struct rd {
	const uint8_t *p;
	size_t n, pos;         /* pos <= n always */
	bool be;
};

static bool __attribute__((warn_unused_result)) rd_bytes(struct rd *r, size_t k, const uint8_t **out)
{
	if (k > r->n - r->pos)
		return false;
	*out = r->p + r->pos;
	r->pos += k;
	return true;
}

static bool __attribute__((warn_unused_result)) rd_skip(struct rd *r, size_t k)
{
	const uint8_t *p;
	return rd_bytes(r, k, &p);
}

static uint32_t get32(const uint8_t *p, bool be)
{
	if (be)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static bool __attribute__((warn_unused_result)) rd_u16(struct rd *r, uint16_t *v)
{
	const uint8_t *p;
	if (!rd_bytes(r, 2, &p))
		return false;
	*v = r->be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
	return true;
}

static bool __attribute__((warn_unused_result)) rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;
	if (!rd_bytes(r, 4, &p))
		return false;
	*v = get32(p, r->be);
	return true;
}

static bool __attribute__((warn_unused_result)) rd_u64(struct rd *r, uint64_t *v)
{
	uint32_t a, b;
	if (!rd_u32(r, &a) || !rd_u32(r, &b))
		return false;
	/* Two 32-bit halves in section order: the high one first when big-endian. */
	*v = r->be ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
	return true;
}

/* ---- errors ---- */

static enum pcapng_status fail(struct pcapng *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum pcapng_status fail(struct pcapng *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof r->err, fmt, ap);
	va_end(ap);
	return PCAPNG_ERROR;
}

/* The next n bytes of the file in *out: a pointer into the mapping, or,
 * reading through stdio, dst (which must hold n bytes) filled. PCAPNG_END
 * only for a clean end of file before the first byte when eof_ok. The
 * truncation message is libpcap's, so that a cut file reads the same
 * whichever reader met it; `already` counts bytes of the same read taken
 * before, for that message. */
static enum pcapng_status take(struct pcapng *r, size_t n, size_t already, bool eof_ok, uint8_t *dst,
			       const uint8_t **out)
{
	size_t got;
	if (r->map) {
		size_t avail = r->map_len - (size_t)r->off; /* off never passes map_len */
		if (n <= avail) {
			*out = r->map + r->off;
			r->off += n;
			return PCAPNG_PACKET;
		}
		got = avail;
	} else {
		got = fread(dst, 1, n, r->fp);
		*out = dst;
		if (got == n) {
			r->off += got;
			return PCAPNG_PACKET;
		}
		if (ferror(r->fp))
			return fail(r, "error reading dump file: %s", strerror(errno));
	}
	r->off += got;
	if (got == 0 && already == 0 && eof_ok)
		return PCAPNG_END;
	r->truncated = true;
	return fail(r, "truncated pcapng dump file; tried to read %zu bytes, only got %zu", n + already,
		    got + already);
}

/* ---- mapping a file ----
 *
 * A mapped file that shrinks under us (truncated by the program writing it)
 * would kill the process with SIGBUS at the first touch of a page past its
 * new end. While a mapping is open, a SIGBUS handler puts zero pages over
 * the rest of that mapping and marks it; the reader then fails at its next
 * block with "the file shrank while it was being read" and the packet in
 * hand decodes as whatever the zeros make of it (every layer above
 * bounds-checks). A SIGBUS elsewhere goes to the handler that was there
 * before (ASan's, or the default), which is put back when the last mapping
 * closes. The table is fixed so that the handler reads it without locks;
 * readers are opened and closed from one thread at a time (decode does). */

#define PCAPNG_GUARDS 8

static struct {
	volatile uintptr_t start, len;  /* len 0: a free slot */
	volatile sig_atomic_t hit;
} guards[PCAPNG_GUARDS];
static struct sigaction old_bus;
static int guards_open;
static uintptr_t page_size;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	for (int i = 0; i < PCAPNG_GUARDS; i++) {
		uintptr_t start = guards[i].start, len = guards[i].len;
		if (len == 0 || a - start >= len)
			continue;
		uintptr_t page = a & ~(page_size - 1);
		if (page < start)
			page = start;
		if (mmap((void *)page, start + len - page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == MAP_FAILED)
			break;
		guards[i].hit = 1;
		return; /* the faulting read runs again and sees zeros */
	}
	/* Not ours. */
	if ((old_bus.sa_flags & SA_SIGINFO) && old_bus.sa_sigaction) {
		old_bus.sa_sigaction(sig, si, uc);
		return;
	}
	if (old_bus.sa_handler != SIG_DFL && old_bus.sa_handler != SIG_IGN && old_bus.sa_handler) {
		old_bus.sa_handler(sig);
		return;
	}
	/* Returning re-runs the faulting access, which now kills as it would have. */
	signal(SIGBUS, SIG_DFL);
}

static int guard_add(const void *start, size_t len)
{
	int slot = -1;
	for (int i = 0; i < PCAPNG_GUARDS && slot < 0; i++)
		if (guards[i].len == 0)
			slot = i;
	if (slot < 0)
		return -1;
	if (guards_open == 0) {
		long ps = sysconf(_SC_PAGESIZE);
		page_size = ps > 0 ? (uintptr_t)ps : 4096;
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &old_bus) != 0)
			return -1;
	}
	guards_open++;
	guards[slot].hit = 0;
	guards[slot].start = (uintptr_t)start;
	guards[slot].len = len;
	return slot;
}

static void guard_remove(int slot)
{
	guards[slot].len = 0;
	guards[slot].start = 0;
	if (--guards_open == 0)
		sigaction(SIGBUS, &old_bus, NULL);
}

/* Did the mapped file shrink under us (see above)? */
static bool shrank(struct pcapng *r)
{
	if (!r->map || !guards[r->guard].hit)
		return false;
	r->truncated = true;
	fail(r, "the file shrank while it was being read (block at offset %llu)",
	     (unsigned long long)r->block_off);
	return true;
}

/* Map fp's file when it is a regular file read from its start; on any
 * failure the reader stays on fread. */
static void map_file(struct pcapng *r)
{
	int fd = fileno(r->fp);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX || ftell(r->fp) != 0)
		return;
	size_t len = (size_t)st.st_size;
	void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return;
	int slot = guard_add(m, len);
	if (slot < 0) {
		munmap(m, len);
		return;
	}
	/* Read-ahead in large steps when the file is not cached yet. (Filling
	 * the page tables ahead with MADV_POPULATE_READ was measured: slower
	 * than the kernel's fault-around, which maps 16 pages per fault.) */
	(void)madvise(m, len, MADV_SEQUENTIAL);
	r->map = m;
	r->map_len = len;
	r->guard = slot;
}

/* ---- blocks ---- */

static enum pcapng_status section_header(struct pcapng *r, struct rd *b)
{
	uint16_t major, minor;
	if (!rd_skip(b, 4) || !rd_u16(b, &major) || !rd_u16(b, &minor) || !rd_skip(b, 8))
		return fail(r, "section header block at offset %llu is too short",
			    (unsigned long long)r->block_off);
	if (major != 1)
		return fail(r, "section header block at offset %llu: pcapng version %u.%u is not supported",
			    (unsigned long long)r->block_off, major, minor);
	/* A new section: its interfaces are numbered from 0 again. */
	r->nifs = 0;
	r->in_section = true;
	return PCAPNG_END;
}

static enum pcapng_status interface(struct pcapng *r, struct rd *b)
{
	uint16_t lt, reserved, code, olen;
	uint32_t snaplen;
	if (!rd_u16(b, &lt) || !rd_u16(b, &reserved) || !rd_u32(b, &snaplen))
		return fail(r, "interface description block at offset %llu is too short",
			    (unsigned long long)r->block_off);
	struct iface ifc = {.linktype = lt, .snaplen = snaplen, .units = 1000000, .offset_s = 0};
	while (b->n - b->pos >= 4) {
		const uint8_t *v;
		if (!rd_u16(b, &code) || !rd_u16(b, &olen))
			break; /* cannot fail: 4 bytes are left */
		if (code == OPT_END)
			break;
		size_t padded = ((size_t)olen + 3) & ~(size_t)3;
		if (!rd_bytes(b, padded, &v))
			return fail(r, "interface description block at offset %llu: option %u of %u bytes runs "
				    "past the block", (unsigned long long)r->block_off, code, olen);
		if (code == OPT_TSRESOL && olen >= 1) {
			unsigned e = v[0] & 0x7f;
			if (v[0] & 0x80) {
				if (e > 63)
					return fail(r, "interface description block at offset %llu: if_tsresol "
						    "2^-%u is not supported", (unsigned long long)r->block_off, e);
				ifc.units = (uint64_t)1 << e;
			} else {
				if (e > 18)
					return fail(r, "interface description block at offset %llu: if_tsresol "
						    "10^-%u is not supported", (unsigned long long)r->block_off, e);
				ifc.units = 1;
				for (unsigned i = 0; i < e; i++)
					ifc.units *= 10;
			}
		} else if (code == OPT_TSOFFSET && olen == 8) {
			struct rd o = {.p = v, .n = 8, .pos = 0, .be = b->be};
			uint64_t s;
			if (rd_u64(&o, &s))
				ifc.offset_s = (int64_t)s;
		}
	}
	if (r->nifs >= PCAPNG_MAX_IFACES)
		return fail(r, "more than %u interfaces in one section", PCAPNG_MAX_IFACES);
	if (r->nifs == r->capifs) {
		uint32_t ncap = r->capifs ? r->capifs * 2 : 8;
		struct iface *n = realloc(r->ifs, ncap * sizeof *n);
		if (!n)
			return fail(r, "out of memory");
		r->ifs = n;
		r->capifs = ncap;
	}
	r->ifs[r->nifs++] = ifc;
	if (r->first_linktype < 0)
		r->first_linktype = lt;
	return PCAPNG_END;
}

/* Timestamp units since 1970 (plus the interface's offset) in microseconds,
 * truncated like libpcap does. Seconds are kept within +-2^40 (some 35,000
 * years), so that the differences the layers above take between two
 * timestamps cannot overflow. */
static int64_t to_us(const struct iface *ifc, uint64_t t)
{
	uint64_t sec = t / ifc->units, frac = t % ifc->units;
#ifdef __SIZEOF_INT128__
	uint64_t us = (uint64_t)((unsigned __int128)frac * 1000000u / ifc->units);
#else
	uint64_t us = (uint64_t)((long double)frac * 1000000.0L / (long double)ifc->units);
#endif
	const int64_t max_s = (int64_t)1 << 40;
	int64_t s = sec > (uint64_t)max_s ? max_s : (int64_t)sec;
	if (ifc->offset_s > 0 && s > max_s - ifc->offset_s)
		s = max_s;
	else if (ifc->offset_s < 0 && s < -max_s - ifc->offset_s)
		s = -max_s;
	else
		s += ifc->offset_s;
	return s * 1000000 + (int64_t)us;
}

static enum pcapng_status packet(struct pcapng *r, uint32_t type, struct rd *b, struct pcapng_packet *pkt)
{
	uint32_t ifidx = 0, hi = 0, lo = 0, caplen, len;
	uint16_t if16, drops;
	const uint8_t *data;
	bool ok;
	if (type == BT_EPB) {
		ok = rd_u32(b, &ifidx) && rd_u32(b, &hi) && rd_u32(b, &lo) && rd_u32(b, &caplen) &&
		     rd_u32(b, &len);
	} else if (type == BT_PB) {
		ok = rd_u16(b, &if16) && rd_u16(b, &drops) && rd_u32(b, &hi) && rd_u32(b, &lo) &&
		     rd_u32(b, &caplen) && rd_u32(b, &len);
		ifidx = ok ? if16 : 0;
	} else { /* SPB: the captured length is what the block holds, up to the snapshot length */
		ok = rd_u32(b, &len);
		caplen = (uint32_t)(b->n - b->pos);
		if (caplen > len)
			caplen = len;
	}
	if (!ok)
		return fail(r, "packet block at offset %llu is too short", (unsigned long long)r->block_off);
	if (ifidx >= r->nifs)
		return fail(r, "packet block at offset %llu is for interface %lu, but its section describes %lu",
			    (unsigned long long)r->block_off, (unsigned long)ifidx, (unsigned long)r->nifs);
	const struct iface *ifc = &r->ifs[ifidx];
	if (type == BT_SPB && ifc->snaplen && caplen > ifc->snaplen)
		caplen = ifc->snaplen;
	if (!rd_bytes(b, caplen, &data))
		return fail(r, "packet block at offset %llu: %lu captured bytes run past the block",
			    (unsigned long long)r->block_off, (unsigned long)caplen);
	pkt->ts_us = type == BT_SPB ? 0 : to_us(ifc, (uint64_t)hi << 32 | lo);
	pkt->caplen = caplen;
	pkt->len = len;
	pkt->data = data;
	pkt->linktype = ifc->linktype;
	pkt->iface = ifidx;
	return PCAPNG_PACKET;
}

/* One block. PCAPNG_PACKET with *pkt filled, PCAPNG_END at the end of the
 * file, PCAPNG_ERROR; other blocks come back as PCAPNG_PACKET with
 * pkt->data NULL. */
static enum pcapng_status next_block(struct pcapng *r, struct pcapng_packet *pkt)
{
	uint8_t hdrbuf[12];
	const uint8_t *hdr, *magic, *body;
	r->block_off = r->off;
	pkt->data = NULL;
	if (shrank(r))
		return PCAPNG_ERROR;
	enum pcapng_status st = take(r, 8, 0, true, hdrbuf, &hdr);
	if (st != PCAPNG_PACKET)
		return st;
	uint32_t type = get32(hdr, r->be);
	bool shb = get32(hdr, false) == PCAPNG_SHB_TYPE; /* the same in both orders */
	size_t have = 0;
	if (shb) {
		/* The byte-order magic says how to read the length before it. */
		if ((st = take(r, 4, 0, false, hdrbuf + 8, &magic)) != PCAPNG_PACKET)
			return st;
		if (get32(magic, false) == BO_MAGIC)
			r->be = false;
		else if (get32(magic, true) == BO_MAGIC)
			r->be = true;
		else
			return fail(r, "section header block at offset %llu has no byte-order magic",
				    (unsigned long long)r->block_off);
		type = PCAPNG_SHB_TYPE;
		have = 4;
	} else if (!r->in_section) {
		return fail(r, "block at offset %llu comes before any section header",
			    (unsigned long long)r->block_off);
	}
	uint32_t total = get32(hdr + 4, r->be);
	if (total < 12 + have || total % 4 || total > PCAPNG_MAX_BLOCK)
		return fail(r, "block at offset %llu has a length of %lu (at least %u, a multiple of 4, at most %u)",
			    (unsigned long long)r->block_off, (unsigned long)total, (unsigned)(12 + have),
			    PCAPNG_MAX_BLOCK);
	size_t rest = total - 8; /* body and trailer */
	if (r->map) {
		/* The magic already taken is the body's start, just before the rest. */
		if ((st = take(r, rest - have, have, false, NULL, &body)) != PCAPNG_PACKET)
			return st;
		body -= have;
	} else {
		if (rest > r->bufcap) {
			uint8_t *nb = realloc(r->buf, rest);
			if (!nb)
				return fail(r, "out of memory for a block of %lu bytes", (unsigned long)total);
			r->buf = nb;
			r->bufcap = rest;
		}
		memcpy(r->buf, hdrbuf + 8, have);
		if ((st = take(r, rest - have, have, false, r->buf + have, &body)) != PCAPNG_PACKET)
			return st;
		body = r->buf;
	}
	uint32_t trailer = get32(body + rest - 4, r->be);
	if (shrank(r))
		return PCAPNG_ERROR;
	if (trailer != total)
		return fail(r, "block at offset %llu: its trailing length differs from its leading one",
			    (unsigned long long)r->block_off);
	struct rd b = {.p = body, .n = rest - 4, .pos = 0, .be = r->be};
	switch (type) {
	case PCAPNG_SHB_TYPE:
		st = section_header(r, &b);
		break;
	case BT_IDB:
		st = interface(r, &b);
		break;
	case BT_EPB:
	case BT_SPB:
	case BT_PB:
		return packet(r, type, &b, pkt);
	default:
		st = PCAPNG_END; /* skipped */
	}
	return st == PCAPNG_ERROR ? st : PCAPNG_PACKET;
}

struct pcapng *pcapng_open(FILE *fp, char *err, size_t errlen, bool *not_pcapng)
{
	if (not_pcapng)
		*not_pcapng = false;
	struct pcapng *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->fp = fp;
	r->first_linktype = -1;
	map_file(r);
	/* The file starts with a section header, and its first interface
	 * comes before its first packet. */
	for (;;) {
		struct pcapng_packet pkt;
		enum pcapng_status st = next_block(r, &pkt);
		if (st == PCAPNG_ERROR && r->block_off == 0) {
			if (not_pcapng)
				*not_pcapng = !r->truncated && !ferror(fp);
			break;
		}
		if (st == PCAPNG_ERROR)
			break;
		if (st == PCAPNG_END) {
			fail(r, "no interface description block");
			break;
		}
		if (pkt.data) {
			fail(r, "a packet block comes before any interface description");
			break;
		}
		if (r->first_linktype >= 0)
			return r;
	}
	snprintf(err, errlen, "%s", r->err);
	pcapng_close(r);
	return NULL;
}

enum pcapng_status pcapng_next(struct pcapng *r, struct pcapng_packet *pkt)
{
	for (;;) {
		enum pcapng_status st = next_block(r, pkt);
		if (st != PCAPNG_PACKET || pkt->data)
			return st;
	}
}

int pcapng_first_linktype(const struct pcapng *r)
{
	return r->first_linktype;
}

const char *pcapng_error(const struct pcapng *r)
{
	return r->err;
}

bool pcapng_truncated(const struct pcapng *r)
{
	return r->truncated;
}

uint64_t pcapng_offset(const struct pcapng *r)
{
	return r->off;
}

void pcapng_close(struct pcapng *r)
{
	if (!r)
		return;
	if (r->map) {
		guard_remove(r->guard);
		munmap((void *)r->map, r->map_len);
	}
	free(r->ifs);
	free(r->buf);
	free(r);
}
