/* corr: in-flight request table, a FIFO ring (see corr.h). */
#include "config.h"
#include "stream/corr.h"

#include <stdlib.h>
#include <string.h>

/* A slot buffer larger than this is freed when its entry leaves, so that one
 * large request does not pin memory for the life of the connection. */
#define CORR_KEEP_CAP (64u * 1024)

void corr_init(struct corr *c, uint32_t max_entries, uint64_t max_bytes)
{
	memset(c, 0, sizeof *c);
	c->max_entries = max_entries ? max_entries : 1;
	c->max_bytes = max_bytes;
}

void corr_free(struct corr *c)
{
	for (uint32_t i = 0; i < c->cap; i++)
		free(c->ring[i].bytes);
	free(c->ring);
	memset(c, 0, sizeof *c);
}

bool corr_fits(const struct corr *c, uint32_t len)
{
	if (c->count >= c->max_entries)
		return false;
	/* An empty table always takes one request: the frame size bound
	 * (max_frame) already limits it. */
	return c->count == 0 || len <= c->max_bytes - (c->bytes < c->max_bytes ? c->bytes : c->max_bytes);
}

static bool grow(struct corr *c)
{
	uint32_t ncap = c->cap ? c->cap * 2 : 16;
	struct corr_entry *r = calloc(ncap, sizeof *r);
	if (!r)
		return false;
	/* Unwrap: the oldest entry goes to slot 0; the free slots keep their buffers too. */
	for (uint32_t i = 0; i < c->cap; i++)
		r[i] = c->ring[(c->head + i) & (c->cap - 1)];
	free(c->ring);
	c->ring = r;
	c->cap = ncap;
	c->head = 0;
	return true;
}

/* The next free slot, cleared but for its buffer; NULL when full. */
static struct corr_entry *next_slot(struct corr *c)
{
	if (c->count >= c->max_entries)
		return NULL;
	if (c->count == c->cap && !grow(c))
		return NULL;
	struct corr_entry *e = &c->ring[(c->head + c->count) & (c->cap - 1)];
	uint8_t *keep = e->bytes;
	uint32_t keep_cap = e->cap;
	memset(e, 0, sizeof *e);
	e->bytes = keep;
	e->cap = keep_cap;
	return e;
}

struct corr_entry *corr_push(struct corr *c, const uint8_t *p, uint32_t len)
{
	struct corr_entry *e = next_slot(c);
	if (!e)
		return NULL;
	if (p) {
		if (len > e->cap || !e->bytes) {
			uint8_t *nb = realloc(e->bytes, len ? len : 1);
			if (!nb)
				return NULL;
			e->bytes = nb;
			e->cap = len ? len : 1;
		}
		memcpy(e->bytes, p, len);
		e->len = len;
		e->has_bytes = true;
		c->bytes += len;
	}
	c->count++;
	return e;
}

struct corr_entry *corr_push_own(struct corr *c, uint8_t **buf, uint32_t *cap, uint32_t len)
{
	struct corr_entry *e = next_slot(c);
	if (!e)
		return NULL;
	uint8_t *old = e->bytes;
	uint32_t old_cap = e->bytes ? e->cap : 0;
	e->bytes = *buf;
	e->cap = *buf ? *cap : 0;
	*buf = old;
	*cap = old_cap;
	e->len = len;
	e->has_bytes = true;
	c->bytes += len;
	c->count++;
	return e;
}

struct corr_entry *corr_at(const struct corr *c, uint32_t i)
{
	if (i >= c->count)
		return NULL;
	return &c->ring[(c->head + i) & (c->cap - 1)];
}

long corr_find(const struct corr *c, int32_t correlation_id)
{
	for (uint32_t i = 0; i < c->count; i++) {
		const struct corr_entry *e = &c->ring[(c->head + i) & (c->cap - 1)];
		if (e->correlation_id == correlation_id && !e->no_id)
			return (long)i;
	}
	return -1;
}

void corr_pop(struct corr *c)
{
	if (c->count == 0)
		return;
	struct corr_entry *e = &c->ring[c->head];
	if (e->has_bytes)
		c->bytes -= e->len;
	if (e->cap > CORR_KEEP_CAP) {
		free(e->bytes);
		e->bytes = NULL;
		e->cap = 0;
	}
	e->has_bytes = false;
	e->len = 0;
	c->head = (c->head + 1) & (c->cap - 1);
	c->count--;
}
