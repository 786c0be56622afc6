/* unit.h: the tiny assertion layer every C unit test uses. Each CHECK that
 * fails prints file:line and the expression; main returns the failure count
 * so automake's test driver reports PASS/FAIL per program. */
#ifndef KT_UNIT_H
#define KT_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(expr)                                                                  \
	do {                                                                             \
		unit_checks++;                                                               \
		if (!(expr)) {                                                               \
			unit_failures++;                                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
		}                                                                            \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
	do {                                                                                      \
		long long va_ = (long long)(a), vb_ = (long long)(b);                                 \
		unit_checks++;                                                                        \
		if (va_ != vb_) {                                                                     \
			unit_failures++;                                                                  \
			fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, #a, va_, #b, vb_);                                        \
		}                                                                                     \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                                 \
	do {                                                                                   \
		const char *sa_ = (a), *sb_ = (b);                                                 \
		unit_checks++;                                                                     \
		if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                       \
			unit_failures++;                                                               \
			fprintf(stderr, "%s:%d: CHECK_EQ_STR failed:\n  got:      %s\n  expected: %s\n", \
				__FILE__, __LINE__, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");           \
		}                                                                                  \
	} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
