/* corr: the requests of one connection still waiting for their response, in
 * the order they were sent. Kafka answers the requests of a connection in
 * order ("Protocol: Requests and Responses": the server guarantees that on a
 * single TCP connection, requests will be processed in the order they are
 * sent and responses will return in that order too), so the table is a FIFO
 * ring searched by correlation id from the oldest entry: the match is
 * normally the oldest, and entries older than a match can never be answered.
 *
 * Bounded: at most `max_entries` requests and `max_bytes` of stored request
 * bytes; the owner evicts the oldest when a push would exceed either. Each
 * slot keeps its byte buffer for reuse, so a steady connection allocates
 * nothing per request. A request the owner already holds in a buffer of its
 * own (a frame the framer gathered) is not copied: corr_push_own trades
 * buffers with the slot. */
#ifndef KT_CORR_H
#define KT_CORR_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct corr_entry {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	int64_t ts_us;
	uint32_t flags;        /* EXCHANGE_* carried into the exchange */
	bool has_bytes;        /* false: the request frame was lost (gap, oversized) */
	bool no_id;            /* never matched by correlation id (a raw SASL token) */
	uint8_t *bytes;        /* the request frame (a copy, or a buffer taken over) */
	uint32_t len;
	uint32_t cap;
};

struct corr {
	struct corr_entry *ring;
	uint32_t cap;          /* ring slots, a power of two */
	uint32_t head;         /* index of the oldest entry */
	uint32_t count;
	uint32_t max_entries;
	uint64_t bytes;        /* request bytes stored */
	uint64_t max_bytes;
};

void corr_init(struct corr *c, uint32_t max_entries, uint64_t max_bytes);
void corr_free(struct corr *c);
/* Would a request of `len` bytes fit without evicting? */
bool corr_fits(const struct corr *c, uint32_t len);
/* A new newest entry holding a copy of p[0..len) (p NULL: no bytes). NULL
 * when the table is full or memory ran out: evict first. */
struct corr_entry *corr_push(struct corr *c, const uint8_t *p, uint32_t len);
/* The same without copying: the new entry takes the buffer *buf (capacity
 * *cap, its first len bytes the request) and gives back in *buf and *cap the
 * buffer its slot held before (NULL and 0 when none). NULL, with *buf and
 * *cap unchanged, when the table is full or memory ran out. */
struct corr_entry *corr_push_own(struct corr *c, uint8_t **buf, uint32_t *cap, uint32_t len);
/* The i-th oldest entry (0 = oldest), or NULL. */
struct corr_entry *corr_at(const struct corr *c, uint32_t i);
/* Position of the oldest entry with this correlation id, or -1. */
long corr_find(const struct corr *c, int32_t correlation_id);
/* Drop the oldest entry. */
void corr_pop(struct corr *c);

#endif
