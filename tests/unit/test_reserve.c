/* Unit tests for util/reserve: the reserved memory is resident at once, and
 * blocks allocated after it are carved from it without page faults. */
#include "config.h"
#include "util/reserve.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#if !defined(__SANITIZE_ADDRESS__)
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

static long minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}
#endif

int main(void)
{
	char err[128] = "";
	/* Refused before anything is touched: over the most it reserves, and
	 * over half of what the system has available. */
	CHECK(!reserve_heap((size_t)RESERVE_MAX + 1, err, sizeof err));
	CHECK(strstr(err, "at most") != NULL);
	err[0] = '\0';
	CHECK(!reserve_check(60u << 20, 100u << 20, err, sizeof err));
	CHECK_EQ_STR(err, "60 MiB is more than half of the 100 MiB the system has available");
	err[0] = '\0';
	CHECK(reserve_check(50u << 20, 100u << 20, err, sizeof err));
	CHECK(reserve_check(RESERVE_MAX, 0, err, sizeof err)); /* available unknown */
	CHECK_EQ_STR(err, "");
#if defined(__SANITIZE_ADDRESS__)
	bool ok = reserve_heap(32u << 20, err, sizeof err);
	/* The sanitizer's allocator takes no mallopt settings: refused, said why. */
	CHECK(!ok);
	CHECK(strstr(err, "mallopt") != NULL);
#else
	long before = rss_kb();
	bool ok = reserve_heap(32u << 20, err, sizeof err);
	CHECK(ok);
	CHECK_EQ_STR(err, "");
	CHECK(rss_kb() - before >= 32 * 1024);

	/* 24 MiB of frame-sized blocks, every byte written: no page faults. */
	long f0 = minflt();
	void *b[48];
	for (int i = 0; i < 48; i++) {
		b[i] = malloc(512u << 10);
		CHECK(b[i] != NULL);
		if (b[i])
			memset(b[i], i, 512u << 10);
	}
	long faults = minflt() - f0;
	CHECK(faults < 64);
	if (faults >= 64)
		fprintf(stderr, "faults: %ld\n", faults);
	for (int i = 0; i < 48; i++)
		free(b[i]);
	/* Freed, they stay: the memory is still resident. */
	CHECK(rss_kb() - before >= 32 * 1024);
#endif
	return unit_done("test_reserve");
}
