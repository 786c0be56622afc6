/* fuzz_args: libFuzzer target for the parsers of command-line values:
 * HOST:PORT addresses (src/net/netaddr.c, --listen, --upstream, --admin,
 * --broker-map), numbers and sizes (cli_parse_u64/size/i64: --max-frame,
 * --store-queue, ...), and the store and filter options (storeopt_parse,
 * filteropt_parse: --store-values, --api, --slower-than, ...).
 *
 * Input: [selector:1][text]; the text is cut at its first NUL. Selector % 4
 * picks the parser: address, number, store option, filter option; selector
 * / 4 then picks the variant (a default host or none; the limit; the
 * option, --api given 66 times to reach its cap of 64).
 *
 * Oracle (anything else aborts):
 *   - an address that parses has a host, formats, and the formatted form
 *     parses back to an equal address;
 *   - a number or size that parses is written in digits only (sizes: then
 *     k, M or G with optional i and B), and has the value those digits and
 *     that suffix say, within the limit given;
 *   - the option parsers answer 0, -1 or a usage status, nothing else. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/filteropt.h"
#include "cli/storeopt.h"
#include "net/netaddr.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_args: %s: '%s'\n", what, s);
	abort();
}

static void check_addr(const char *s, bool with_default)
{
	struct netaddr a, b;
	char err[600], text[NETADDR_STR_MAX + 8];
	if (!netaddr_parse(s, with_default ? "127.0.0.1" : NULL, &a, err, sizeof err)) {
		if (!err[0])
			fail("refused without saying why", s);
		return;
	}
	if (!a.host[0])
		fail("an address without a host", s);
	netaddr_format(&a, text, sizeof text);
	if (!netaddr_parse(text, NULL, &b, err, sizeof err))
		fail("the formatted address does not parse", text);
	if (!netaddr_equal(&a, &b) || strcmp(a.host, b.host) != 0 || a.port != b.port)
		fail("the formatted address parses to another", text);
}

/* What the digits of s[0..n) say, or false past max. */
static bool digits_value(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	*v = 0;
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (*v > (max - d) / 10)
			return false;
		*v = *v * 10 + d;
	}
	return true;
}

static void check_numbers(const char *s, unsigned sel)
{
	static const uint64_t maxes[4] = {UINT64_MAX, 65535, 1ull << 30, INT64_MAX};
	uint64_t max = maxes[sel & 3], got, want;
	size_t n = strlen(s);

	bool ok = cli_parse_u64(s, max, &got);
	bool valid = digits_value(s, n, max, &want);
	if (ok != valid || (ok && got != want))
		fail(ok ? "cli_parse_u64 accepted or misread" : "cli_parse_u64 refused", s);

	int64_t i64;
	ok = cli_parse_i64(s, &i64);
	valid = digits_value(s, n, INT64_MAX, &want);
	if (ok != valid || (ok && (uint64_t)i64 != want))
		fail(ok ? "cli_parse_i64 accepted or misread" : "cli_parse_i64 refused", s);

	/* Sizes: digits, then k/M/G with optional i and B. */
	size_t d = 0;
	while (d < n && s[d] >= '0' && s[d] <= '9')
		d++;
	uint64_t mul = 1;
	size_t k = d;
	if (k < n) {
		switch (s[k]) {
		case 'k': case 'K': mul = 1ull << 10; break;
		case 'm': case 'M': mul = 1ull << 20; break;
		case 'g': case 'G': mul = 1ull << 30; break;
		default: mul = 0; break;
		}
		k++;
		if (k < n && (s[k] == 'i' || s[k] == 'I'))
			k++;
		if (k < n && (s[k] == 'b' || s[k] == 'B'))
			k++;
	}
	valid = mul && k == n && digits_value(s, d, UINT64_MAX, &want) && want <= max / mul;
	ok = cli_parse_size(s, max, &got);
	if (ok != valid || (ok && got != want * mul))
		fail(ok ? "cli_parse_size accepted or misread" : "cli_parse_size refused", s);
}

static void check_options(const char *s, bool store, unsigned sel)
{
	static const int store_codes[] = {STOREOPT_NO_RAW,	 STOREOPT_NO_RECORDS,
					  STOREOPT_MAX_VALUE,	 STOREOPT_VALUES,
					  STOREOPT_WHEN_FULL,	 STOREOPT_QUEUE};
	static const int filter_codes[] = {FILTEROPT_API, FILTEROPT_TOPIC, FILTEROPT_CLIENT_ID,
					   FILTEROPT_ERRORS, FILTEROPT_SLOWER};
	/* Usage errors print the command's usage: keep stderr for findings. */
	static int saved = -1, devnull = -1;
	if (saved < 0) {
		saved = dup(2);
		devnull = open("/dev/null", O_WRONLY);
		if (saved < 0 || devnull < 0)
			abort();
	}
	fflush(stderr);
	dup2(devnull, 2);
	int r;
	if (store) {
		struct store_opts o;
		store_opts_default(&o);
		r = storeopt_parse("decode", store_codes[sel % 6], s, &o);
	} else {
		struct report_filter f;
		memset(&f, 0, sizeof f);
		f.slower_than_us = -1;
		/* Up to REPORT_MAX_APIS + 2 --api options, so the cap is reached. */
		int times = sel % 5 == 0 ? REPORT_MAX_APIS + 2 : 1;
		r = 0;
		for (int i = 0; i < times && r == 0; i++)
			r = filteropt_parse("decode", filter_codes[sel % 5], s, &f);
		if (f.napis > REPORT_MAX_APIS)
			abort();
	}
	fflush(stderr);
	dup2(saved, 2);
	if (r != 0 && r != -1 && r != 2)
		fail("an option parser answered something else", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	size_t n = strnlen((const char *)data + 1, size - 1);
	char *s = malloc(n + 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	switch (sel & 3) {
	case 0:
		check_addr(s, (sel >> 2) & 1);
		break;
	case 1:
		check_numbers(s, sel >> 2);
		break;
	default:
		check_options(s, (sel & 3) == 2, sel >> 2);
		break;
	}
	free(s);
	return 0;
}
