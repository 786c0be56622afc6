/* frame: size-prefixed framing of one direction, with bounded buffering and
 * resynchronisation (see frame.h for the policy). The hot path — a whole
 * frame inside the chunk just fed — reads the size and hands the frame on in
 * place; everything else (frames spanning chunks, hunting, lost frames) is
 * the slow path. */
#include "config.h"
#include "stream/frame.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/codec.h"
#include "proto/cursor.h"
#include "proto/schema.h"

/* A gathered frame buffer larger than this is freed after use, so that one
 * large frame does not pin memory for the life of the connection. */
#define FRAME_KEEP_CAP (1u << 20)
/* The stash is filled up to here, leaving room to put a rejected frame start
 * back in front of it. */
#define FRAME_STASH_FILL (FRAME_STASH_CAP - FRAME_HEAD_MAX)

static const char *const state_names[] = {
#define FRAME_STATE_NAME(name, text) text,
	FRAME_STATES(FRAME_STATE_NAME)
#undef FRAME_STATE_NAME
};

const char *frame_state_name(enum frame_state s)
{
	if ((unsigned)s >= sizeof state_names / sizeof state_names[0])
		return "?";
	return state_names[s];
}

/* The only place the state changes. */
static void set_state(struct framer *f, enum frame_state s)
{
	f->state = s;
	if (s == FRAME_SIZE)
		f->head_len = 0;
	if (s != FRAME_LOST)
		f->shed = false;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void notice(struct framer *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct framer *f, const char *fmt, ...)
{
	if (!f->sink.notice)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	f->sink.notice(f->sink.ctx, msg);
}

void frame_init(struct framer *f, uint32_t max_frame, bool resync, const struct frame_sink *sink)
{
	memset(f, 0, sizeof *f);
	/* Sizes are int32 on the wire: a limit above INT32_MAX would let a
	 * negative size through as a huge unsigned one. */
	f->max_frame = max_frame > INT32_MAX ? INT32_MAX : max_frame;
	f->resync = resync;
	f->sink = *sink;
	set_state(f, FRAME_SIZE);
}

void frame_free(struct framer *f)
{
	free(f->body);
	free(f->stash);
	f->body = NULL;
	f->stash = NULL;
	f->body_cap = f->body_len = 0;
	f->stash_len = 0;
}

static void emit(struct framer *f, const uint8_t *p, uint32_t n, int64_t ts)
{
	static const uint8_t empty[1];
	f->c.frames++;
	f->sink.frame(f->sink.ctx, p ? p : empty, n, ts);
}

/* A frame not delivered whole; it is dated by its first byte. */
static void report_lost(struct framer *f, const uint8_t *head, uint32_t head_len,
			enum frame_loss why, int64_t ts)
{
	(void)ts;
	f->c.lost_frames++;
	if (f->sink.lost)
		f->sink.lost(f->sink.ctx, head, head_len, f->size, why, f->start_ts);
}

static void end_hunt(struct framer *f)
{
	if (f->hunt_skipped)
		notice(f, "skipped %llu bytes to find a frame boundary",
		       (unsigned long long)f->hunt_skipped);
	f->hunt_skipped = 0;
}

static void skip(struct framer *f, uint64_t n)
{
	f->c.skipped_bytes += n;
	if (f->state == FRAME_HUNT)
		f->hunt_skipped += n;
}

/* The frame start in head[] was rejected. Where resynchronising is allowed,
 * the bytes after its first byte are scanned again (frame_feed puts them in
 * front of the stash); otherwise framing stops for this direction. */
static bool reject_start(struct framer *f, const char *why)
{
	if (!f->resync) {
		notice(f, "%s: the rest of this direction is not decoded", why);
		skip(f, f->head_len);
		f->head_len = 0;
		set_state(f, FRAME_RAW);
		return false;
	}
	f->c.skipped_bytes += 1;
	f->hunt_skipped += 1;
	set_state(f, FRAME_HUNT); /* head[1..head_len) is put back by frame_feed */
	return true;
}

/* Room for `need` bytes of the current frame. The buffer grows with the
 * bytes that actually come, not with the size the frame claims, so a bogus
 * size costs nothing until its bytes arrive. */
static bool reserve_body(struct framer *f, uint32_t need)
{
	if (need <= f->body_cap)
		return true;
	/* The whole frame at once: growing step by step copied a large frame
	 * about once more. Pages nobody writes to are not taken from the
	 * system, so a frame whose bytes never all come costs little. */
	uint32_t cap = f->size >= need ? f->size : need;
	uint8_t *p = realloc(f->body, cap);
	if (!p)
		return false;
	f->body = p;
	f->body_cap = cap;
	f->body_ready = 0;
	return true;
}

/* Back the stretch of a large gathered frame that is about to be written
 * with memory in one system call (MADV_POPULATE_WRITE, Linux 5.14) instead
 * of one page fault per 4 KiB as the copy reaches it. A recording proxy
 * gathers every large Produce and Fetch into fresh memory (the store keeps
 * the blocks), and the faults were a sixth of its event loop's time. Only
 * what is about to be written, so a frame that claims a large size and
 * stops, or a thousand connections each in the middle of one, take no more
 * memory than the bytes that came; stretches under FRAME_POPULATE_MIN are
 * left to fault in (the next call covers them). Where the call is missing
 * or refused, the pages fault in as before. */
#define FRAME_POPULATE_MIN (64u << 10)

static void populate(struct framer *f, uint32_t upto)
{
	if (upto > f->body_cap)
		upto = f->body_cap;
	if (upto < f->body_ready || upto - f->body_ready < FRAME_POPULATE_MIN)
		return;
#ifdef MADV_POPULATE_WRITE
	static int off; /* framers live in more than one thread */
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)f->body + f->body_ready + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)f->body + upto) & ~(pg - 1);
	if (!__atomic_load_n(&off, __ATOMIC_RELAXED) && b > a &&
	    madvise((void *)a, b - a, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
		__atomic_store_n(&off, 1, __ATOMIC_RELAXED); /* an older kernel */
#endif
	f->body_ready = upto;
}

static void release_body(struct framer *f)
{
	f->body_len = 0;
	if (f->body_cap > FRAME_KEEP_CAP) {
		free(f->body);
		f->body = NULL;
		f->body_cap = 0;
	}
	f->body_ready = 0;
}

/* n more bytes of the frame are in body[]: hand it on once it is whole. */
static void body_added(struct framer *f, uint32_t n, int64_t ts)
{
	f->body_len += n;
	if (f->body_len == f->size) {
		emit(f, f->body, f->size, ts);
		release_body(f);
		set_state(f, FRAME_SIZE);
	}
}

static void start_lost(struct framer *f);

/* The size in head[0..4) is known; the frame's bytes follow. Returns false
 * when the start was rejected and head[1..] must be scanned again. */
static bool size_known(struct framer *f, int64_t ts)
{
	f->size = be32(f->head);
	if (f->size <= f->max_frame) {
		f->body_len = 0;
		set_state(f, FRAME_BODY);
		return true;
	}
	f->c.bad_sizes++;
	if ((int32_t)f->size < 0) {
		char why[64];
		snprintf(why, sizeof why, "frame size %d is negative", (int32_t)f->size);
		/* false: head[1..] must be scanned again */
		return !reject_start(f, why);
	}
	start_lost(f);
	return true;
}

/* n bytes of the rest of a lost or shed frame went by. Those of a shed
 * frame are not counted as skipped: the owner chose not to look. */
static void pass_over(struct framer *f, uint64_t n)
{
	f->lost_left -= n;
	if (f->shed)
		f->c.passed_bytes += n;
	else
		skip(f, n);
}

/* An oversized frame: keep its first bytes for the header, skip the rest. */
static void start_lost(struct framer *f)
{
	set_state(f, FRAME_LOST);
	f->lost_left = (uint64_t)f->size + 4 - f->head_len;
}

static uint32_t head_want(const struct framer *f)
{
	uint64_t want = (uint64_t)f->size + 4;
	return want < FRAME_HEAD_MAX ? (uint32_t)want : FRAME_HEAD_MAX;
}

/* LOST with the head complete: decide whether it is a frame at all. */
static bool lost_head_done(struct framer *f, int64_t ts)
{
	if (f->resync && f->sink.check) {
		enum frame_verdict v = f->sink.check(f->sink.ctx, f->head, f->head_len);
		if (v == FRAME_NO) {
			char why[80];
			snprintf(why, sizeof why, "frame size %u over the maximum and no plausible header",
				 f->size);
			return !reject_start(f, why);
		}
	}
	notice(f, "frame of %u bytes exceeds the maximum frame size (%u): skipped", f->size,
	       f->max_frame);
	report_lost(f, f->head + 4, f->head_len - 4, FRAME_LOSS_OVERSIZED, ts);
	skip(f, f->head_len);
	f->head_len = FRAME_HEAD_MAX + 1; /* marks "head reported" */
	return true;
}

/* Process bytes in the current state. Returns the bytes consumed; it stops
 * early only while hunting (more bytes are needed to judge a candidate) or
 * when a rejected frame start must be scanned again (state HUNT with
 * head_len > 1: frame_feed puts head[1..] back in front). */
static size_t run(struct framer *f, const uint8_t *p, size_t n, int64_t ts)
{
	size_t pos = 0;
	while (pos < n) {
		size_t left = n - pos;
		switch (f->state) {
		case FRAME_SIZE:
			if (f->head_len == 0 && left >= 4) {
				uint32_t size = be32(p + pos);
				if (size <= f->max_frame && left - 4 >= size) {
					/* The hot path: a whole frame in place. */
					emit(f, p + pos + 4, size, ts);
					pos += 4 + (size_t)size;
					continue;
				}
				memcpy(f->head, p + pos, 4);
				f->head_len = 4;
				f->start_ts = ts;
				pos += 4;
			} else {
				if (f->head_len == 0)
					f->start_ts = ts;
				size_t take = 4 - f->head_len;
				if (take > left)
					take = left;
				memcpy(f->head + f->head_len, p + pos, take);
				f->head_len += (uint32_t)take;
				pos += take;
				if (f->head_len < 4)
					continue;
			}
			if (!size_known(f, ts))
				return pos; /* rescan head[1..] */
			if (f->state == FRAME_RAW)
				continue;
			if (f->state == FRAME_BODY && f->size == 0) {
				emit(f, f->body, 0, ts);
				set_state(f, FRAME_SIZE);
			}
			break;
		case FRAME_BODY: {
			uint32_t need = f->size - f->body_len;
			if (f->body_len == 0 && left >= need) {
				/* Only the size prefix came before: the frame itself is
				 * whole in this chunk and goes on in place. */
				emit(f, p + pos, need, ts);
				pos += need;
				release_body(f);
				set_state(f, FRAME_SIZE);
				break;
			}
			size_t take = left < need ? left : need;
			if (!reserve_body(f, f->body_len + (uint32_t)take)) {
				/* Out of memory: pass over this frame like an oversized one. */
				notice(f, "cannot allocate %u bytes for a frame: skipped", f->size);
				skip(f, f->body_len);
				report_lost(f, f->body, f->body_len < FRAME_HEAD_MAX - 4 ? f->body_len : FRAME_HEAD_MAX - 4,
					    FRAME_LOSS_OVERSIZED, ts);
				f->lost_left = (uint64_t)f->size - f->body_len;
				f->head_len = FRAME_HEAD_MAX + 1; /* reported */
				release_body(f);
				set_state(f, FRAME_LOST);
				break;
			}
			populate(f, f->body_len + (uint32_t)take);
			memcpy(f->body + f->body_len, p + pos, take);
			pos += take;
			body_added(f, (uint32_t)take, ts);
			break;
		}
		case FRAME_LOST:
			if (f->head_len <= FRAME_HEAD_MAX && f->head_len < head_want(f)) {
				size_t take = head_want(f) - f->head_len;
				if (take > left)
					take = left;
				memcpy(f->head + f->head_len, p + pos, take);
				f->head_len += (uint32_t)take;
				f->lost_left -= take;
				pos += take;
				if (f->head_len < head_want(f))
					continue;
			}
			if (f->head_len <= FRAME_HEAD_MAX) {
				if (!lost_head_done(f, ts))
					return pos;
				if (f->state != FRAME_LOST)
					break;
			}
			if (f->lost_left > 0) {
				size_t take = left = n - pos;
				if (take > f->lost_left)
					take = (size_t)f->lost_left;
				pass_over(f, take);
				pos += take;
			}
			if (f->lost_left == 0)
				set_state(f, FRAME_SIZE);
			break;
		case FRAME_HUNT: {
			size_t i = pos;
			enum frame_verdict v = FRAME_NO;
			for (; n - i >= 4; i++) {
				uint32_t size = be32(p + i);
				if (size > f->max_frame)
					continue;
				v = f->sink.check ? f->sink.check(f->sink.ctx, p + i, n - i) : FRAME_YES;
				if (v == FRAME_MORE && n - i >= FRAME_CHECK_MAX)
					v = FRAME_NO; /* a check must decide with this many bytes */
				if (v != FRAME_NO)
					break;
			}
			skip(f, i - pos);
			pos = i;
			if (v != FRAME_YES)
				return pos; /* the last bytes wait for more */
			end_hunt(f);
			set_state(f, FRAME_SIZE);
			break;
		}
		case FRAME_RAW:
			skip(f, left);
			pos = n;
			break;
		}
	}
	return pos;
}

static bool stash_reserve(struct framer *f)
{
	if (!f->stash)
		f->stash = malloc(FRAME_STASH_CAP);
	return f->stash != NULL;
}

/* After a rejected frame start: head[1..head_len) goes back in front of the
 * stash to be scanned again. */
static void put_back(struct framer *f)
{
	uint32_t r = f->head_len > 1 ? f->head_len - 1 : 0;
	if (r > FRAME_HEAD_MAX)
		r = 0;
	if (r && f->stash_len + r > FRAME_STASH_CAP) {
		skip(f, r); /* cannot happen (see frame_feed); never overrun */
		r = 0;
	}
	if (r && stash_reserve(f)) {
		memmove(f->stash + r, f->stash, f->stash_len);
		memcpy(f->stash, f->head + 1, r);
		f->stash_len += r;
	}
	f->head_len = 0;
}

static bool rescan_pending(const struct framer *f)
{
	return f->state == FRAME_HUNT && f->head_len > 0;
}

void frame_feed(struct framer *f, const uint8_t *p, size_t n, int64_t ts)
{
	f->c.bytes += n;
	for (;;) {
		if (f->stash_len == 0 && !rescan_pending(f)) {
			if (n == 0)
				return;
			size_t c = run(f, p, n, ts);
			p += c;
			n -= c;
			if (n == 0 && !rescan_pending(f))
				return;
		}
		if (!stash_reserve(f)) {
			/* No memory for the hunt window: count the bytes and go on hunting. */
			skip(f, n + f->stash_len);
			f->stash_len = 0;
			f->head_len = 0;
			return;
		}
		if (rescan_pending(f))
			put_back(f);
		size_t take = FRAME_STASH_FILL - f->stash_len;
		if (f->stash_len > FRAME_STASH_FILL)
			take = 0;
		if (take > n)
			take = n;
		memcpy(f->stash + f->stash_len, p, take);
		f->stash_len += take;
		p += take;
		n -= take;
		size_t c = run(f, f->stash, f->stash_len, ts);
		memmove(f->stash, f->stash + c, f->stash_len - c);
		f->stash_len -= c;
		if (rescan_pending(f))
			continue;
		if (f->stash_len > 0 && n == 0)
			return; /* a hunt waits for more bytes */
	}
}

size_t frame_body_room(struct framer *f, uint8_t **p, size_t want)
{
	if (f->state != FRAME_BODY || f->stash_len || rescan_pending(f) || f->body_len >= f->size)
		return 0;
	if (!reserve_body(f, f->size))
		return 0; /* frame_feed reports it */
	size_t room = f->size - f->body_len;
	if (want > room)
		want = room;
	populate(f, f->body_len + (uint32_t)want);
	*p = f->body + f->body_len;
	return room;
}

void frame_body_commit(struct framer *f, size_t n, int64_t ts)
{
	f->c.bytes += n;
	body_added(f, (uint32_t)n, ts);
}

/* A shed frame's head: what the owner's header decoding needs (a Produce's
 * acks come after the client and transactional ids), not the whole of what
 * a large first read gathered. */
#define FRAME_SHED_HEAD 1024u

bool frame_shed(struct framer *f, int64_t ts)
{
	if (f->state != FRAME_BODY || f->stash_len || rescan_pending(f) || f->body_len >= f->size)
		return false;
	f->c.shed_frames++;
	report_lost(f, f->body, f->body_len < FRAME_SHED_HEAD ? f->body_len : FRAME_SHED_HEAD,
		    FRAME_LOSS_SHED, ts);
	f->lost_left = (uint64_t)f->size - f->body_len;
	release_body(f);
	f->head_len = FRAME_HEAD_MAX + 1; /* reported */
	set_state(f, FRAME_LOST);
	f->shed = true;
	return true;
}

uint64_t frame_pass_room(const struct framer *f)
{
	return f->state == FRAME_LOST && f->head_len > FRAME_HEAD_MAX ? f->lost_left : 0;
}

void frame_pass(struct framer *f, uint64_t n)
{
	uint64_t room = frame_pass_room(f);
	if (n > room)
		n = room; /* never past the frame: the next one starts in step */
	if (!n)
		return;
	f->c.bytes += n;
	pass_over(f, n);
	if (f->lost_left == 0)
		set_state(f, FRAME_SIZE);
}

void frame_gap(struct framer *f, uint64_t n, int64_t ts)
{
	if (n == 0)
		return;
	f->c.gaps++;
	f->c.gap_bytes += n;
	uint64_t rest = n; /* gap bytes beyond the current frame */
	switch (f->state) {
	case FRAME_SIZE:
		skip(f, f->head_len);
		f->head_len = 0;
		break;
	case FRAME_BODY: {
		uint32_t hl = f->body_len < FRAME_HEAD_MAX - 4 ? f->body_len : FRAME_HEAD_MAX - 4;
		report_lost(f, f->body, hl, FRAME_LOSS_GAP, ts);
		skip(f, f->body_len);
		uint64_t remaining = (uint64_t)f->size - f->body_len;
		release_body(f);
		if (n < remaining) {
			f->lost_left = remaining - n;
			f->head_len = FRAME_HEAD_MAX + 1; /* reported */
			set_state(f, FRAME_LOST);
			return;
		}
		rest = n - remaining;
		break;
	}
	case FRAME_LOST:
		if (f->head_len <= FRAME_HEAD_MAX) {
			/* An oversized frame whose head was still being read. */
			uint32_t hl = f->head_len >= 4 ? f->head_len - 4 : 0;
			report_lost(f, f->head + 4, hl, FRAME_LOSS_GAP, ts);
			skip(f, f->head_len);
			f->head_len = FRAME_HEAD_MAX + 1;
		}
		if (n < f->lost_left) {
			f->lost_left -= n;
			return;
		}
		rest = n - f->lost_left;
		f->lost_left = 0;
		break;
	case FRAME_HUNT:
		skip(f, f->stash_len);
		f->stash_len = 0;
		f->head_len = 0;
		return;
	case FRAME_RAW:
		return;
	}
	if (rest == 0) {
		set_state(f, FRAME_SIZE); /* the gap ended exactly on a frame boundary */
		return;
	}
	set_state(f, FRAME_SIZE);
	frame_hunt(f);
}

void frame_hunt(struct framer *f)
{
	if (f->state == FRAME_HUNT || f->state == FRAME_RAW)
		return;
	if (!f->resync) {
		notice(f, "lost the frame boundary: the rest of this direction is not decoded");
		set_state(f, FRAME_RAW);
		return;
	}
	if (f->state != FRAME_SIZE || f->head_len != 0) {
		/* Drop what was gathered of the current frame. */
		if (f->state == FRAME_BODY)
			skip(f, f->body_len);
		else if (f->head_len <= FRAME_HEAD_MAX)
			skip(f, f->head_len);
		release_body(f);
	}
	f->head_len = 0;
	set_state(f, FRAME_HUNT);
}

void frame_close(struct framer *f, int64_t ts)
{
	switch (f->state) {
	case FRAME_SIZE:
		skip(f, f->head_len);
		break;
	case FRAME_BODY: {
		notice(f, "the connection ended inside a frame (%u of its %u bytes seen)", f->body_len,
		       f->size);
		uint32_t hl = f->body_len < FRAME_HEAD_MAX - 4 ? f->body_len : FRAME_HEAD_MAX - 4;
		report_lost(f, f->body, hl, FRAME_LOSS_CLOSED, ts);
		skip(f, f->body_len);
		release_body(f);
		break;
	}
	case FRAME_LOST:
		if (f->head_len <= FRAME_HEAD_MAX) {
			uint32_t hl = f->head_len >= 4 ? f->head_len - 4 : 0;
			report_lost(f, f->head + 4, hl, FRAME_LOSS_CLOSED, ts);
			skip(f, f->head_len);
		}
		break;
	case FRAME_HUNT:
		skip(f, f->stash_len);
		f->stash_len = 0;
		end_hunt(f);
		break;
	case FRAME_RAW:
		break;
	}
	f->head_len = 0;
	set_state(f, FRAME_SIZE);
}

bool frame_gathered(const struct framer *f, const uint8_t *p)
{
	return f->state == FRAME_BODY && f->body && p == f->body;
}

void frame_swap_body(struct framer *f, uint8_t **buf, uint32_t *cap)
{
	uint8_t *b = f->body;
	uint32_t c = f->body_cap;
	f->body = *buf;
	f->body_cap = *buf ? *cap : 0;
	f->body_ready = 0;
	*buf = b;
	*cap = c;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

enum frame_verdict frame_check_request(const uint8_t *p, size_t avail, uint32_t max_frame)
{
	if (avail < 4)
		return FRAME_MORE;
	uint32_t size = be32(p);
	if (size > INT32_MAX || (max_frame && size > max_frame))
		return FRAME_NO;
	return frame_check_request_header(p + 4, avail - 4, size);
}

enum frame_verdict frame_check_request_header(const uint8_t *h, size_t avail, uint32_t size)
{
	/*   api_key(2) api_version(2) correlation_id(4) client_id_len(2) client_id...
	 *   0          2              4                 8                10        */
	if (size < 8)
		return FRAME_NO;
	if (avail < 8)
		return FRAME_MORE;
	int16_t api = (int16_t)be16(h);
	int16_t ver = (int16_t)be16(h + 2);
	int32_t corr = (int32_t)be32(h + 4);
	if (corr < 0)
		return FRAME_NO;
	const struct schema_message *m = schema_message_find(api, SCHEMA_REQUEST);
	if (!m || !schema_in(m->valid, ver))
		return FRAME_NO;
	int hv = codec_request_header_version(api, ver);
	if (hv < 0)
		return FRAME_NO;
	if (hv == 0)
		return FRAME_YES;
	if (size < 10)
		return FRAME_NO;
	if (avail < 10)
		return FRAME_MORE;
	int16_t len = (int16_t)be16(h + 8);
	if (len < -1 || len > (int32_t)size - 10)
		return FRAME_NO;
	/* Client ids are names people chose: printable ASCII in practice. Look
	 * at the first bytes only, so that the check stays bounded. */
	size_t look = len > 0 ? (size_t)len : 0;
	if (look > FRAME_CHECK_MAX - 14)
		look = FRAME_CHECK_MAX - 14;
	/* Judge what is there first: a bad byte already seen settles it. */
	size_t have = avail - 10 < look ? avail - 10 : look;
	for (size_t i = 0; i < have; i++)
		if (h[10 + i] < 0x20 || h[10 + i] > 0x7e)
			return FRAME_NO;
	return have < look ? FRAME_MORE : FRAME_YES;
}
