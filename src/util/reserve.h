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

/* Touch `bytes` of heap in the calling thread's allocator arena and keep it
 * from being returned to the system. Call it from the thread that will
 * allocate the blocks (the event loop) before it starts. False with err set
 * when the allocator cannot be told to keep memory (no glibc mallopt, or a
 * sanitizer's allocator) or memory runs out; nothing is kept then. */
bool reserve_heap(size_t bytes, char *err, size_t errlen);

#endif
