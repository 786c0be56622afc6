/* fuzz_stream: libFuzzer target for the stream layer (framing, correlation,
 * acks=0, SASL, resync) and everything downstream of it: each exchange is
 * decoded (codec + records) and formatted as a line, verbose and JSON.
 *
 * Input: a sequence of chunks [ctl u8][len u8][len bytes]; ctl bit 0 picks the
 * direction (client->broker or broker->client), bit 1 marks a gap before the
 * chunk, bit 2 makes the chunk 4x longer by repeating it (to reach frame
 * sizes), so arbitrary interleavings of both directions are explored; bit 7
 * writes what it can of the chunk straight into the frame being gathered
 * (stream_body_room/commit, the recording proxy's path); bit 6 first sheds
 * the frame being gathered (stream_shed) and passes what it can of the
 * chunk around the stream (stream_pass), as the proxy does when its
 * recording is full. The sink takes and
 * frees the frames offered in x->own of every other exchange, as the store
 * keeps them. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "output/report.h"
#include "stream/stream.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct report_decoded decoded;
static struct buf out;

static void on_exchange(void *ctx, const struct exchange *x)
{
	(void)ctx;
	report_decode(&decoded, x, NULL);
	buf_reset(&out);
	report_line(&out, &decoded);
	report_verbose(&out, &decoded);
	report_exchange_json(&out, &decoded);
	if (x->own && (x->seq & 1)) {
		free(x->own->request);
		free(x->own->response);
		x->own->request = x->own->response = NULL;
	}
}

static void feed(struct stream *s, enum stream_dir d, const uint8_t *p, size_t n, int64_t ts,
		 int write, int shed)
{
	if (shed) {
		(void)stream_shed(s, d, ts);
		uint64_t room = stream_pass_room(s, d);
		size_t k = room < n ? (size_t)room : n;
		stream_pass(s, d, k);
		p += k;
		n -= k;
	}
	while (write && n) {
		uint8_t *at;
		size_t room = stream_body_room(s, d, &at, n);
		if (!room)
			break;
		size_t k = n < room ? n : room;
		memcpy(at, p, k);
		stream_body_commit(s, d, k, ts);
		p += k;
		n -= k;
	}
	stream_feed(s, d, p, n, ts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		report_init(&decoded);
		buf_init(&out);
		init = 1;
	}
	struct exchange_conn conn = {.id = 1, .client = "c", .broker = "b", .broker_node_id = -1};
	struct stream_sink sink = {.exchange = on_exchange, .notice = NULL, .ctx = NULL};
	/* Small limits so that the limit paths are reached with small inputs. */
	struct stream_config cfg = {.max_frame = 4096, .max_inflight = 8, .resync = (size & 1) != 0};
	struct stream *s = stream_new(&cfg, &sink, &conn);
	if (!s)
		return 0;
	size_t i = 0;
	int64_t ts = 1000000;
	uint8_t rep[4 * 255];
	while (size - i >= 2) {
		uint8_t ctl = data[i], len = data[i + 1];
		i += 2;
		if (len > size - i)
			len = (uint8_t)(size - i);
		enum stream_dir d = (ctl & 1) ? STREAM_TO_CLIENT : STREAM_TO_BROKER;
		if (ctl & 2)
			stream_gap(s, d, ctl >> 3, ts);
		if (ctl & 4) {
			for (int k = 0; k < 4; k++)
				memcpy(rep + k * len, data + i, len);
			feed(s, d, rep, (size_t)len * 4, ts, ctl & 0x80, ctl & 0x40);
		} else {
			feed(s, d, data + i, len, ts, ctl & 0x80, ctl & 0x40);
		}
		i += len;
		ts += 17;
	}
	stream_close(s, ts);
	stream_free(s);
	return 0;
}
