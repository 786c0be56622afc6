/* schema: lookups over the tables that tools/gen_schema.py generates from
 * Kafka's JSON message schemas (see schema.h and docs/codec.md). The tables
 * are sorted by api key and by error code, so every lookup is a direct index
 * when the keys are dense (they are today) and a binary search otherwise. */
#include "config.h"
#include "proto/schema.h"

#include <stddef.h>
#include <strings.h>

const struct schema_api *schema_api_find(int api_key)
{
	if (api_key < 0)
		return NULL;
	/* Api keys 0..N-1 are all assigned today, so this usually hits at once. */
	if ((unsigned)api_key < schema_api_count && schema_apis[api_key].api_key == api_key)
		return &schema_apis[api_key];
	unsigned lo = 0, hi = schema_api_count;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (schema_apis[mid].api_key < api_key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < schema_api_count && schema_apis[lo].api_key == api_key)
		return &schema_apis[lo];
	return NULL;
}

const struct schema_message *schema_message_find(int api_key, enum schema_kind kind)
{
	const struct schema_api *a = schema_api_find(api_key);
	if (!a)
		return NULL;
	switch (kind) {
	case SCHEMA_REQUEST:
		return a->request;
	case SCHEMA_RESPONSE:
		return a->response;
	default:
		return NULL;
	}
}

const char *schema_api_name(int api_key)
{
	const struct schema_api *a = schema_api_find(api_key);
	return a ? a->name : NULL;
}

int schema_api_by_name(const char *name)
{
	if (!name)
		return -1;
	for (unsigned i = 0; i < schema_api_count; i++)
		if (strcasecmp(schema_apis[i].name, name) == 0)
			return schema_apis[i].api_key;
	return -1;
}

bool schema_is_flexible(const struct schema_message *m, int version)
{
	return m && schema_in(m->flexible, version);
}

const char *schema_type_name(enum schema_type t)
{
	/* The names Kafka's schemas use, so messages read like the spec. */
	static const char *const names[SCHEMA_TYPE_COUNT] = {
		[SCHEMA_BOOL] = "bool",       [SCHEMA_INT8] = "int8",       [SCHEMA_INT16] = "int16",
		[SCHEMA_UINT16] = "uint16",   [SCHEMA_INT32] = "int32",     [SCHEMA_UINT32] = "uint32",
		[SCHEMA_INT64] = "int64",     [SCHEMA_FLOAT64] = "float64", [SCHEMA_UUID] = "uuid",
		[SCHEMA_STRING] = "string",   [SCHEMA_BYTES] = "bytes",     [SCHEMA_RECORDS] = "records",
		[SCHEMA_STRUCT] = "struct",   [SCHEMA_ARRAY] = "array",
	};
	if ((unsigned)t >= SCHEMA_TYPE_COUNT)
		return "unknown";
	return names[t];
}

const char *schema_error_name(int code)
{
	if (schema_error_count == 0)
		return NULL;
	/* Codes run from -1 upwards with few gaps: try the dense position first. */
	int first = schema_errors[0].code;
	if (code >= first && (unsigned)(code - first) < schema_error_count &&
	    schema_errors[code - first].code == code)
		return schema_errors[code - first].name;
	unsigned lo = 0, hi = schema_error_count;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (schema_errors[mid].code < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < schema_error_count && schema_errors[lo].code == code)
		return schema_errors[lo].name;
	return NULL;
}
