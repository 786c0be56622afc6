/* ipfrag: IP fragment reassembly (see ipfrag.h for the policy and limits).
 * Follows RFC 791 section 3.2 (IPv4) and RFC 8200 section 4.5 (IPv6).
 *
 * Coverage is kept as a bitmap of 8-byte blocks: fragment offsets are in
 * 8-byte units, and every fragment but the last is a multiple of 8 bytes
 * long, so a block is either covered whole or is the datagram's last one.
 * Datagrams are found through a small hash table and kept in an age list
 * (oldest first) for time-outs and eviction. */
#include "config.h"
#include "capture/ipfrag.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLOCKS ((IPFRAG_MAX_PAYLOAD + 7) / 8)
#define NBUCKETS 256
#define GROW_STEP 2048u

struct dgram {
	struct dgram *hnext;         /* hash chain */
	struct dgram *older, *newer; /* age list */
	uint8_t family, proto;
	uint8_t src[16], dst[16];
	uint32_t id;
	int64_t first_ts;
	uint32_t nfrags;             /* fragments taken (duplicates included) */
	uint32_t end;                /* highest fragment end seen */
	uint32_t total;              /* the datagram's length, once its last fragment came */
	bool have_total;
	bool have_hdr;
	uint32_t covered;            /* blocks covered */
	uint8_t *data;
	uint32_t cap;
	uint32_t hdr_len, nh_at;
	uint8_t hdr[IPFRAG_MAX_HDR];
	uint8_t got[NBLOCKS / 8];
};

struct ipfrag {
	struct ipfrag_config cfg;
	void (*notice)(void *ctx, const char *msg);
	void *ctx;
	struct dgram *bucket[NBUCKETS];
	struct dgram *oldest, *newest;
	size_t held;
	struct ipfrag_counters c;
	uint8_t *out;                /* the datagram handed back by ipfrag_add */
};

struct ipfrag *ipfrag_new(const struct ipfrag_config *cfg, void (*notice)(void *ctx, const char *msg),
			  void *ctx)
{
	struct ipfrag *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	if (cfg)
		f->cfg = *cfg;
	if (!f->cfg.max_frags)
		f->cfg.max_frags = IPFRAG_DEFAULT_MAX_FRAGS;
	if (!f->cfg.budget)
		f->cfg.budget = IPFRAG_DEFAULT_BUDGET;
	if (f->cfg.budget < IPFRAG_MIN_BUDGET)
		f->cfg.budget = IPFRAG_MIN_BUDGET;
	if (f->cfg.timeout_us <= 0)
		f->cfg.timeout_us = IPFRAG_DEFAULT_TIMEOUT_US;
	f->notice = notice;
	f->ctx = ctx;
	return f;
}

static unsigned hash_key(uint8_t family, uint8_t proto, const uint8_t *src, const uint8_t *dst,
			 uint32_t id)
{
	uint32_t h = 2166136261u;
	uint8_t k[3 + 32 + 4];
	k[0] = family;
	k[1] = proto;
	k[2] = 0;
	memcpy(k + 3, src, 16);
	memcpy(k + 19, dst, 16);
	k[35] = (uint8_t)(id >> 24);
	k[36] = (uint8_t)(id >> 16);
	k[37] = (uint8_t)(id >> 8);
	k[38] = (uint8_t)id;
	for (size_t i = 0; i < sizeof k; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % NBUCKETS;
}

static bool same_key(const struct dgram *d, const struct ipfrag_piece *p)
{
	return d->family == p->family && d->proto == p->proto && d->id == p->id &&
	       memcmp(d->src, p->src, 16) == 0 && memcmp(d->dst, p->dst, 16) == 0;
}

static void format_dgram(char *out, size_t n, const struct dgram *d)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int af = d->family == 6 ? AF_INET6 : AF_INET;
	if (!inet_ntop(af, d->src, a, sizeof a))
		snprintf(a, sizeof a, "?");
	if (!inet_ntop(af, d->dst, b, sizeof b))
		snprintf(b, sizeof b, "?");
	snprintf(out, n, "IPv%u datagram %s > %s id %lu", d->family, a, b, (unsigned long)d->id);
}

static void say(struct ipfrag *f, const char *msg)
{
	if (f->notice)
		f->notice(f->ctx, msg);
}

/* Unlink and free; the counters are the caller's business. */
static void remove_dgram(struct ipfrag *f, struct dgram *d)
{
	unsigned h = hash_key(d->family, d->proto, d->src, d->dst, d->id);
	for (struct dgram **pp = &f->bucket[h]; *pp; pp = &(*pp)->hnext) {
		if (*pp == d) {
			*pp = d->hnext;
			break;
		}
	}
	if (d->older)
		d->older->newer = d->newer;
	else
		f->oldest = d->newer;
	if (d->newer)
		d->newer->older = d->older;
	else
		f->newest = d->older;
	f->held -= sizeof *d + d->cap;
	free(d->data);
	free(d);
}

enum drop_why { DROP_TIMEOUT, DROP_EVICT, DROP_END, DROP_TOO_BIG };

static void drop_incomplete(struct ipfrag *f, struct dgram *d, enum drop_why why)
{
	f->c.incomplete++;
	f->c.lost += d->nfrags;
	if (why == DROP_TIMEOUT)
		f->c.timed_out++;
	else if (why == DROP_EVICT)
		f->c.evicted++;
	char name[128], msg[320], total[16];
	format_dgram(name, sizeof name, d);
	if (d->have_total)
		snprintf(total, sizeof total, "%lu", (unsigned long)d->total);
	else
		snprintf(total, sizeof total, "?");
	uint32_t have = d->covered * 8;
	if (d->have_total && have > d->total)
		have = d->total;
	snprintf(msg, sizeof msg, "%s: incomplete (%lu of %s bytes in %lu fragment%s%s), dropped %s", name,
		 (unsigned long)have, total, (unsigned long)d->nfrags, d->nfrags == 1 ? "" : "s",
		 d->have_hdr ? "" : ", no first fragment",
		 why == DROP_TIMEOUT ? "after the reassembly time-out"
		 : why == DROP_EVICT ? "to stay within the reassembly memory budget"
		 : why == DROP_TOO_BIG ? "since it would be longer than 65535 bytes"
				     : "at the end of the capture");
	say(f, msg);
	remove_dgram(f, d);
}

void ipfrag_expire(struct ipfrag *f, int64_t now_us)
{
	/* The age list is in arrival order: stop at the first one not due
	 * (capture times that go backwards only delay an expiry). */
	if (now_us < INT64_MIN + f->cfg.timeout_us)
		return;
	int64_t limit = now_us - f->cfg.timeout_us;
	while (f->oldest && f->oldest->first_ts < limit)
		drop_incomplete(f, f->oldest, DROP_TIMEOUT);
}

/* Evict the oldest datagrams other than `keep` until `more` bytes fit. */
static bool make_room(struct ipfrag *f, size_t more, const struct dgram *keep)
{
	while (f->held + more > f->cfg.budget) {
		struct dgram *victim = f->oldest;
		if (victim == keep)
			victim = victim->newer;
		if (!victim)
			return false;
		drop_incomplete(f, victim, DROP_EVICT);
	}
	return true;
}

static struct dgram *find_or_create(struct ipfrag *f, const struct ipfrag_piece *p, int64_t ts)
{
	unsigned h = hash_key(p->family, p->proto, p->src, p->dst, p->id);
	for (struct dgram *d = f->bucket[h]; d; d = d->hnext)
		if (same_key(d, p))
			return d;
	if (!make_room(f, sizeof(struct dgram), NULL))
		return NULL;
	struct dgram *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->family = p->family;
	d->proto = p->proto;
	memcpy(d->src, p->src, 16);
	memcpy(d->dst, p->dst, 16);
	d->id = p->id;
	d->first_ts = ts;
	d->hnext = f->bucket[h];
	f->bucket[h] = d;
	d->older = f->newest;
	if (f->newest)
		f->newest->newer = d;
	else
		f->oldest = d;
	f->newest = d;
	f->held += sizeof *d;
	return d;
}

static bool grow(struct ipfrag *f, struct dgram *d, uint32_t need)
{
	if (need <= d->cap)
		return true;
	uint32_t ncap = (need + GROW_STEP - 1) / GROW_STEP * GROW_STEP;
	if (ncap > IPFRAG_MAX_PAYLOAD)
		ncap = IPFRAG_MAX_PAYLOAD;
	if (!make_room(f, ncap - d->cap, d))
		return false;
	uint8_t *nd = realloc(d->data, ncap);
	if (!nd)
		return false;
	f->held += ncap - d->cap;
	d->data = nd;
	d->cap = ncap;
	return true;
}

static bool got(const struct dgram *d, uint32_t b)
{
	return d->got[b / 8] & (1u << (b % 8));
}

static void conflict(struct ipfrag *f, const struct dgram *d, const struct ipfrag_piece *p,
		     const char *what)
{
	f->c.conflicts++;
	char name[128], msg[320];
	format_dgram(name, sizeof name, d);
	snprintf(msg, sizeof msg, "%s: fragment at offset %lu (%lu bytes) %s", name,
		 (unsigned long)p->offset, (unsigned long)p->len, what);
	say(f, msg);
}

static uint16_t ip_checksum(const uint8_t *h, uint32_t n)
{
	uint32_t s = 0;
	for (uint32_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)h[i] << 8 | h[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The whole datagram into f->out. */
static bool assemble(struct ipfrag *f, const struct dgram *d, size_t *dlen)
{
	if (!f->out) {
		f->out = malloc(IPFRAG_MAX_HDR + IPFRAG_MAX_PAYLOAD);
		if (!f->out)
			return false;
	}
	uint8_t *o = f->out;
	memcpy(o, d->hdr, d->hdr_len);
	memcpy(o + d->hdr_len, d->data, d->total);
	if (d->family == 4) {
		uint32_t n = d->hdr_len + d->total; /* at most 65535: checked in ipfrag_add */
		o[2] = (uint8_t)(n >> 8);
		o[3] = (uint8_t)n;
		o[6] &= 0x40; /* keep DF; clear MF and the offset */
		o[7] = 0;
		o[10] = o[11] = 0;
		uint16_t sum = ip_checksum(o, d->hdr_len);
		o[10] = (uint8_t)(sum >> 8);
		o[11] = (uint8_t)sum;
	} else {
		uint32_t n = d->hdr_len - 40 + d->total;
		o[4] = (uint8_t)(n >> 8);
		o[5] = (uint8_t)n;
		o[d->nh_at] = d->proto;
	}
	*dlen = d->hdr_len + d->total;
	return true;
}

static enum ipfrag_result refuse(struct ipfrag *f)
{
	f->c.refused++;
	return IPFRAG_REFUSED;
}

enum ipfrag_result ipfrag_add(struct ipfrag *f, const struct ipfrag_piece *p, int64_t ts_us,
			      const uint8_t **dgram, size_t *dlen)
{
	f->c.fragments++;
	ipfrag_expire(f, ts_us);
	if (p->family != 4 && p->family != 6)
		return refuse(f);
	/* The header counted in the datagram's 16-bit length field. */
	uint32_t min_hdr = p->family == 4 ? 20 : 40;
	if (p->hdr_len < min_hdr || p->hdr_len > IPFRAG_MAX_HDR ||
	    (p->family == 4 && p->hdr_len > 60) || (p->family == 6 && p->nh_at >= p->hdr_len))
		return refuse(f);
	uint32_t counted = p->family == 4 ? p->hdr_len : p->hdr_len - 40;
	uint32_t limit = 65535 - counted;
	if (p->len == 0 || p->captured < p->len || (p->more && p->len % 8) || p->offset % 8 ||
	    p->offset > limit || p->len > limit - p->offset)
		return refuse(f);
	struct dgram *d = find_or_create(f, p, ts_us);
	if (!d)
		return refuse(f);
	if (d->nfrags >= f->cfg.max_frags)
		return refuse(f);
	uint32_t end = p->offset + p->len;
	if (d->have_total && end > d->total) {
		d->nfrags++;
		conflict(f, d, p, "goes past the datagram's end: ignored");
		return IPFRAG_HELD;
	}
	if (!p->more) {
		if (d->have_total && end != d->total) {
			d->nfrags++;
			conflict(f, d, p, "ends the datagram elsewhere than an earlier last fragment: ignored");
			return IPFRAG_HELD;
		}
		if (!d->have_total && end < d->end) {
			d->nfrags++;
			conflict(f, d, p, "ends the datagram before bytes already seen: ignored");
			return IPFRAG_HELD;
		}
	}
	if (!grow(f, d, end))
		return refuse(f);
	d->nfrags++;
	if (!p->more) {
		d->have_total = true;
		d->total = end;
	}
	if (end > d->end)
		d->end = end;
	bool overlap = false, differs = false;
	for (uint32_t b = p->offset / 8; b * 8 < end; b++) {
		uint32_t from = b * 8, to = from + 8 < end ? from + 8 : end;
		const uint8_t *src = p->data + (from - p->offset);
		if (got(d, b)) {
			overlap = true;
			/* Bytes seen first are kept. */
			if (memcmp(d->data + from, src, to - from) != 0)
				differs = true;
			continue;
		}
		memcpy(d->data + from, src, to - from);
		d->got[b / 8] |= (uint8_t)(1u << (b % 8));
		d->covered++;
	}
	if (differs)
		conflict(f, d, p, "overlaps earlier bytes with other bytes: the first ones are kept");
	else if (overlap)
		f->c.duplicates++;
	if (p->offset == 0 && !d->have_hdr) {
		memcpy(d->hdr, p->hdr, p->hdr_len);
		d->hdr_len = p->hdr_len;
		d->nh_at = p->nh_at;
		d->have_hdr = true;
	}
	if (!d->have_total || !d->have_hdr || d->covered != (d->total + 7) / 8)
		return IPFRAG_HELD;
	/* The first fragment's header may be longer than the one the limit
	 * was checked with. */
	uint32_t dcounted = d->family == 4 ? d->hdr_len : d->hdr_len - 40;
	if (d->total > 65535 - dcounted || !assemble(f, d, dlen)) {
		drop_incomplete(f, d, DROP_TOO_BIG);
		return IPFRAG_REFUSED;
	}
	*dgram = f->out;
	f->c.reassembled++;
	remove_dgram(f, d);
	return IPFRAG_DONE;
}

void ipfrag_finish(struct ipfrag *f)
{
	while (f->oldest)
		drop_incomplete(f, f->oldest, DROP_END);
}

void ipfrag_get_counters(const struct ipfrag *f, struct ipfrag_counters *out)
{
	*out = f->c;
}

size_t ipfrag_held_bytes(const struct ipfrag *f)
{
	return f->held;
}

void ipfrag_free(struct ipfrag *f)
{
	if (!f)
		return;
	while (f->oldest)
		remove_dgram(f, f->oldest);
	free(f->out);
	free(f);
}
