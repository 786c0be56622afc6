/* store: the SQLite recording. Exchanges (stream/exchange.h) are handed to
 * store_append(), which copies the frames (large ones it takes over) into a
 * bounded queue and returns at once; the store's decoding thread decodes
 * them (codec + records, through the report module, so the stored JSON is
 * what `kafkatap decode --json` prints) and its writer thread writes them
 * in batched transactions (WAL, synchronous=NORMAL, prepared multi-row
 * statements); a checkpointer thread copies the WAL into the database file
 * beside it. The event loop of the proxy never waits on decoding or on disk
 * unless it asked to (STORE_FULL_BLOCK).
 *
 * The schema, its versions and migrations, the options and example queries
 * are documented in docs/store.md.
 *
 * Threads: store_open/store_close are called from one owner thread;
 * store_append, store_connection, store_connection_end,
 * store_connection_node, store_flush, store_reopen and store_get_counters
 * may be called from any thread while the store is open.
 *
 * Errors: an error while writing (disk full, read-only file, a lock held by
 * another process, a corrupt file) is logged once per distinct message with
 * the path and SQLite's own message, the exchanges of the failed batch are
 * counted in `errors`, and the store keeps accepting exchanges: what was
 * committed before stays committed (WAL), later batches are tried again. */
#ifndef KT_STORE_H
#define KT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "stream/exchange.h"

/* The schema version this build writes (docs/store.md, "Versions"). */
#define STORE_SCHEMA_VERSION 5
/* PRAGMA application_id of a kafkatap database ("KTap"). */
#define STORE_APPLICATION_ID 0x4b546170

#define STORE_DEFAULT_QUEUE_MAX 100000u                  /* exchanges */
#define STORE_DEFAULT_QUEUE_BYTES (256u * 1024 * 1024)   /* frame bytes */
#define STORE_DEFAULT_BATCH_ROWS 1000u
#define STORE_DEFAULT_BATCH_MS 50u

/* What is kept of record values: in records.value, in the stored JSON and
 * in the raw frames (whose record batches are re-encoded with the digests or
 * null values; a frame that cannot be re-encoded is not kept raw). */
enum store_redact {
	STORE_REDACT_NONE = 0, /* values as they are */
	STORE_REDACT_HASH,     /* "sha256:<64 hex digits>" of the value */
	STORE_REDACT_DROP,     /* NULL (the length stays in records.value_size) */
};

/* What store_append does when the queue is full. */
enum store_full {
	STORE_FULL_BLOCK = 0, /* wait for room (decode: no loss; the caller slows down) */
	STORE_FULL_DROP,      /* drop the exchange and count it in `dropped` (proxy) */
	STORE_FULL_PAUSE,     /* queue it whatever the queue holds: the caller stops
			       * its sources while store_queue_percent() >= 100 and
			       * resumes when it has come down (proxy --store-when-full
			       * pause: a complete recording, traffic slowed to its pace) */
};

struct store_opts {
	bool keep_raw;              /* store request_raw/response_raw (default true) */
	bool keep_records;          /* fill the records table (default true) */
	size_t max_value_bytes;     /* keep at most this much of each record key/value; 0 = all */
	enum store_redact values;   /* default STORE_REDACT_NONE */
	enum store_full when_full;  /* default STORE_FULL_BLOCK */
	size_t queue_max;           /* exchanges waiting; 0 = STORE_DEFAULT_QUEUE_MAX */
	size_t queue_max_bytes;     /* frame bytes waiting; 0 = STORE_DEFAULT_QUEUE_BYTES */
	uint64_t max_db_bytes;      /* cap on the file size; past it writes fail as "disk full"; 0 = none */
	unsigned batch_rows;        /* exchanges per transaction; 0 = STORE_DEFAULT_BATCH_ROWS */
	unsigned batch_ms;          /* longest a batch stays open; 0 = STORE_DEFAULT_BATCH_MS */
	unsigned busy_ms;           /* wait this long for another process's write lock; 0 = 5000 */
	/* Bulk load: on a file this session creates, build the secondary
	 * indexes (api, client id, error, topic) once at the end of the
	 * session instead of on every insert. The file can be read meanwhile,
	 * only slower; a recorder killed before the end leaves them to the next
	 * recorder that opens the file. Default false (store_open with o == NULL
	 * and mode "decode": true). */
	bool defer_indexes;
	/* Nice value for the store's threads (Linux keeps it per thread), so that
	 * a recording yields the CPU to forwarding; 0 = the creator's. */
	int thread_nice;
	/* Run the store's threads under SCHED_IDLE as well: they get a CPU only
	 * when nothing else wants it (a nice value still takes a share of a
	 * busy core). With the nice value kept if the policy is refused. */
	bool thread_idle;
	/* Where error messages go, called on the writer thread (or the caller's
	 * thread from store_open). NULL: "kafkatap: MSG\n" on stderr. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
};

void store_opts_default(struct store_opts *o);
/* "none" | "hash" | "drop"; false when unknown. */
bool store_redact_parse(const char *s, enum store_redact *out);
/* "block" | "drop"; false when unknown. */
bool store_full_parse(const char *s, enum store_full *out);

struct store;

/* Open (creating with mode 0600, or migrating an older schema) the database
 * at `path`, start a session row (mode: "decode", "proxy" or "sniff"; argv is
 * recorded as the command line) and start the writer thread. NULL on failure
 * with a message naming the path in err. o may be NULL for the defaults
 * (and defer_indexes when mode is "decode"). */
struct store *store_open(const char *path, const struct store_opts *o, const char *mode,
			 int argc, char **argv, char *err, size_t errlen);

/* A connection started (optional: an exchange on a connection not announced
 * is given a connection row on first sight). */
void store_connection(struct store *s, const struct exchange_conn *c, int64_t start_us);
/* A connection ended. reason: e.g. "client closed", "broker reset"; may be NULL. */
void store_connection_end(struct store *s, uint64_t conn_id, int64_t end_us,
			  uint64_t bytes_to_broker, uint64_t bytes_to_client, const char *reason);
/* The broker node id of a connection became known (or changed): a client's
 * first (bootstrap) connection is opened before the proxy knows which
 * broker it reaches. Sets connections.broker_node_id of the row of the
 * caller's conn_id (NULL when node_id < 0); call it before
 * store_connection_end. Queued in order with the other events, never
 * dropped and never waits for the disk. */
void store_connection_node(struct store *s, uint64_t conn_id, int32_t node_id);
/* Queue an exchange: copies what it needs and returns. Frames of 32 KiB and
 * more offered in x->own are taken over instead of copied (the member is set
 * to NULL), so call this after every other sink of the exchange. False when
 * it was dropped (STORE_FULL_DROP and the queue is full, or out of memory). */
bool store_append(struct store *s, const struct exchange *x);
/* May a large frame of `bytes` start to be gathered for this store? The
 * proxy asks before it gathers one, and sheds it when not (stream_shed):
 * one the store would drop once complete is then not gathered at all. A
 * large frame may fill the queue's limits only up to seven eighths: the
 * rest is for the small exchanges (which would be dropped otherwise, the
 * queue staying at the brim) and for large frames already being gathered.
 * Always true under STORE_FULL_PAUSE, and when the queue is empty. */
bool store_room_for_large(struct store *s, size_t bytes);

struct store_counters {
	uint64_t queued;          /* exchanges waiting in the queue now */
	uint64_t queued_bytes;    /* their frame bytes */
	uint64_t appended;        /* accepted by store_append */
	uint64_t written;         /* exchanges committed */
	uint64_t records;         /* record rows committed */
	uint64_t dropped;         /* refused by store_append (queue full / no memory) */
	uint64_t errors;          /* exchanges lost to write errors, plus failed operations */
	uint64_t batches;         /* transactions committed */
	uint64_t cpu_us;          /* CPU time of the store's threads so far (decoding + writer + checkpointer) */
	uint64_t writer_cpu_us;   /* of which the writer (SQLite) thread */
	char last_error[512];     /* "" when none */
};
/* How full the queue is, in percent of the larger of its two limits
 * (exchanges, bytes); over 100 only with STORE_FULL_PAUSE. */
unsigned store_queue_percent(struct store *s);
void store_get_counters(struct store *s, struct store_counters *c);

/* Wait until everything queued before this call is committed. 0 when the
 * last batch committed, -1 after an error (see last_error). */
int store_flush(struct store *s);
/* Close and reopen the file at the same path (log rotation, SIGHUP): the
 * current session is ended in the old file and a new session starts in the
 * new one. Asynchronous: it returns at once and the writer thread does it in
 * queue order; a failure is logged and counted, and the store keeps trying
 * to open the path on later batches. Returns -1 only when it could not be
 * queued. */
int store_reopen(struct store *s);
/* Drain the queue, commit everything, end the session row, stop the writer
 * thread and free. 0 when everything was written, -1 when some exchanges
 * were dropped or lost (counted and logged). */
int store_close(struct store *s);
/* store_close, and the final counters in *c (e.g. for a summary line). */
int store_close_counters(struct store *s, struct store_counters *c);
/* Path of the database. */
const char *store_path(const struct store *s);

/* Open a kafkatap database for reading (show, stats): the file must exist,
 * be a kafkatap database and have a schema version this build knows. Safe
 * while another process records into it (WAL). *version gets the schema
 * version (older versions are read as they are; columns added later are
 * absent). NULL with a message naming the path on failure. */
struct sqlite3;
struct sqlite3 *store_open_read(const char *path, int *version, char *err, size_t errlen);

/* A time for --since/--until: ISO 8601 in UTC ("2024-05-01",
 * "2024-05-01T10:00", "2024-05-01T10:00:00.250Z", a space instead of T) or
 * Unix seconds ("1714557600", "1714557600.25"), to microseconds since the
 * epoch. False when it is neither. */
bool store_parse_time(const char *s, int64_t *us);

/* Schema access, for tests and tools. The SQL of migration step `version`
 * (1..STORE_SCHEMA_VERSION): applying steps 1..n in order gives schema n. */
const char *store_migration_sql(int version);

#endif
