/* reserve: see reserve.h. */
#include "config.h"
#include "util/reserve.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RESERVE_STEP (1u << 20) /* touched in blocks of this size */
#define RESERVE_TRIM_DEFAULT (128 * 1024) /* glibc's M_TRIM_THRESHOLD default */

/* What the system can still give without swapping (MemAvailable), or 0
 * when unknown. */
static size_t available_bytes(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	if (kb)
		return kb > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)kb * 1024;
	long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	return pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz : 0;
}

bool reserve_check(size_t bytes, size_t avail, char *err, size_t errlen)
{
	if (bytes > RESERVE_MAX) {
		snprintf(err, errlen, "%zu MiB is more than the %zu MiB it reserves at most", bytes >> 20,
			 (size_t)RESERVE_MAX >> 20);
		return false;
	}
	/* Taking most of what is left would push the rest of the machine into
	 * swap or the OOM killer, for a speed-up. */
	if (avail && bytes > avail / 2) {
		snprintf(err, errlen, "%zu MiB is more than half of the %zu MiB the system has available",
			 bytes >> 20, avail >> 20);
		return false;
	}
	return true;
}

bool reserve_heap(size_t bytes, char *err, size_t errlen)
{
	if (!reserve_check(bytes, available_bytes(), err, errlen))
		return false;
#if defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	/* Blocks up to RESERVE_BLOCK_MAX from the heap (glibc would otherwise
	 * map blocks over 128 KiB of their own until its threshold adapts), and
	 * no trimming of free memory at the top of the heap below what is
	 * reserved: the reserve would go back to the system at the first free. */
	int trim = (int)(bytes * 2); /* bytes <= RESERVE_MAX: fits */
	if (mallopt(M_MMAP_THRESHOLD, (int)RESERVE_BLOCK_MAX) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, trim) != 1) {
		snprintf(err, errlen, "the allocator does not take mallopt settings");
		return false;
	}
	size_t n = (bytes + RESERVE_STEP - 1) / RESERVE_STEP;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t got = 0;
	void *chain = NULL; /* the blocks so far, each holding the previous one's address */
	for (; got < n; got++) {
		unsigned char *b = malloc(RESERVE_STEP);
		if (!b)
			break;
		/* One write per page makes the kernel back it. */
		for (size_t off = 0; off < RESERVE_STEP; off += page)
			b[off] = 0;
		memcpy(b, &chain, sizeof chain);
		chain = b;
	}
	/* Freed, the blocks merge into free heap that stays in memory. */
	while (chain) {
		void *prev;
		memcpy(&prev, chain, sizeof prev);
		free(chain);
		chain = prev;
	}
	if (got < n) {
		/* Give back what was touched: nothing is kept on failure. */
		(void)mallopt(M_TRIM_THRESHOLD, RESERVE_TRIM_DEFAULT);
		(void)malloc_trim(0);
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
