/* reserve: memory taken at start and kept, so that the recording's queue
 * can fill without the event loop taking fresh pages from the system.
 *
 * A recording proxy gathers every recorded frame into memory. While its
 * queue fills, that memory is new to the process, and for each 4 KiB the
 * kernel finds, clears and accounts a page, on the event loop: with the
 * default 256 MiB queue that made 1 KB Produce through a recording proxy
 * about a fifth slower than through the proxy alone (docs/proxy.md, "The
 * queue's size"). reserve_heap touches the memory once at start and keeps it
 * in the allocator's heap, where later blocks are carved from. */
#ifndef KT_RESERVE_H
#define KT_RESERVE_H

#include <stdbool.h>
#include <stddef.h>

/* Blocks up to this size come from the reserved heap; larger ones (Fetch
 * responses of tens of MB) are still mapped fresh. */
#define RESERVE_BLOCK_MAX (32u << 20)
/* The most it reserves (glibc's trim threshold, twice this, is an int). */
#define RESERVE_MAX (1u << 30)

/* Touch `bytes` of heap in the calling thread's allocator arena and keep it
 * from being returned to the system. Call it from the thread that will
 * allocate the blocks (the event loop) before it starts. False with err set,
 * and nothing kept, when bytes is over RESERVE_MAX or over half of what the
 * system has available, when the allocator cannot be told to keep memory
 * (no glibc mallopt, or a sanitizer's allocator), or when memory runs out. */
bool reserve_heap(size_t bytes, char *err, size_t errlen);
/* reserve_heap's limits alone: may `bytes` be reserved when the system has
 * `avail` bytes available (0: unknown)? False with err set if not. */
bool reserve_check(size_t bytes, size_t avail, char *err, size_t errlen);

#endif
