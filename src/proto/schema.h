/* schema: the types of the tables generated from Kafka's JSON message schemas
 * (tools/gen_schema.py writes src/proto/generated/messages.c), and lookups over
 * them. One table entry describes a message (request or response of an API
 * key) across all its versions; each field carries the version ranges in which
 * it is present, nullable and tagged, exactly as the schema's "versions",
 * "nullableVersions", "taggedVersions" and "flexibleVersions" say.
 *
 * Version ranges are inclusive [min, max]; max is SCHEMA_VMAX for "N+", and
 * min > max (SCHEMA_NONE) for "none"/absent. */
#ifndef KT_SCHEMA_H
#define KT_SCHEMA_H

#include <stdint.h>
#include <stdbool.h>

#define SCHEMA_VMAX INT16_MAX
#define SCHEMA_NO_TAG (-1)

enum schema_type {
	SCHEMA_BOOL,
	SCHEMA_INT8,
	SCHEMA_INT16,
	SCHEMA_UINT16,
	SCHEMA_INT32,
	SCHEMA_UINT32,
	SCHEMA_INT64,
	SCHEMA_FLOAT64,
	SCHEMA_UUID,
	SCHEMA_STRING,
	SCHEMA_BYTES,
	SCHEMA_RECORDS,
	SCHEMA_STRUCT,  /* a nested struct (field->sub) */
	SCHEMA_ARRAY,   /* an array of field->elem (a primitive or SCHEMA_STRUCT) */
	SCHEMA_TYPE_COUNT
};

struct schema_vrange {
	int16_t min;
	int16_t max;
};

static inline bool schema_in(struct schema_vrange r, int v) { return v >= r.min && v <= r.max; }

struct schema_struct;

struct schema_field {
	const char *name;        /* Kafka's name, e.g. "PartitionIndex" */
	const char *json_name;   /* lowerCamelCase, e.g. "partitionIndex" */
	uint8_t type;            /* enum schema_type */
	uint8_t elem;            /* element type for SCHEMA_ARRAY */
	struct schema_vrange versions;
	struct schema_vrange nullable;
	struct schema_vrange tagged;   /* versions in which it is a tagged field */
	int32_t tag;                   /* SCHEMA_NO_TAG when never tagged */
	const char *dflt;              /* schema default as written, or NULL */
	const struct schema_struct *sub; /* fields of a struct / struct array */
	uint8_t flags;                 /* SCHEMA_F_* */
};

/* Field flags. */
#define SCHEMA_F_IGNORABLE 0x01
#define SCHEMA_F_MAPKEY    0x02
/* Field-level "flexibleVersions": "none": always written in the classic form,
 * even in flexible versions (RequestHeader's ClientId). */
#define SCHEMA_F_CLASSIC   0x04

struct schema_struct {
	const char *name;               /* e.g. "TopicProduceData" */
	const struct schema_field *fields;
	uint16_t nfields;
};

enum schema_kind { SCHEMA_REQUEST = 0, SCHEMA_RESPONSE = 1, SCHEMA_HEADER = 2 };

struct schema_message {
	int16_t api_key;
	uint8_t kind;                  /* enum schema_kind */
	const char *name;              /* "ProduceRequest" */
	struct schema_vrange valid;
	struct schema_vrange flexible;
	const struct schema_struct *root;
};

struct schema_api {
	int16_t api_key;
	const char *name;              /* "Produce" */
	const struct schema_message *request;
	const struct schema_message *response;
};

/* Generated tables (src/proto/generated/messages.c). */
extern const struct schema_api schema_apis[];
extern const unsigned schema_api_count;
/* RequestHeader / ResponseHeader from the schemas, for completeness. */
extern const struct schema_message schema_request_header;
extern const struct schema_message schema_response_header;

/* Lookups. NULL when the api key is unknown to this build. */
const struct schema_api *schema_api_find(int api_key);
const struct schema_message *schema_message_find(int api_key, enum schema_kind kind);
/* Api name for a key ("Produce"), or NULL. */
const char *schema_api_name(int api_key);
/* Api key for a name, case-insensitive, or -1. Accepts "Produce" and "produce". */
int schema_api_by_name(const char *name);
bool schema_is_flexible(const struct schema_message *m, int version);
const char *schema_type_name(enum schema_type t);

/* Error codes (src/proto/generated/errors.c, from error-codes.tsv), sorted
 * by code. */
struct schema_error {
	int16_t code;
	const char *name;
};
extern const struct schema_error schema_errors[];
extern const unsigned schema_error_count;
const char *schema_error_name(int code);   /* "NOT_LEADER_OR_FOLLOWER"; NULL if unknown */

#endif
