/* Unit tests for output/view: JSON, verbose and summary renderings of
 * messages decoded from hand-built frames, checked against strings worked
 * out by hand from the frames (docs/json.md describes the forms). */
#include "config.h"
#include "output/view.h"
#include "unit.h"

/* Metadata v1 response: one broker, one topic with an error, one partition. */
static const uint8_t metadata_v1[] = {
	0x00, 0x00, 0x00, 0x03,                         /* corr 3 */
	0x00, 0x00, 0x00, 0x01,                         /* brokers: 1 */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 'h', '1',   /* node 1, "h1" */
	0x00, 0x00, 0x23, 0x84, 0xff, 0xff,             /* port 9092, rack null */
	0x00, 0x00, 0x00, 0x01,                         /* controller 1 */
	0x00, 0x00, 0x00, 0x01,                         /* topics: 1 */
	0x00, 0x03, 0x00, 0x01, 't', 0x00,              /* UNKNOWN_TOPIC_OR_PARTITION, "t", false */
	0x00, 0x00, 0x00, 0x01,                         /* partitions: 1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00,             /* error 0, partition 0 */
	0x00, 0x00, 0x00, 0x01,                         /* leader 1 */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, /* replicas [1] */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, /* isr [1] */
};

static void test_metadata(void)
{
	struct tree t;
	struct codec_header h;
	struct codec_diag d;
	struct buf b;
	tree_ref root;
	tree_init(&t);
	buf_init(&b);
	CHECK_EQ_INT(codec_decode_response(metadata_v1, sizeof metadata_v1, 3, 1, &t, &h, &root, NULL,
					   &d),
		     CODEC_OK);
	view_json(&b, &t, root, NULL);
	CHECK_EQ_STR(buf_cstr(&b),
		     "{\"brokers\":[{\"nodeId\":1,\"host\":\"h1\",\"port\":9092,\"rack\":null}],"
		     "\"controllerId\":1,"
		     "\"topics\":[{\"errorCode\":3,\"name\":\"t\",\"isInternal\":false,"
		     "\"partitions\":[{\"errorCode\":0,\"partitionIndex\":0,\"leaderId\":1,"
		     "\"replicaNodes\":[1],\"isrNodes\":[1]}]}]}");

	buf_reset(&b);
	view_summary(&b, &h, &t, root);
	CHECK_EQ_STR(buf_cstr(&b),
		     "Metadata v1 response corr=3 brokers=1 topics=1 errors=UNKNOWN_TOPIC_OR_PARTITION");

	buf_reset(&b);
	view_verbose(&b, &t, root, 0, NULL);
	CHECK_EQ_STR(buf_cstr(&b), "brokers[0]:\n"
				   "  nodeId: 1\n"
				   "  host: \"h1\"\n"
				   "  port: 9092\n"
				   "  rack: null\n"
				   "controllerId: 1\n"
				   "topics[0]:\n"
				   "  errorCode: 3\n"
				   "  name: \"t\"\n"
				   "  isInternal: false\n"
				   "  partitions[0]:\n"
				   "    errorCode: 0\n"
				   "    partitionIndex: 0\n"
				   "    leaderId: 1\n"
				   "    replicaNodes[0]: 1\n"
				   "    isrNodes[0]: 1\n");
	CHECK_EQ_INT(view_first_error(&t, root), 3);

	/* The exchange facts: the request's topics, the response's errors. */
	static const uint8_t req[] = {0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02,
				      'k',  't',  0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't'};
	struct tree tq;
	struct codec_header hq;
	tree_ref rq;
	tree_init(&tq);
	CHECK_EQ_INT(codec_decode_request(req, sizeof req, &tq, &hq, &rq, NULL, &d), CODEC_OK);
	buf_reset(&b);
	view_summary(&b, &hq, &tq, rq);
	CHECK_EQ_STR(buf_cstr(&b), "Metadata v1 request corr=3 client=kt topics=1");
	/* A client id is whatever the client sent: one with a newline or a C1
	 * control (CSI, U+009B) is quoted and escaped, so it can neither start
	 * a line of its own in `-v` output nor drive the terminal. */
	static const uint8_t req_nl[] = {0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03,
					 'k',  '\n', 't',  0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't'};
	static const uint8_t req_c1[] = {0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00,
					 0x04, 'k',  0xc2, 0x9b, 't',  0x00, 0x00, 0x00, 0x01,
					 0x00, 0x01, 't'};
	struct tree tc;
	tree_init(&tc);
	CHECK_EQ_INT(codec_decode_request(req_nl, sizeof req_nl, &tc, &hq, &rq, NULL, &d), CODEC_OK);
	buf_reset(&b);
	view_summary(&b, &hq, &tc, rq);
	CHECK_EQ_STR(buf_cstr(&b), "Metadata v1 request corr=3 client=\"k\\nt\" topics=1");
	tree_reset(&tc);
	CHECK_EQ_INT(codec_decode_request(req_c1, sizeof req_c1, &tc, &hq, &rq, NULL, &d), CODEC_OK);
	buf_reset(&b);
	view_summary(&b, &hq, &tc, rq);
	CHECK_EQ_STR(buf_cstr(&b), "Metadata v1 request corr=3 client=\"k\\u009bt\" topics=1");
	tree_free(&tc);
	CHECK_EQ_INT(codec_decode_request(req, sizeof req, &tq, &hq, &rq, NULL, &d), CODEC_OK);
	buf_reset(&b);
	view_facts(&b, 3, &tq, rq, &t, root);
	CHECK_EQ_STR(buf_cstr(&b), "t errors=UNKNOWN_TOPIC_OR_PARTITION");
	buf_reset(&b);
	view_facts(&b, 3, &tq, rq, NULL, TREE_NONE);
	CHECK_EQ_STR(buf_cstr(&b), "t");
	tree_free(&tq);
	tree_free(&t);
	buf_free(&b);
}

/* A records decoder stand-in: one batch of two records, as src/records
 * lays them out (TREE_F_SYNTH nodes under the records field). */
static bool fake_records(struct tree *t, tree_ref node, size_t off, void *ctx)
{
	(void)off;
	(void)ctx;
	tree_ref batch = tree_add(t, node, NULL, NULL, SCHEMA_STRUCT);
	if (!batch)
		return false;
	t->nodes[batch].flags |= TREE_F_SYNTH;
	tree_ref bo = tree_add(t, batch, "baseOffset", NULL, SCHEMA_INT64);
	tree_ref rc = tree_add(t, batch, "recordCount", NULL, SCHEMA_INT32);
	tree_ref recs = tree_add(t, batch, "records", NULL, SCHEMA_ARRAY);
	if (!bo || !rc || !recs)
		return false;
	t->nodes[bo].v.i = 0;
	t->nodes[rc].v.i = 2;
	static const char *const values[] = {"hello", "\x00\x01"};
	for (int i = 0; i < 2; i++) {
		tree_ref r = tree_add(t, recs, NULL, NULL, SCHEMA_STRUCT);
		tree_ref o = r ? tree_add(t, r, "offset", NULL, SCHEMA_INT64) : 0;
		tree_ref k = o ? tree_add(t, r, "key", NULL, SCHEMA_BYTES) : 0;
		tree_ref v = k ? tree_add(t, r, "value", NULL, SCHEMA_BYTES) : 0;
		if (!v)
			return false;
		t->nodes[o].v.i = i;
		t->nodes[k].flags |= TREE_F_NULL;
		t->nodes[v].v.b.p = (const uint8_t *)values[i];
		t->nodes[v].v.b.len = i == 0 ? 5 : 2;
	}
	if (ctx) {
		/* Then a control batch (a transaction marker) and a legacy
		 * message, whose records the store's form keeps. */
		tree_ref cb = tree_add(t, node, NULL, NULL, SCHEMA_STRUCT);
		tree_ref ic = cb ? tree_add(t, cb, "isControl", NULL, SCHEMA_BOOL) : 0;
		tree_ref cr = ic ? tree_add(t, cb, "records", NULL, SCHEMA_ARRAY) : 0;
		tree_ref m = cr ? tree_add(t, cr, NULL, NULL, SCHEMA_STRUCT) : 0;
		tree_ref mo = m ? tree_add(t, m, "offset", NULL, SCHEMA_INT64) : 0;
		tree_ref lm = mo ? tree_add(t, node, NULL, NULL, SCHEMA_STRUCT) : 0;
		tree_ref lv = lm ? tree_add(t, lm, "value", NULL, SCHEMA_BYTES) : 0;
		if (!lv)
			return false;
		t->nodes[ic].v.i = 1;
		t->nodes[mo].v.i = 2;
		t->nodes[lv].v.b.p = (const uint8_t *)"old";
		t->nodes[lv].v.b.len = 3;
	}
	for (tree_ref c = batch; c < t->n; c++)
		t->nodes[c].flags |= TREE_F_SYNTH;
	return true;
}

static const uint8_t produce_v3[] = {
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',
	0xff, 0xff,                                     /* transactional id null */
	0xff, 0xff,                                     /* acks -1 */
	0x00, 0x00, 0x75, 0x30,                         /* timeout 30000 */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 't', '1',   /* topics: [t1] */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* partitions: [0] */
	0x00, 0x00, 0x00, 0x03, 0xfe, 0x01, 0x02};      /* records: 3 bytes */

static void test_produce(void)
{
	struct tree t;
	struct codec_header h;
	struct codec_diag d;
	struct buf b;
	tree_ref root;
	tree_init(&t);
	buf_init(&b);

	/* Records left raw. */
	CHECK_EQ_INT(codec_decode_request(produce_v3, sizeof produce_v3, &t, &h, &root, NULL, &d),
		     CODEC_OK);
	view_summary(&b, &h, &t, root);
	CHECK_EQ_STR(buf_cstr(&b), "Produce v3 request corr=12 client=rdkafka acks=-1 t1[0]: 3 bytes");
	buf_reset(&b);
	view_json(&b, &t, root, NULL);
	CHECK_EQ_STR(buf_cstr(&b), "{\"transactionalId\":null,\"acks\":-1,\"timeoutMs\":30000,"
				   "\"topicData\":[{\"name\":\"t1\",\"partitionData\":[{\"index\":0,"
				   "\"records\":{\"base64\":\"/gEC\"}}]}]}");
	struct view_opts hex = {.bytes = VIEW_BYTES_HEX};
	buf_reset(&b);
	view_verbose(&b, &t, root, 1, &hex);
	CHECK_EQ_STR(buf_cstr(&b), "  transactionalId: null\n"
				   "  acks: -1\n"
				   "  timeoutMs: 30000\n"
				   "  topicData[0]:\n"
				   "    name: \"t1\"\n"
				   "    partitionData[0]:\n"
				   "      index: 0\n"
				   "      records: hex:fe0102\n");

	/* Records decoded: shown generically, counted in the summary. */
	struct codec_opts o = {fake_records, NULL, 0};
	tree_reset(&t);
	CHECK_EQ_INT(codec_decode_request(produce_v3, sizeof produce_v3, &t, &h, &root, &o, &d),
		     CODEC_OK);
	buf_reset(&b);
	view_summary(&b, &h, &t, root);
	CHECK_EQ_STR(buf_cstr(&b), "Produce v3 request corr=12 client=rdkafka acks=-1 t1[0]: 2 records");
	buf_reset(&b);
	view_json(&b, &t, root, NULL);
	CHECK_EQ_STR(buf_cstr(&b),
		     "{\"transactionalId\":null,\"acks\":-1,\"timeoutMs\":30000,"
		     "\"topicData\":[{\"name\":\"t1\",\"partitionData\":[{\"index\":0,"
		     "\"records\":[{\"baseOffset\":0,\"recordCount\":2,\"records\":["
		     "{\"offset\":0,\"key\":null,\"value\":\"hello\"},"
		     "{\"offset\":1,\"key\":null,\"value\":{\"base64\":\"AAE=\"}}]}]}]}]}");
	buf_reset(&b);
	view_verbose(&b, &t, tree_child_at(&t, tree_child(&t, root, "topicData"), 0), 0, NULL);
	CHECK_EQ_STR(buf_cstr(&b), "name: \"t1\"\n"
				   "partitionData[0]:\n"
				   "  index: 0\n"
				   "  records[0]:\n"
				   "    baseOffset: 0\n"
				   "    recordCount: 2\n"
				   "    records[0]:\n"
				   "      offset: 0\n"
				   "      key: null\n"
				   "      value: \"hello\"\n"
				   "    records[1]:\n"
				   "      offset: 1\n"
				   "      key: null\n"
				   "      value: base64:AAE=\n");
	buf_reset(&b);
	view_facts(&b, 0, &t, root, NULL, TREE_NONE);
	CHECK_EQ_STR(buf_cstr(&b), "acks=-1 t1[0]: 2 records");
	CHECK_EQ_INT(view_first_error(&t, root), 0);

	/* The store's form: the batch without its records array... */
	struct view_opts store = {.omit_batch_records = true};
	buf_reset(&b);
	view_json(&b, &t, root, &store);
	CHECK_EQ_STR(buf_cstr(&b),
		     "{\"transactionalId\":null,\"acks\":-1,\"timeoutMs\":30000,"
		     "\"topicData\":[{\"name\":\"t1\",\"partitionData\":[{\"index\":0,"
		     "\"records\":[{\"baseOffset\":0,\"recordCount\":2}]}]}]}");
	/* ...but a control batch and a legacy message whole, as the store
	 * does not make records of them. */
	struct codec_opts o2 = {fake_records, &o2, 0};
	tree_reset(&t);
	CHECK_EQ_INT(codec_decode_request(produce_v3, sizeof produce_v3, &t, &h, &root, &o2, &d),
		     CODEC_OK);
	buf_reset(&b);
	view_json(&b, &t, tree_child(&t, tree_child_at(&t, tree_child(&t, tree_child_at(&t,
		  tree_child(&t, root, "topicData"), 0), "partitionData"), 0), "records"), &store);
	CHECK_EQ_STR(buf_cstr(&b), "[{\"baseOffset\":0,\"recordCount\":2},"
				   "{\"isControl\":true,\"records\":[{\"offset\":2}]},"
				   "{\"value\":\"old\"}]");
	tree_free(&t);
	buf_free(&b);
}

/* Value forms on a hand-made tree: uuid, bytes modes, truncation, float64,
 * int64 beyond 2^53, escapes, unknown tagged fields. */
static void test_forms(void)
{
	struct tree t;
	struct buf b;
	tree_init(&t);
	buf_init(&b);
	tree_ref r = tree_add(&t, TREE_NONE, NULL, NULL, SCHEMA_STRUCT);
	tree_ref id = tree_add(&t, r, "topicId", NULL, SCHEMA_UUID);
	for (int i = 0; i < 16; i++)
		t.nodes[id].v.uuid[i] = (uint8_t)i;
	tree_ref data = tree_add(&t, r, "data", NULL, SCHEMA_BYTES);
	t.nodes[data].v.b.p = (const uint8_t *)"\x00\x01\x02";
	t.nodes[data].v.b.len = 3;
	tree_ref text = tree_add(&t, r, "text", NULL, SCHEMA_STRING);
	t.nodes[text].v.b.p = (const uint8_t *)"say \"hello\" world";
	t.nodes[text].v.b.len = 17;
	tree_ref f = tree_add(&t, r, "ratio", NULL, SCHEMA_FLOAT64);
	t.nodes[f].v.f = 1.5;
	tree_ref tenth = tree_add(&t, r, "tenth", NULL, SCHEMA_FLOAT64);
	t.nodes[tenth].v.f = 0.1;
	tree_ref big = tree_add(&t, r, "offset", NULL, SCHEMA_INT64);
	t.nodes[big].v.i = 9007199254740993LL;
	tree_ref u = tree_add(&t, r, NULL, NULL, SCHEMA_BYTES);
	t.nodes[u].flags |= TREE_F_UNKNOWN_TAG;
	t.nodes[u].tag = 7;
	t.nodes[u].v.b.p = (const uint8_t *)"hi";
	t.nodes[u].v.b.len = 2;

	view_json(&b, &t, r, NULL);
	CHECK_EQ_STR(buf_cstr(&b), "{\"topicId\":\"AAECAwQFBgcICQoLDA0ODw\",\"data\":{\"base64\":\"AAEC\"},"
				   "\"text\":\"say \\\"hello\\\" world\",\"ratio\":1.5,\"tenth\":0.1,"
				   "\"offset\":9007199254740993,"
				   "\"_unknownTaggedFields\":[{\"tag\":7,\"data\":\"6869\"}]}");
	struct view_opts hex = {.bytes = VIEW_BYTES_HEX}, b64 = {.bytes = VIEW_BYTES_BASE64};
	buf_reset(&b);
	view_json(&b, &t, data, &hex);
	CHECK_EQ_STR(buf_cstr(&b), "\"000102\"");
	buf_reset(&b);
	view_json(&b, &t, data, &b64);
	CHECK_EQ_STR(buf_cstr(&b), "\"AAEC\"");
	struct view_opts cut = {.bytes = VIEW_BYTES_AUTO, .max_bytes = 5};
	buf_reset(&b);
	view_json(&b, &t, text, &cut);
	CHECK_EQ_STR(buf_cstr(&b), "{\"text\":\"say \\\"\",\"length\":17,\"truncated\":true}");
	buf_reset(&b);
	view_json(&b, &t, data, &(struct view_opts){.bytes = VIEW_BYTES_HEX, .max_bytes = 2});
	CHECK_EQ_STR(buf_cstr(&b), "{\"hex\":\"0001\",\"length\":3,\"truncated\":true}");
	buf_reset(&b);
	view_verbose(&b, &t, r, 0, &cut);
	CHECK_EQ_STR(buf_cstr(&b), "topicId: AAECAwQFBgcICQoLDA0ODw\n"
				   "data: base64:AAEC\n"
				   "text: \"say \\\"\" ... (17 bytes, truncated)\n"
				   "ratio: 1.5\n"
				   "tenth: 0.1\n"
				   "offset: 9007199254740993\n"
				   "unknown tag 7: hex:6869\n");

	enum view_bytes vb;
	CHECK(view_bytes_parse("hex", &vb) && vb == VIEW_BYTES_HEX);
	CHECK(view_bytes_parse("auto", &vb) && vb == VIEW_BYTES_AUTO);
	CHECK(view_bytes_parse("base64", &vb) && vb == VIEW_BYTES_BASE64);
	CHECK(!view_bytes_parse("raw", &vb));
	tree_free(&t);
	buf_free(&b);
}

/* Integers (written without printf) against printf, at every power of ten
 * and its neighbours, and at the int64 limits. */
static void test_integers(void)
{
	struct tree t;
	struct buf b, ref;
	tree_init(&t);
	buf_init(&b);
	buf_init(&ref);
	tree_ref r = tree_add(&t, TREE_NONE, NULL, NULL, SCHEMA_ARRAY);
	int64_t vals[80];
	size_t n = 0;
	vals[n++] = INT64_MIN;
	vals[n++] = INT64_MAX;
	vals[n++] = 0;
	for (int64_t p = 1; n < 75; p *= 10) {
		vals[n++] = p - 1;
		vals[n++] = p;
		vals[n++] = -p;
		vals[n++] = -(p - 1);
		if (p > INT64_MAX / 10)
			break;
	}
	buf_putc(&ref, '[');
	for (size_t i = 0; i < n; i++) {
		tree_ref c = tree_add(&t, r, NULL, NULL, SCHEMA_INT64);
		t.nodes[c].v.i = vals[i];
		buf_printf(&ref, "%s%lld", i ? "," : "", (long long)vals[i]);
	}
	buf_putc(&ref, ']');
	view_json(&b, &t, r, NULL);
	CHECK_EQ_STR(buf_cstr(&b), buf_cstr(&ref));
	tree_free(&t);
	buf_free(&b);
	buf_free(&ref);
}

int main(void)
{
	test_integers();
	test_metadata();
	test_produce();
	test_forms();
	return unit_done("test_view");
}
