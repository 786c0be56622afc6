/* view: the ways a decoded message is shown — one human line, an indented
 * verbose tree, and JSON (one object per message body, field names in
 * lowerCamelCase as Kafka's own JSON converters write them, int64 as JSON
 * numbers, uuids in Kafka's URL-safe unpadded base64 form).
 *
 * Record data: a records field whose node has synthesised children (record
 * batches / legacy messages added by the records decoder) is shown as an array
 * of those children; without children it is shown as raw bytes. */
#ifndef KT_VIEW_H
#define KT_VIEW_H

#include <stddef.h>

#include "proto/codec.h"
#include "proto/tree.h"
#include "util/buf.h"

enum view_bytes {
	VIEW_BYTES_AUTO = 0, /* a JSON string when printable UTF-8, else {"base64": "..."} */
	VIEW_BYTES_HEX,
	VIEW_BYTES_BASE64,
};

struct view_opts {
	enum view_bytes bytes;
	size_t max_bytes; /* shorten string/bytes values longer than this; 0 = no limit */
	/* JSON only: leave out the records array of each record batch (not of
	 * control batches, nor legacy messages). The store sets it where those
	 * records are rows of its records table and the raw frame is kept, so
	 * that record data is not stored a third time (docs/store.md). */
	bool omit_batch_records;
};

/* Parse "auto" / "hex" / "base64"; false when unknown. */
bool view_bytes_parse(const char *s, enum view_bytes *out);

/* JSON object for a body (or any struct) node. */
void view_json(struct buf *b, const struct tree *t, tree_ref root, const struct view_opts *o);
/* One record header as the JSON of a record has it: {"key":...,"value":...}
 * (value NULL: null). For the store's headers column, from lazy records. */
void view_json_record_header(struct buf *b, const uint8_t *key, int32_t key_len,
			     const uint8_t *value, int32_t value_len, const struct view_opts *o);
/* Indented "name: value" lines, one per field; arrays as name[i]. */
void view_verbose(struct buf *b, const struct tree *t, tree_ref root, int indent,
		  const struct view_opts *o);
/* One human line for one message, without a newline, e.g.
 * "Produce v7 request corr=12 client=rdkafka acks=-1 t1[0]: 3 records". */
void view_summary(struct buf *b, const struct codec_header *h, const struct tree *t, tree_ref root);
/* The key facts of a request/response pair, for exchange lines: topics and
 * partitions, record counts, error names (either root may be TREE_NONE). */
void view_facts(struct buf *b, int api_key, const struct tree *t_req, tree_ref req_root,
		const struct tree *t_resp, tree_ref resp_root);
/* The first non-zero error code anywhere in a response body (0 if none). */
int view_first_error(const struct tree *t, tree_ref root);

#endif
