/* Unit tests for util/buf: growth, JSON escaping, hex, base64, UTF-8 checks. */
#include "config.h"
#include "util/buf.h"
#include "unit.h"

int main(void)
{
	struct buf b;
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	CHECK(!b.failed);
	CHECK(b.len > 3000);
	CHECK(strncmp(buf_cstr(&b), "0,1,2,", 6) == 0);

	buf_reset(&b);
	buf_json_string(&b, (const uint8_t *)"a\"b\\c\n\x01\xff", 8);
	CHECK_EQ_STR(buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\\u00ff\"");

	buf_reset(&b);
	buf_json_cstr(&b, "caf\xc3\xa9");
	CHECK_EQ_STR(buf_cstr(&b), "\"caf\xc3\xa9\"");

	buf_reset(&b);
	buf_hex(&b, (const uint8_t *)"\x00\xab\x10", 3);
	CHECK_EQ_STR(buf_cstr(&b), "00ab10");

	const char *b64in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *b64out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		buf_reset(&b);
		buf_base64(&b, (const uint8_t *)b64in[i], strlen(b64in[i]));
		CHECK_EQ_STR(buf_cstr(&b), b64out[i]);
	}

	CHECK(buf_is_printable_utf8((const uint8_t *)"hello\tworld", 11));
	CHECK(!buf_is_printable_utf8((const uint8_t *)"a\x00z", 3));
	CHECK(!buf_is_printable_utf8((const uint8_t *)"\xc0\x80", 2));     /* overlong */
	CHECK(!buf_is_printable_utf8((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
	CHECK(buf_is_printable_utf8((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	CHECK(!buf_is_printable_utf8((const uint8_t *)"\xf0\x9f\x98", 3)); /* truncated */

	/* Words printed bare in lines: no white space, no C0, DEL or C1. */
	CHECK(buf_is_plain_word((const uint8_t *)"orders-v2", 9, false));
	CHECK(buf_is_plain_word((const uint8_t *)"caf\xc3\xa9", 5, false));
	CHECK(buf_is_plain_word((const uint8_t *)"\xc2\xa0x", 3, false)); /* U+00A0 is text */
	CHECK(!buf_is_plain_word((const uint8_t *)"", 0, false));
	CHECK(!buf_is_plain_word((const uint8_t *)"a b", 3, false));
	CHECK(buf_is_plain_word((const uint8_t *)"a b", 3, true));
	CHECK(!buf_is_plain_word((const uint8_t *)"a\tb", 3, true));
	CHECK(!buf_is_plain_word((const uint8_t *)"a\nFAKE", 6, false));
	CHECK(!buf_is_plain_word((const uint8_t *)"a\x1b[2J", 6, false));
	CHECK(!buf_is_plain_word((const uint8_t *)"a\x7f", 2, false));
	CHECK(!buf_is_plain_word((const uint8_t *)"\xc2\x9b" "2J", 4, false)); /* C1 CSI */

	/* The fast paths (32-byte AVX2 steps where the CPU has them, 16- and
	 * 8-byte steps, overlapping tails) against a
	 * byte-by-byte reference: one special byte at every position of every
	 * length from 0 to 70. */
	static const uint8_t specials[] = {'"', '\\', '\n', 0x00, 0x1f, 0x7f, 0x80, 0xc3, 0xff};
	uint8_t in[72];
	struct buf ref;
	buf_init(&ref);
	for (size_t n = 0; n <= 70; n++) {
		for (size_t k = 0; k < n; k++)
			in[k] = (uint8_t)('a' + k % 26);
		buf_reset(&b);
		CHECK(buf_json_plain(&b, in, n));
		buf_reset(&ref);
		buf_json_string(&ref, in, n);
		CHECK_EQ_STR(buf_cstr(&b), buf_cstr(&ref));
		CHECK(buf_is_printable_utf8(in, n));
		for (size_t pos = 0; pos < n; pos++) {
			for (size_t s = 0; s < sizeof specials; s++) {
				in[pos] = specials[s];
				buf_reset(&b);
				buf_putc(&b, 'x');
				CHECK(!buf_json_plain(&b, in, n));
				CHECK_EQ_INT(b.len, 1); /* refused: nothing appended */
				/* The escaping reference, byte by byte. */
				buf_reset(&ref);
				buf_putc(&ref, '"');
				bool printable = true;
				for (size_t k = 0; k < n; k++) {
					uint8_t c = in[k];
					if (c == '"' || c == '\\')
						buf_printf(&ref, "\\%c", c);
					else if (c == '\n')
						buf_puts(&ref, "\\n");
					else if (c < 0x20 || c >= 0x7f)
						buf_printf(&ref, "\\u%04x", c);
					else
						buf_putc(&ref, (char)c);
					if ((c < 0x20 && c != '\n') || c >= 0x7f)
						printable = false;
				}
				buf_putc(&ref, '"');
				buf_reset(&b);
				buf_json_string(&b, in, n);
				CHECK_EQ_STR(buf_cstr(&b), buf_cstr(&ref));
				CHECK(buf_is_printable_utf8(in, n) == printable);
			}
			in[pos] = (uint8_t)('a' + pos % 26);
		}
	}
	buf_free(&ref);
	buf_free(&b);
	return unit_done("test_buf");
}
