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
	buf_free(&b);
	return unit_done("test_buf");
}
