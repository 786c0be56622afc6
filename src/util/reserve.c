/* reserve: see reserve.h. */
#include "config.h"
#include "util/reserve.h"

#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define RESERVE_STEP (1u << 20) /* touched in blocks of this size */

bool reserve_heap(size_t bytes, char *err, size_t errlen)
{
#if defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	/* Blocks up to RESERVE_BLOCK_MAX from the heap (glibc would otherwise
	 * map blocks over 128 KiB of their own until its threshold adapts), and
	 * no trimming of free memory at the top of the heap below what is
	 * reserved: the reserve would go back to the system at the first free. */
	int trim = bytes > (size_t)INT_MAX / 2 ? INT_MAX : (int)(bytes * 2);
	if (mallopt(M_MMAP_THRESHOLD, (int)RESERVE_BLOCK_MAX) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, trim) != 1) {
		snprintf(err, errlen, "the allocator does not take mallopt settings");
		return false;
	}
	size_t n = (bytes + RESERVE_STEP - 1) / RESERVE_STEP;
	void **blocks = calloc(n ? n : 1, sizeof *blocks);
	if (!blocks) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t got = 0;
	for (; got < n; got++) {
		unsigned char *b = malloc(RESERVE_STEP);
		if (!b)
			break;
		/* One write per page makes the kernel back it. */
		for (size_t off = 0; off < RESERVE_STEP; off += page)
			b[off] = 0;
		blocks[got] = b;
	}
	/* Freed, the blocks merge into free heap that stays in memory. */
	for (size_t i = got; i > 0; i--)
		free(blocks[i - 1]);
	free(blocks);
	if (got < n) {
		snprintf(err, errlen, "out of memory after %zu MiB", got);
		return false;
	}
	return true;
#else
	(void)bytes;
	snprintf(err, errlen, "the allocator has no mallopt settings");
	return false;
#endif
}
