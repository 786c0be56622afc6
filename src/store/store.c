/* store: the SQLite recording (see store.h and docs/store.md).
 *
 *   store_append ──copy──> queue (bounded) ──> decoding thread: decode (report
 *                                              │ module), redact, copy the row's and
 *                                              │ its records' values; free written items
 *                     decoded (two chunks) <───┘
 *                            └──> writer thread: INSERT ... in batches
 *                                   └─ WAL ──> checkpointer thread (its own connection)
 *
 * Only the writer thread touches the writer's sqlite3 handle once
 * store_open has returned. Connection rows are keyed by the caller's per-session connection
 * id through a small hash map owned by the writer. */
#include "config.h"
#include "store/store.h"
#include "store/extract.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/schema.h"
#include "util/buf.h"
#include "util/prio.h"

/* The flag bits are stored in files: they must never change meaning. */
_Static_assert(EXCHANGE_UNANSWERED == 0x0001, "stored flag bit");
_Static_assert(EXCHANGE_ACKS0 == 0x0002, "stored flag bit");
_Static_assert(EXCHANGE_REQ_MALFORMED == 0x0008, "stored flag bit");
_Static_assert(EXCHANGE_RESP_MALFORMED == 0x0010, "stored flag bit");

/* ---- schema ------------------------------------------------------------ */

struct migration {
	int version;
	const char *description;
	const char *sql;
};

static const struct migration migrations[] = {
	{1, "sessions, connections, exchanges, records",
	 "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;\n"
	 "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL,\n"
	 "  description TEXT NOT NULL);\n"
	 "CREATE TABLE sessions(id INTEGER PRIMARY KEY, kafkatap_version TEXT NOT NULL,\n"
	 "  mode TEXT NOT NULL, command_line TEXT, started_us INTEGER NOT NULL, ended_us INTEGER);\n"
	 "CREATE TABLE connections(id INTEGER PRIMARY KEY,\n"
	 "  session_id INTEGER NOT NULL REFERENCES sessions(id), conn_id INTEGER NOT NULL,\n"
	 "  client_addr TEXT, broker_addr TEXT, broker_node_id INTEGER, started_us INTEGER,\n"
	 "  ended_us INTEGER, bytes_to_broker INTEGER, bytes_to_client INTEGER, close_reason TEXT);\n"
	 "CREATE TABLE exchanges(id INTEGER PRIMARY KEY,\n"
	 "  session_id INTEGER NOT NULL REFERENCES sessions(id),\n"
	 "  connection_id INTEGER REFERENCES connections(id), seq INTEGER, correlation_id INTEGER,\n"
	 "  api_key INTEGER, api_name TEXT, api_version INTEGER, client_id TEXT,\n"
	 "  request_us INTEGER, response_us INTEGER, latency_us INTEGER,\n"
	 "  request_size INTEGER, response_size INTEGER, error_code INTEGER,\n"
	 "  has_error INTEGER NOT NULL DEFAULT 0, flags INTEGER NOT NULL DEFAULT 0,\n"
	 "  request_raw BLOB, response_raw BLOB, request_json TEXT, response_json TEXT);\n"
	 "CREATE TABLE records(id INTEGER PRIMARY KEY,\n"
	 "  exchange_id INTEGER NOT NULL REFERENCES exchanges(id),\n"
	 "  direction TEXT NOT NULL CHECK(direction IN ('produce', 'fetch')),\n"
	 "  topic TEXT, partition INTEGER, \"offset\" INTEGER, timestamp INTEGER,\n"
	 "  key BLOB, value BLOB, headers_json TEXT);\n"
	 "CREATE INDEX exchanges_time ON exchanges(request_us);\n"
	 "CREATE INDEX exchanges_api ON exchanges(api_key, request_us);\n"
	 "CREATE INDEX records_topic ON records(topic, partition, \"offset\");\n"
	 "CREATE INDEX records_exchange ON records(exchange_id);\n"},
	{2, "error names, flag columns, key/value sizes, topic ids; client and error indexes",
	 "ALTER TABLE exchanges ADD COLUMN error_name TEXT;\n"
	 "UPDATE exchanges SET error_name = kt_error_name(error_code) WHERE error_code <> 0;\n"
	 "ALTER TABLE exchanges ADD COLUMN unanswered INTEGER\n"
	 "  GENERATED ALWAYS AS ((flags & 1) <> 0) VIRTUAL;\n"
	 "ALTER TABLE exchanges ADD COLUMN acks0 INTEGER\n"
	 "  GENERATED ALWAYS AS ((flags & 2) <> 0) VIRTUAL;\n"
	 "ALTER TABLE exchanges ADD COLUMN malformed INTEGER\n"
	 "  GENERATED ALWAYS AS ((flags & 24) <> 0) VIRTUAL;\n"
	 "ALTER TABLE records ADD COLUMN topic_id TEXT;\n"
	 "ALTER TABLE records ADD COLUMN key_size INTEGER;\n"
	 "ALTER TABLE records ADD COLUMN value_size INTEGER;\n"
	 "UPDATE records SET key_size = length(key), value_size = length(value);\n"
	 "CREATE TABLE flags(bit INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL);\n"
	 "CREATE INDEX exchanges_client ON exchanges(client_id, request_us);\n"
	 "CREATE INDEX exchanges_error ON exchanges(error_code) WHERE error_code <> 0;\n"},
	/* The time index cost a b-tree insert per exchange (a tenth of the
	 * writer's time) and served no query of show or stats: their time
	 * filters are on coalesce(request_us, response_us), which it cannot
	 * answer; ids follow recording order, which is close to time order. */
	{3, "drop the request time index",
	 "DROP INDEX IF EXISTS exchanges_time;\n"},
	/* The SQLite thread was the recording's bottleneck. Generated columns,
	 * even VIRTUAL ones, are computed on every INSERT (a seventh of the
	 * thread's time with those of version 2), and api_name, latency_us and
	 * has_error follow from other columns: the rows go to exchange_rows,
	 * without them, and `exchanges` becomes a view computing them (and the
	 * flag columns) when read; its WHERE clauses still reach the table's
	 * indexes. The time index comes back on the expression show's
	 * --since/--until filter on (version 3 dropped the one on request_us,
	 * which no query used); time and client id are the common queries. */
	{4, "exchanges becomes a view over exchange_rows (derived columns computed when read);"
	    " time index on coalesce(request_us, response_us)",
	 "CREATE TABLE exchange_rows(id INTEGER PRIMARY KEY,\n"
	 "  session_id INTEGER NOT NULL REFERENCES sessions(id),\n"
	 "  connection_id INTEGER REFERENCES connections(id), seq INTEGER, correlation_id INTEGER,\n"
	 "  api_key INTEGER, api_version INTEGER, client_id TEXT,\n"
	 "  request_us INTEGER, response_us INTEGER, request_size INTEGER, response_size INTEGER,\n"
	 "  error_code INTEGER, error_name TEXT, flags INTEGER NOT NULL DEFAULT 0,\n"
	 "  request_raw BLOB, response_raw BLOB, request_json TEXT, response_json TEXT);\n"
	 "INSERT INTO exchange_rows(id, session_id, connection_id, seq, correlation_id, api_key,\n"
	 "  api_version, client_id, request_us, response_us, request_size, response_size,\n"
	 "  error_code, error_name, flags, request_raw, response_raw, request_json, response_json)\n"
	 "SELECT id, session_id, connection_id, seq, correlation_id, api_key,\n"
	 "  api_version, client_id, request_us, response_us, request_size, response_size,\n"
	 "  error_code, error_name, flags, request_raw, response_raw, request_json, response_json\n"
	 "FROM exchanges ORDER BY id;\n"
	 "DROP TABLE exchanges;\n"
	 "CREATE VIEW exchanges AS SELECT id, session_id, connection_id, seq, correlation_id,\n"
	 "  api_key,\n"
	 "  CASE api_key\n"
	 "    WHEN 0 THEN 'Produce' WHEN 1 THEN 'Fetch' WHEN 2 THEN 'ListOffsets'\n"
	 "    WHEN 3 THEN 'Metadata' WHEN 4 THEN 'LeaderAndIsr' WHEN 5 THEN 'StopReplica'\n"
	 "    WHEN 6 THEN 'UpdateMetadata' WHEN 7 THEN 'ControlledShutdown'\n"
	 "    WHEN 8 THEN 'OffsetCommit' WHEN 9 THEN 'OffsetFetch'\n"
	 "    WHEN 10 THEN 'FindCoordinator' WHEN 11 THEN 'JoinGroup' WHEN 12 THEN 'Heartbeat'\n"
	 "    WHEN 13 THEN 'LeaveGroup' WHEN 14 THEN 'SyncGroup' WHEN 15 THEN 'DescribeGroups'\n"
	 "    WHEN 16 THEN 'ListGroups' WHEN 17 THEN 'SaslHandshake'\n"
	 "    WHEN 18 THEN 'ApiVersions' WHEN 19 THEN 'CreateTopics'\n"
	 "    WHEN 20 THEN 'DeleteTopics' WHEN 21 THEN 'DeleteRecords'\n"
	 "    WHEN 22 THEN 'InitProducerId' WHEN 23 THEN 'OffsetForLeaderEpoch'\n"
	 "    WHEN 24 THEN 'AddPartitionsToTxn' WHEN 25 THEN 'AddOffsetsToTxn'\n"
	 "    WHEN 26 THEN 'EndTxn' WHEN 27 THEN 'WriteTxnMarkers'\n"
	 "    WHEN 28 THEN 'TxnOffsetCommit' WHEN 29 THEN 'DescribeAcls'\n"
	 "    WHEN 30 THEN 'CreateAcls' WHEN 31 THEN 'DeleteAcls'\n"
	 "    WHEN 32 THEN 'DescribeConfigs' WHEN 33 THEN 'AlterConfigs'\n"
	 "    WHEN 34 THEN 'AlterReplicaLogDirs' WHEN 35 THEN 'DescribeLogDirs'\n"
	 "    WHEN 36 THEN 'SaslAuthenticate' WHEN 37 THEN 'CreatePartitions'\n"
	 "    WHEN 38 THEN 'CreateDelegationToken' WHEN 39 THEN 'RenewDelegationToken'\n"
	 "    WHEN 40 THEN 'ExpireDelegationToken' WHEN 41 THEN 'DescribeDelegationToken'\n"
	 "    WHEN 42 THEN 'DeleteGroups' WHEN 43 THEN 'ElectLeaders'\n"
	 "    WHEN 44 THEN 'IncrementalAlterConfigs'\n"
	 "    WHEN 45 THEN 'AlterPartitionReassignments'\n"
	 "    WHEN 46 THEN 'ListPartitionReassignments' WHEN 47 THEN 'OffsetDelete'\n"
	 "    WHEN 48 THEN 'DescribeClientQuotas' WHEN 49 THEN 'AlterClientQuotas'\n"
	 "    WHEN 50 THEN 'DescribeUserScramCredentials'\n"
	 "    WHEN 51 THEN 'AlterUserScramCredentials' WHEN 52 THEN 'Vote'\n"
	 "    WHEN 53 THEN 'BeginQuorumEpoch' WHEN 54 THEN 'EndQuorumEpoch'\n"
	 "    WHEN 55 THEN 'DescribeQuorum' WHEN 56 THEN 'AlterPartition'\n"
	 "    WHEN 57 THEN 'UpdateFeatures' WHEN 58 THEN 'Envelope'\n"
	 "    WHEN 59 THEN 'FetchSnapshot' WHEN 60 THEN 'DescribeCluster'\n"
	 "    WHEN 61 THEN 'DescribeProducers' WHEN 62 THEN 'BrokerRegistration'\n"
	 "    WHEN 63 THEN 'BrokerHeartbeat' WHEN 64 THEN 'UnregisterBroker'\n"
	 "    WHEN 65 THEN 'DescribeTransactions' WHEN 66 THEN 'ListTransactions'\n"
	 "    WHEN 67 THEN 'AllocateProducerIds' WHEN 68 THEN 'ConsumerGroupHeartbeat'\n"
	 "    WHEN 69 THEN 'ConsumerGroupDescribe' WHEN 70 THEN 'ControllerRegistration'\n"
	 "    WHEN 71 THEN 'GetTelemetrySubscriptions' WHEN 72 THEN 'PushTelemetry'\n"
	 "    WHEN 73 THEN 'AssignReplicasToDirs' WHEN 74 THEN 'ListClientMetricsResources'\n"
	 "    WHEN 75 THEN 'DescribeTopicPartitions' WHEN 76 THEN 'ShareGroupHeartbeat'\n"
	 "    WHEN 77 THEN 'ShareGroupDescribe' WHEN 78 THEN 'ShareFetch'\n"
	 "    WHEN 79 THEN 'ShareAcknowledge' WHEN 80 THEN 'AddRaftVoter'\n"
	 "    WHEN 81 THEN 'RemoveRaftVoter' WHEN 82 THEN 'UpdateRaftVoter'\n"
	 "    WHEN 83 THEN 'InitializeShareGroupState' WHEN 84 THEN 'ReadShareGroupState'\n"
	 "    WHEN 85 THEN 'WriteShareGroupState' WHEN 86 THEN 'DeleteShareGroupState'\n"
	 "    WHEN 87 THEN 'ReadShareGroupStateSummary'\n"
	 "  END AS api_name,\n"
	 "  api_version, client_id, request_us, response_us,\n"
	 "  response_us - request_us AS latency_us, request_size, response_size, error_code,\n"
	 "  coalesce(error_code, 0) <> 0 AS has_error, flags, request_raw, response_raw,\n"
	 "  request_json, response_json, error_name, (flags & 1) <> 0 AS unanswered,\n"
	 "  (flags & 2) <> 0 AS acks0, (flags & 24) <> 0 AS malformed\n"
	 "FROM exchange_rows;\n"
	 "CREATE INDEX exchanges_api ON exchange_rows(api_key, request_us);\n"
	 "CREATE INDEX exchanges_error ON exchange_rows(error_code) WHERE error_code <> 0;\n"
	 "CREATE INDEX exchanges_time ON exchange_rows(coalesce(request_us, response_us));\n"
	 "CREATE INDEX exchanges_client ON exchange_rows(client_id, request_us);\n"},
	/* A produced record's offset was the producer's numbering, 0..n-1 in
	 * every batch: no use to anyone, and it made records_topic's keys repeat
	 * so that each insert landed in the middle of the index. It is now the
	 * offset the broker's response assigned, or NULL; older rows cannot be
	 * given theirs in SQL, and a file must not mean two things by one
	 * column, so they become NULL. */
	{5, "records.offset of produced records: the offset the broker assigned, else NULL",
	 "UPDATE records SET \"offset\" = NULL WHERE direction = 'produce';\n"},
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof migrations[0])
_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

/* The secondary indexes of the current schema (the migrations create them;
 * a bulk load drops them on a new file and builds them at the end). */
static const char *const index_sql[] = {
	"CREATE INDEX IF NOT EXISTS exchanges_api ON exchange_rows(api_key, request_us)",
	"CREATE INDEX IF NOT EXISTS exchanges_error ON exchange_rows(error_code) WHERE error_code <> 0",
	"CREATE INDEX IF NOT EXISTS exchanges_time ON exchange_rows(coalesce(request_us, response_us))",
	"CREATE INDEX IF NOT EXISTS exchanges_client ON exchange_rows(client_id, request_us)",
	"CREATE INDEX IF NOT EXISTS records_topic ON records(topic, partition, \"offset\")",
	"CREATE INDEX IF NOT EXISTS records_exchange ON records(exchange_id)",
};
static const char *const index_names[] = {
	"exchanges_api", "exchanges_error", "exchanges_time", "exchanges_client", "records_topic",
	"records_exchange",
};
#define NINDEXES (sizeof index_sql / sizeof index_sql[0])
_Static_assert(sizeof index_sql / sizeof index_sql[0] == sizeof index_names / sizeof index_names[0],
	       "one name per index");

static int create_indexes(sqlite3 *db, char **em)
{
	int rc = SQLITE_OK;
	for (size_t i = 0; i < NINDEXES && rc == SQLITE_OK; i++)
		rc = sqlite3_exec(db, index_sql[i], NULL, NULL, em);
	return rc;
}

const char *store_migration_sql(int version)
{
	if (version < 1 || version > NMIGRATIONS)
		return NULL;
	return migrations[version - 1].sql;
}

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* kt_error_name(code): the Kafka error name, for migrations and queries. */
static void sql_error_name(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	const char *n = schema_error_name(sqlite3_value_int(argv[0]));
	if (n)
		sqlite3_result_text(ctx, n, -1, SQLITE_STATIC);
	else
		sqlite3_result_null(ctx);
}

/* The command line as one string, shell-quoted where needed. */
static void join_argv(struct buf *b, int argc, char **argv)
{
	for (int i = 0; i < argc && argv && argv[i]; i++) {
		const char *a = argv[i];
		if (i)
			buf_putc(b, ' ');
		if (*a && strcspn(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") == strlen(a)) {
			buf_puts(b, a);
			continue;
		}
		buf_putc(b, '\'');
		for (; *a; a++) {
			if (*a == '\'')
				buf_puts(b, "'\\''");
			else
				buf_putc(b, *a);
		}
		buf_putc(b, '\'');
	}
}

/* ---- the connection map (writer thread only) ---------------------------- */

struct conn_slot {
	uint64_t id;        /* caller's connection id + 1; 0 = empty */
	int64_t rowid;
	uint64_t batch;     /* batch that inserted the row (undone on rollback) */
};

struct conn_map {
	struct conn_slot *slots;
	size_t cap, n;  /* cap is a power of two */
};

static size_t conn_hash(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

static struct conn_slot *conn_find(struct conn_map *m, uint64_t id)
{
	if (!m->cap)
		return NULL;
	for (size_t i = conn_hash(id + 1, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].id == id + 1)
			return &m->slots[i];
		if (m->slots[i].id == 0)
			return NULL;
	}
}

static bool conn_put(struct conn_map *m, uint64_t id, int64_t rowid, uint64_t batch)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct conn_slot *ns = calloc(ncap, sizeof *ns);
		if (!ns)
			return false;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->slots[i].id)
				continue;
			size_t j = conn_hash(m->slots[i].id, ncap);
			while (ns[j].id)
				j = (j + 1) & (ncap - 1);
			ns[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = ns;
		m->cap = ncap;
	}
	size_t i = conn_hash(id + 1, m->cap);
	while (m->slots[i].id && m->slots[i].id != id + 1)
		i = (i + 1) & (m->cap - 1);
	if (!m->slots[i].id)
		m->n++;
	m->slots[i] = (struct conn_slot){id + 1, rowid, batch};
	return true;
}

/* Remove with backward-shift deletion, so probe chains stay intact. */
static void conn_del(struct conn_map *m, struct conn_slot *sl)
{
	size_t i = (size_t)(sl - m->slots);
	m->slots[i].id = 0;
	m->n--;
	for (size_t j = (i + 1) & (m->cap - 1); m->slots[j].id; j = (j + 1) & (m->cap - 1)) {
		size_t h = conn_hash(m->slots[j].id, m->cap);
		/* Move j back to i when its home is not in (i, j]. */
		bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (!between) {
			m->slots[i] = m->slots[j];
			m->slots[j].id = 0;
			i = j;
		}
	}
}

/* Forget rows inserted by a rolled-back batch. */
static void conn_undo_batch(struct conn_map *m, uint64_t batch)
{
	for (size_t i = 0; i < m->cap;) {
		if (m->slots[i].id && m->slots[i].batch == batch)
			conn_del(m, &m->slots[i]); /* may move another entry into i: look again */
		else
			i++;
	}
}

static void conn_clear(struct conn_map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

/* ---- queue items -------------------------------------------------------- */

enum item_kind { ITEM_EXCHANGE, ITEM_CONN, ITEM_CONN_END, ITEM_CONN_NODE, ITEM_FLUSH, ITEM_REOPEN };

/* Frames from this size up are taken over from the stream layer rather than
 * copied (exchange_own); smaller ones are copied into the item, which keeps
 * the stream's buffers in use for the next frame. */
#define STORE_TAKE_MIN (32u * 1024)

struct item {
	struct item *next;
	enum item_kind kind;
	struct exchange_conn conn;  /* ITEM_EXCHANGE, ITEM_CONN; conn.id for ITEM_CONN_END,
				     * conn.id and conn.broker_node_id for ITEM_CONN_NODE */
	struct exchange x;          /* ITEM_EXCHANGE: frames point into data[] */
	int64_t t_us;               /* ITEM_CONN start, ITEM_CONN_END end */
	uint64_t n0, n1;            /* ITEM_CONN_END bytes; ITEM_FLUSH ticket in n0 */
	size_t bytes;               /* frame bytes, for queued_bytes */
	struct decoded *dec;        /* ITEM_EXCHANGE: the row, from the decoding thread; or NULL */
	char reason[64];
	uint8_t *kept[2];           /* ITEM_EXCHANGE: frames taken over (exchange_own), or NULL */
	uint8_t data[];
};

/* ---- the store ---------------------------------------------------------- */

enum stmt_id {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INS_CONN, ST_END_CONN, ST_INS_EXCHANGE,
	ST_INS_RECORD, ST_END_SESSION, ST_NODE_CONN, ST_INS_EXCHANGES, ST_INS_RECORDS, ST_MAX_ID,
	ST_INS_EXCHANGE_ID, ST_INS_EXCHANGES_ID, ST_COUNT
};

/* The columns of an exchange row, in parameter order. */
#define EXCHANGE_COLUMNS                                                                    \
	"session_id, connection_id, seq, correlation_id, api_key, api_version, client_id,"  \
	" request_us, response_us, request_size, response_size, error_code, flags,"         \
	" request_raw, response_raw, request_json, response_json, error_name"
/* (api_name, latency_us, has_error: computed by the exchanges view.) Then
 * the id, bound only by the _ID statements, used when a row of the
 * statement is an exchange with records, whose records need its id (see
 * next_row_id); the other rows' ids are NULL there (SQLite numbers the row:
 * the largest id + 1). A statement binding the id costs every row about
 * 200 instructions more, so rows without records go without. */
#define XROW_COLS 19
#define XROW_ID 18
/* Exchange rows go in XROW_MULTI at a time (ST_INS_EXCHANGES, one multi-row
 * INSERT): SQLite's per-statement cost (opening and closing a cursor per
 * b-tree, the statement journal, halting) is about as large as a row's own
 * b-tree work, and is paid once per XROW_MULTI rows. */
#define XROW_MULTI 32

/* The columns of a record row, in parameter order. */
#define RECORD_COLUMNS                                                                      \
	"exchange_id, direction, topic, topic_id, partition, \"offset\", timestamp, key, value," \
	" headers_json, key_size, value_size"
#define REC_COLS 12
/* Records go in REC_MULTI at a time (ST_INS_RECORDS), for the same reason
 * as exchange rows: a Produce request or Fetch response usually carries
 * many, and a statement per record cost as much again as the record's own
 * table and index inserts. */
#define REC_MULTI 32

/* The hot inserts are INSERT OR ROLLBACK: a failing one (a constraint, a
 * full disk) ends the whole transaction, which run_batch does after any
 * error anyway. With the default (ABORT), which undoes just the failing
 * statement, SQLite keeps a statement journal (a savepoint opened and
 * released around every statement that writes several rows or indexes):
 * about 4% of the writer's instructions. */
static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INS_CONN] = "INSERT INTO connections(session_id, conn_id, client_addr, broker_addr,"
			" broker_node_id, started_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_END_CONN] = "UPDATE connections SET ended_us = ?2, bytes_to_broker = ?3,"
			" bytes_to_client = ?4, close_reason = ?5 WHERE id = ?1",
	[ST_INS_EXCHANGE] =
		"INSERT OR ROLLBACK INTO exchange_rows(" EXCHANGE_COLUMNS ")"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
		" ?17, ?18)",
	[ST_INS_EXCHANGE_ID] =
		"INSERT OR ROLLBACK INTO exchange_rows(" EXCHANGE_COLUMNS ", id)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
		" ?17, ?18, ?19)",
	[ST_INS_RECORD] = "INSERT OR ROLLBACK INTO records(" RECORD_COLUMNS ")"
			  " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_END_SESSION] = "UPDATE sessions SET ended_us = ?2 WHERE id = ?1",
	[ST_NODE_CONN] = "UPDATE connections SET broker_node_id = ?2 WHERE id = ?1",
	[ST_INS_EXCHANGES] = NULL, /* built by multi_insert_sql() */
	[ST_INS_EXCHANGES_ID] = NULL,
	[ST_INS_RECORDS] = NULL,
	[ST_MAX_ID] = "SELECT coalesce(max(id), 0) FROM exchange_rows",
};

/* "INSERT OR ROLLBACK INTO table(columns) VALUES(?, ...), ... (rows rows)": row r,
 * column c is parameter r * cols + c + 1. */
static char *multi_insert_sql(const char *table_columns, int rows, int cols)
{
	struct buf b;
	buf_init(&b);
	buf_printf(&b, "INSERT OR ROLLBACK INTO %s VALUES", table_columns);
	for (int r = 0; r < rows; r++) {
		buf_puts(&b, r ? ",(" : "(");
		for (int c = 0; c < cols; c++)
			buf_puts(&b, c ? ",?" : "?");
		buf_putc(&b, ')');
	}
	char *sql = b.failed ? NULL : strdup(buf_cstr(&b));
	buf_free(&b);
	return sql;
}

/* One SQL parameter of an exchange row. */
enum pval_type {
	PV_NULL, PV_INT, PV_TEXT, PV_BLOB,
	PV_CTEXT,   /* a text that lives as long as the program (a literal): never copied */
	PV_UNKNOWN, /* in `bound` only: not known (see bind_pvals) */
};
struct pval {
	enum pval_type type;
	int64_t i;          /* PV_INT */
	const void *p;      /* PV_TEXT, PV_BLOB, PV_CTEXT */
	size_t len;
};

/* An exchange row as the decoding thread made it, with its records (rec, an
 * allocation of its own: nrec rows of REC_COLS values): its texts and blobs
 * are copied into bytes[] (the decoder's own output is only valid until its
 * next exchange), so the SQLite thread binds them with SQLITE_STATIC. v[0]
 * and v[1] (session and connection row ids) and each record's exchange id
 * are the SQLite thread's to fill. */
struct decoded {
	struct pval v[XROW_COLS];
	size_t nrec;
	struct pval *rec;
	uint8_t bytes[];
};

/* Exchange items whose rows wait for the next multi-row INSERT (writer
 * thread); once written they are freed, or wait in `recs` if they have
 * records. */
struct xrows {
	struct item *it[XROW_MULTI];
	unsigned n;
	bool with_id;   /* one of them has records: its id is bound */
};

/* Exchange items whose rows are written and whose records wait for the
 * next multi-row INSERT of records (writer thread), linked through
 * item.next in queue order; `done` records of the first are written. */
struct xrecs {
	struct item *head, *tail;
	size_t done, n;   /* n: records waiting, over all the items */
};

struct store {
	char *path;
	struct store_opts o;
	char *mode;
	char *cmdline;

	/* Shared state, under `mu`. Two stages, each on its own thread (the
	 * two take about the same CPU time and the machine has two cores):
	 *   callers ─> queue (head..tail, bounded by the options) ─> decoding thread
	 *          ─> decoded (dhead..dtail, at most two chunks) ─> writer thread (SQLite) */
	pthread_mutex_t mu;
	pthread_cond_t nonempty;   /* the decoding thread waits for items */
	pthread_cond_t notfull;    /* STORE_FULL_BLOCK producers wait for room */
	pthread_cond_t flushed_cv; /* store_flush waits for its ticket */
	pthread_cond_t dnonempty;  /* the writer waits for decoded items */
	pthread_cond_t dnotfull;   /* the decoding thread waits for room in `decoded` */
	struct item *head, *tail;
	/* Exchanges not yet taken by the writer (in the queue, being decoded or
	 * decoded), their frame bytes: what queue_max and queue_max_bytes bound. */
	size_t q_exchanges, q_bytes;
	struct item *dhead, *dtail;
	/* Items the writer is done with, freed by the decoding thread: freeing
	 * (the frames, the row) was a twentieth of the SQLite thread's time,
	 * and the decoding thread has time to spare. */
	struct item *to_free;
	size_t dn, dn_exchanges, dn_bytes; /* items in dhead..dtail, of which exchanges, their bytes */
	bool stopping;
	bool decoder_done;             /* the decoding thread has passed on everything */
	bool decoder_waiting;          /* the decoding thread sleeps on `nonempty` */
	bool writer_waiting;           /* the writer sleeps on `dnonempty` */
	unsigned producers_waiting;    /* store_append callers sleeping on `notfull` */
	uint64_t flush_next, flush_done;
	int flush_status;          /* 0, or -1 when a batch failed since the last flush */
	uint64_t appended, written, nrecords, dropped, errors, batches;
	uint64_t cpu_us;           /* writer thread CPU time */
	uint64_t decoder_cpu_us;   /* decoding thread CPU time */
	uint64_t ck_cpu_us;        /* checkpointer threads' CPU time: finished ones... */
	uint64_t ck_cpu_cur;       /* ...and the running one */
	char last_error[512];

	/* Decoding thread only. */
	pthread_t decoder;
	bool decoder_started;
	struct extract *dex;

	/* Writer thread only. */
	struct item *local;        /* decoded items taken, not yet written */
	pthread_t thread;
	bool thread_started;
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	int64_t session_id;
	struct conn_map conns;
	uint64_t batch_no;
	int64_t next_reopen_ms;    /* when db == NULL: next attempt */
	char logged[512];          /* last message logged */
	int64_t logged_ms;
	uint64_t suppressed;
	struct extract *ex;        /* for exchanges the decoding thread had no memory for */
	struct xrows rows;         /* exchange rows not yet INSERTed */
	struct xrecs recs;         /* records not yet INSERTed */
	struct item *done, *done_tail; /* items done with, for the decoding thread to free */
	struct pval bound_multi[XROW_MULTI * (XROW_COLS - 1)]; /* see bind_pvals */
	struct pval bound_one[XROW_COLS - 1];
	struct pval bound_multi_id[XROW_MULTI * XROW_COLS];
	struct pval bound_one_id[XROW_COLS];
	struct pval bound_rmulti[REC_MULTI * REC_COLS];
	struct pval bound_rone[REC_COLS];
	bool deferred;             /* the secondary indexes are to be built at session end */
	int wal_frames;            /* pages in the WAL after the last commit (wal_hook) */
	int wal_signalled;         /* wal_frames when the checkpointer was last woken */
	int64_t next_id;           /* the id of the next exchange row (see next_row_id)... */
	bool next_id_known;        /* ...when known in this batch */

	/* The checkpointer thread (see "checkpoints"), one per open file. ck_db
	 * is its own; the rest is under ck_mu. */
	pthread_t ck_thread;
	bool ck_started;
	sqlite3 *ck_db;
	pthread_mutex_t ck_mu;
	pthread_cond_t ck_cv;
	bool ck_run, ck_stop;
	char ck_err[512];          /* an error for the writer to log */
};

const char *store_path(const struct store *s)
{
	return s->path;
}

void store_opts_default(struct store_opts *o)
{
	memset(o, 0, sizeof *o);
	o->keep_raw = true;
	o->keep_records = true;
	o->values = STORE_REDACT_NONE;
	o->when_full = STORE_FULL_BLOCK;
}

bool store_redact_parse(const char *s, enum store_redact *out)
{
	if (strcmp(s, "none") == 0)
		*out = STORE_REDACT_NONE;
	else if (strcmp(s, "hash") == 0)
		*out = STORE_REDACT_HASH;
	else if (strcmp(s, "drop") == 0)
		*out = STORE_REDACT_DROP;
	else
		return false;
	return true;
}

bool store_full_parse(const char *s, enum store_full *out)
{
	if (strcmp(s, "block") == 0)
		*out = STORE_FULL_BLOCK;
	else if (strcmp(s, "drop") == 0)
		*out = STORE_FULL_DROP;
	else if (strcmp(s, "pause") == 0)
		*out = STORE_FULL_PAUSE;
	else
		return false;
	return true;
}

static void emit_log(const struct store *s, const char *msg)
{
	if (s->o.log)
		s->o.log(s->o.log_ctx, msg);
	else
		fprintf(stderr, "kafkatap: %s\n", msg);
}

/* Record an error (counted by the caller): remember it as last_error and log
 * it, unless the same message was logged less than 10 s ago. */
static void store_error(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void store_error(struct store *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&s->mu);
	snprintf(s->last_error, sizeof s->last_error, "%s", msg);
	pthread_mutex_unlock(&s->mu);
	int64_t t = mono_ms();
	if (strcmp(msg, s->logged) == 0 && t - s->logged_ms < 10000) {
		s->suppressed++;
		return;
	}
	if (s->suppressed) {
		char m2[600];
		snprintf(m2, sizeof m2, "%s (and %llu more times)", msg, (unsigned long long)s->suppressed);
		emit_log(s, m2);
	} else {
		emit_log(s, msg);
	}
	s->suppressed = 0;
	snprintf(s->logged, sizeof s->logged, "%s", msg);
	s->logged_ms = t;
}

/* "PATH: SQLite's message (what to do)". */
static const char *sqlite_hint(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return " (the disk, or the store's size limit, is full: free space or rotate the file)";
	case SQLITE_READONLY:
		return " (the file or its directory is read-only: check permissions and mount options)";
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return " (another process holds a write lock on the file)";
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return " (the file is damaged or not a SQLite database)";
	case SQLITE_CANTOPEN:
		return " (check that the directory exists and is writable)";
	case SQLITE_IOERR:
		return " (an I/O error from the operating system)";
	default:
		return "";
	}
}

static void db_error(struct store *s, sqlite3 *db, int rc, const char *what)
{
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	store_error(s, "store %s: %s: %s%s", s->path, what, msg, sqlite_hint(rc));
}

bool store_parse_time(const char *s, int64_t *us)
{
	char *end;
	if (!s || !*s)
		return false;
	if (strchr(s, '-') == NULL) {
		errno = 0;
		double v = strtod(s, &end);
		if (errno || *end || v < 0 || v > 1e13)
			return false;
		*us = (int64_t)(v * 1e6 + 0.5);
		return true;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int n = 0, year, mon, day, hh = 0, mm = 0, ss = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &year, &mon, &day, &n) != 3)
		return false;
	const char *p = s + n;
	long frac_us = 0;
	if (*p == 'T' || *p == ' ') {
		p++;
		int k = 0;
		if (sscanf(p, "%2d:%2d%n", &hh, &mm, &k) != 2)
			return false;
		p += k;
		if (*p == ':') {
			p++;
			if (sscanf(p, "%2d%n", &ss, &k) != 1)
				return false;
			p += k;
			if (*p == '.') {
				p++;
				long scale = 100000;
				while (*p >= '0' && *p <= '9') {
					frac_us += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
			}
		}
	}
	if (*p == 'Z')
		p++;
	else if (strcmp(p, "+00:00") == 0)
		p += 6;
	if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t t = timegm(&tm);
	*us = (int64_t)t * 1000000 + frac_us;
	return true;
}

/* ---- opening, creating, migrating --------------------------------------- */

static int exec_fmt(sqlite3 *db, char **errmsg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (!sql)
		return SQLITE_NOMEM;
	int rc = sqlite3_exec(db, sql, NULL, NULL, errmsg);
	sqlite3_free(sql);
	return rc;
}

/* sqlite3_exec, retried while another process holds a lock SQLite does not
 * wait for by itself (e.g. while a new file switches to WAL, its busy
 * handler is not called), for up to busy_ms. */
static int exec_retry(sqlite3 *db, const char *sql, char **em, unsigned busy_ms)
{
	int64_t until = mono_ms() + busy_ms;
	for (;;) {
		sqlite3_free(*em);
		*em = NULL;
		int rc = sqlite3_exec(db, sql, NULL, NULL, em);
		if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || mono_ms() >= until)
			return rc;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
}

static int pragma_int(sqlite3 *db, const char *pragma, int *out)
{
	sqlite3_stmt *st;
	char sql[128];
	snprintf(sql, sizeof sql, "PRAGMA %s", pragma);
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Bring the schema up to STORE_SCHEMA_VERSION from `have` (0 for a new
 * file). Runs inside the caller's transaction. */
static int migrate(sqlite3 *db, int have, char *err, size_t errlen, const char *path)
{
	for (int v = have + 1; v <= NMIGRATIONS; v++) {
		char *em = NULL;
		const struct migration *m = &migrations[v - 1];
		int rc = sqlite3_exec(db, m->sql, NULL, NULL, &em);
		if (rc == SQLITE_OK)
			rc = exec_fmt(db, &em,
				      "INSERT INTO schema_migrations(version, applied_us, description)"
				      " VALUES(%d, %lld, %Q);"
				      "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', %d);"
				      "PRAGMA user_version = %d;",
				      v, (long long)now_us(), m->description, v, v);
		if (rc == SQLITE_OK && v == 1)
			rc = exec_fmt(db, &em,
				      "INSERT INTO meta(key, value) VALUES('application', 'kafkatap');"
				      "INSERT INTO meta(key, value) VALUES('created_by', %Q);"
				      "PRAGMA application_id = %d;",
				      "kafkatap " PACKAGE_VERSION, STORE_APPLICATION_ID);
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s schema version %d: %s%s", path,
				 have ? "migrating to" : "creating", v,
				 em ? em : sqlite3_errmsg(db), sqlite_hint(rc));
			sqlite3_free(em);
			return -1;
		}
	}
	return 0;
}

/* The flags table mirrors EXCHANGE_FLAGS (new bits appear on open). */
static int write_flag_names(sqlite3 *db)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO flags(bit, name, description) VALUES(?1, ?2, ?3)",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
#define FLAG_ROW(name, bit, json, desc)                         \
	if (rc == SQLITE_OK || rc == SQLITE_DONE) {                 \
		sqlite3_bind_int(st, 1, bit);                           \
		sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);      \
		sqlite3_bind_text(st, 3, desc, -1, SQLITE_STATIC);      \
		rc = sqlite3_step(st);                                  \
		sqlite3_reset(st);                                      \
	}
	EXCHANGE_FLAGS(FLAG_ROW)
#undef FLAG_ROW
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Check that an existing file is a kafkatap database and return its
 * version (0 for an empty file). */
static int check_existing(sqlite3 *db, int *version, char *err, size_t errlen, const char *path)
{
	int app = 0, uv = 0, ntables = 0;
	int rc = pragma_int(db, "application_id", &app);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "user_version", &uv);
	if (rc == SQLITE_OK) {
		sqlite3_stmt *st;
		rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
		if (rc == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				ntables = sqlite3_column_int(st, 0);
			rc = sqlite3_finalize(st);
		}
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot read the database: %s%s", path, sqlite3_errmsg(db),
			 sqlite_hint(rc));
		return -1;
	}
	if (ntables == 0 && app == 0) {
		*version = 0;
		return 0;
	}
	if (app != STORE_APPLICATION_ID) {
		snprintf(err, errlen, "%s: not a kafkatap database (a SQLite file with other tables)",
			 path);
		return -1;
	}
	if (uv > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "%s: written by a newer kafkatap (schema version %d; this build knows up to %d)",
			 path, uv, STORE_SCHEMA_VERSION);
		return -1;
	}
	*version = uv;
	return 0;
}

static int insert_session(sqlite3 *db, const char *mode, const char *cmdline)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO sessions(kafkatap_version, mode, command_line,"
				    " started_us) VALUES(?1, ?2, ?3, ?4)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, PACKAGE_VERSION, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cmdline, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_us());
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Create the file with mode 0600 (SQLite gives its -wal and -shm files the
 * database file's mode), open it, bring its schema up to date and start a
 * session row (*session_id), in one transaction: a recorder takes the write
 * lock once to start, however busy the file is with other recorders. */
static sqlite3 *db_open(const char *path, uint64_t max_db_bytes, unsigned busy_ms, bool defer,
			bool *deferred, const char *mode, const char *cmdline, int64_t *session_id,
			char *err, size_t errlen)
{
	*deferred = false;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create or open: %s%s", path, strerror(errno),
			 errno == EROFS || errno == EACCES ? " (choose a writable location)" : "");
		return NULL;
	}
	close(fd);
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s%s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
			 sqlite_hint(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, (int)busy_ms);
	sqlite3_create_function(db, "kt_error_name", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				sql_error_name, NULL, NULL);
	char *em = NULL;
	int version = 0;
	/* journal_mode=WAL both reads the header (a non-database fails here) and
	 * switches the file to WAL. */
	rc = exec_retry(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			    " PRAGMA foreign_keys = OFF; PRAGMA cache_size = -32768;"
			    " PRAGMA wal_autocheckpoint = 10000;", &em, busy_ms);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s%s", path, em ? em : sqlite3_errmsg(db), sqlite_hint(rc));
		goto fail;
	}
	/* Check, create or migrate under the write lock, in one transaction:
	 * recorders starting together on a new file do not race, and a failed
	 * migration leaves the file as it was. */
	rc = exec_retry(db, "BEGIN IMMEDIATE", &em, busy_ms);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: taking the write lock: %s%s", path, em ? em : sqlite3_errmsg(db),
			 sqlite_hint(rc));
		goto fail;
	}
	if (check_existing(db, &version, err, errlen, path) < 0 ||
	    migrate(db, version, err, errlen, path) < 0)
		goto fail_rollback;
	if (defer && version == 0) {
		/* A new file for a bulk load: indexes are built once at the end. */
		for (size_t i = 0; i < NINDEXES && rc == SQLITE_OK; i++)
			rc = exec_fmt(db, &em, "DROP INDEX %s", index_names[i]);
		*deferred = rc == SQLITE_OK;
	} else {
		/* Also rebuilds any index a bulk load killed before its end left out. */
		rc = create_indexes(db, &em);
	}
	if (rc == SQLITE_OK)
		rc = write_flag_names(db);
	if (rc == SQLITE_OK) {
		rc = insert_session(db, mode, cmdline);
		*session_id = sqlite3_last_insert_rowid(db);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &em);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: writing the schema and starting a session: %s%s", path,
			 em ? em : sqlite3_errmsg(db), sqlite_hint(rc));
		goto fail_rollback;
	}
	if (max_db_bytes) {
		int page = 4096;
		pragma_int(db, "page_size", &page);
		uint64_t pages = max_db_bytes / (uint64_t)(page > 0 ? page : 4096);
		rc = exec_fmt(db, &em, "PRAGMA max_page_count = %llu",
			      (unsigned long long)(pages ? pages : 1));
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path, em ? em : sqlite3_errmsg(db));
			goto fail;
		}
	}
	sqlite3_free(em);
	return db;
fail_rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
	sqlite3_free(em);
	sqlite3_close(db);
	return NULL;
}

struct sqlite3 *store_open_read(const char *path, int *version, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return NULL;
	}
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open: %s%s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), sqlite_hint(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	sqlite3_create_function(db, "kt_error_name", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				sql_error_name, NULL, NULL);
	int app = 0, uv = 0;
	rc = pragma_int(db, "application_id", &app);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "user_version", &uv);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s%s", path, sqlite3_errmsg(db), sqlite_hint(rc));
	} else if (app != STORE_APPLICATION_ID || uv < 1) {
		snprintf(err, errlen, "%s: not a kafkatap database (record one with 'kafkatap decode -w' "
			 "or 'kafkatap proxy -w')", path);
	} else if (uv > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: written by a newer kafkatap (schema version %d; this build knows up to %d)",
			 path, uv, STORE_SCHEMA_VERSION);
	} else {
		*version = uv;
		return db;
	}
	sqlite3_close(db);
	return NULL;
}

static void finalize_stmts(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(s->st[i]);
		s->st[i] = NULL;
	}
}

/* Freshly prepared statements: nothing known bound (see bind_pvals). */
static void forget(struct pval *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i].type = PV_UNKNOWN;
}

#define FORGET(a) forget(a, sizeof(a) / sizeof((a)[0]))
static void bound_forget(struct store *s)
{
	FORGET(s->bound_multi);
	FORGET(s->bound_one);
	FORGET(s->bound_multi_id);
	FORGET(s->bound_one_id);
	FORGET(s->bound_rmulti);
	FORGET(s->bound_rone);
}
#undef FORGET

/* Each store thread lowers its own priority when asked (store_opts.
 * thread_nice, thread_idle). Failure only costs the caller's throughput. */
static void thread_priority(const struct store *s)
{
	prio_lower_thread(s->o.thread_nice, s->o.thread_idle);
}

/* ---- checkpoints (checkpointer thread) ---------------------------------- */

/* A checkpoint copies committed pages from the -wal file into the database
 * file and fsyncs both. SQLite's auto-checkpoint ran it on the writer
 * thread, inside the COMMIT that crossed wal_autocheckpoint pages: every
 * 40 MB written the writer stopped for the copy and two fsyncs (about a
 * tenth of the wall-clock time of a long recording on a disk). Instead a
 * thread with its own connection runs PASSIVE checkpoints, which never wait
 * for or block the writer or readers, each time the writer's commits have
 * added CKPT_FRAMES pages. A checkpoint that runs beside the writer never
 * catches up with it, and the WAL only starts over from its beginning when
 * a transaction begins with everything copied; so when the WAL reaches
 * WAL_MAX_FRAMES pages (what wal_autocheckpoint was) the writer runs a
 * PASSIVE checkpoint itself between two transactions. By then the
 * checkpointer has copied nearly everything: the writer only copies the
 * last pages and its next transaction restarts the WAL, which therefore
 * stays about as large as before. Durability is SQLite's: the same
 * checkpoints, the same fsyncs, on another thread. */
#define CKPT_FRAMES 1000
#define WAL_MAX_FRAMES 10000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	(void)db;
	(void)name;
	((struct store *)arg)->wal_frames = frames;
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct store *s = arg;
	thread_priority(s);
	pthread_mutex_lock(&s->ck_mu);
	for (;;) {
		while (!s->ck_run && !s->ck_stop)
			pthread_cond_wait(&s->ck_cv, &s->ck_mu);
		if (s->ck_stop)
			break;
		s->ck_run = false;
		pthread_mutex_unlock(&s->ck_mu);
		int rc = sqlite3_wal_checkpoint_v2(s->ck_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		struct timespec cpu;
		if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
			pthread_mutex_lock(&s->mu);
			s->ck_cpu_cur = (uint64_t)cpu.tv_sec * 1000000 + (uint64_t)cpu.tv_nsec / 1000;
			pthread_mutex_unlock(&s->mu);
		}
		pthread_mutex_lock(&s->ck_mu);
		/* BUSY: the writer is checkpointing itself. */
		if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && !s->ck_err[0])
			snprintf(s->ck_err, sizeof s->ck_err, "store %s: checkpointing the WAL: %s%s",
				 s->path, sqlite3_errmsg(s->ck_db), sqlite_hint(rc));
	}
	pthread_mutex_unlock(&s->ck_mu);
	return NULL;
}

/* Start the checkpointer for the file just opened. If it cannot start, the
 * writer keeps SQLite's auto-checkpoint (slower, but the same file). */
static void ckpt_start(struct store *s)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_timeout(db, (int)s->o.busy_ms);
		/* Reading the schema opens the WAL; synchronous as the writer's
		 * (it decides the checkpoint's fsyncs). */
		rc = sqlite3_exec(db, "PRAGMA synchronous = NORMAL; SELECT count(*) FROM sqlite_schema",
				  NULL, NULL, NULL);
	}
	s->ck_db = db;
	s->ck_run = s->ck_stop = false;
	s->ck_err[0] = '\0';
	if (rc == SQLITE_OK && pthread_create(&s->ck_thread, NULL, ckpt_main, s) == 0) {
		s->ck_started = true;
		s->wal_frames = s->wal_signalled = 0;
		/* Replaces the auto-checkpoint (itself a WAL hook). */
		sqlite3_wal_hook(s->db, wal_hook, s);
		return;
	}
	sqlite3_close(db);
	s->ck_db = NULL;
}

static void ckpt_stop(struct store *s)
{
	if (!s->ck_started)
		return;
	pthread_mutex_lock(&s->ck_mu);
	s->ck_stop = true;
	pthread_cond_signal(&s->ck_cv);
	pthread_mutex_unlock(&s->ck_mu);
	pthread_join(s->ck_thread, NULL);
	s->ck_started = false;
	pthread_mutex_lock(&s->mu);
	s->ck_cpu_us += s->ck_cpu_cur;
	s->ck_cpu_cur = 0;
	pthread_mutex_unlock(&s->mu);
	sqlite3_close(s->ck_db);
	s->ck_db = NULL;
	/* SQLite's auto-checkpoint for what is left to write (deferred
	 * indexes, the session's end); the close, now of the last connection,
	 * checkpoints everything and removes the WAL. */
	sqlite3_wal_autocheckpoint(s->db, WAL_MAX_FRAMES);
}

/* Writer, after a commit: wake the checkpointer, or checkpoint the rest
 * when the WAL is full enough to restart; log the checkpointer's errors. */
static void ckpt_after_commit(struct store *s)
{
	if (!s->ck_started)
		return;
	int n = s->wal_frames;
	if (n < s->wal_signalled)
		s->wal_signalled = 0; /* the WAL started over */
	bool wake = n - s->wal_signalled >= CKPT_FRAMES;
	char msg[512] = "";
	pthread_mutex_lock(&s->ck_mu);
	if (wake) {
		s->ck_run = true;
		s->wal_signalled = n;
		pthread_cond_signal(&s->ck_cv);
	}
	if (s->ck_err[0]) {
		snprintf(msg, sizeof msg, "%s", s->ck_err);
		s->ck_err[0] = '\0';
	}
	pthread_mutex_unlock(&s->ck_mu);
	if (msg[0])
		store_error(s, "%s", msg);
	if (n >= WAL_MAX_FRAMES) {
		int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		/* BUSY: the checkpointer is at it; the next commit tries again. */
		if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
			db_error(s, s->db, rc, "checkpointing the WAL");
	}
}

/* Open the file, prepare statements and start a session row. */
static int session_start(struct store *s, char *err, size_t errlen)
{
	int64_t session_id = 0;
	sqlite3 *db = db_open(s->path, s->o.max_db_bytes, s->o.busy_ms, s->o.defer_indexes,
			      &s->deferred, s->mode, s->cmdline, &session_id, err, errlen);
	if (!db)
		return -1;
	char *multi = multi_insert_sql("exchange_rows(" EXCHANGE_COLUMNS ")", XROW_MULTI, XROW_COLS - 1);
	char *multi_id = multi_insert_sql("exchange_rows(" EXCHANGE_COLUMNS ", id)", XROW_MULTI, XROW_COLS);
	char *rmulti = multi_insert_sql("records(" RECORD_COLUMNS ")", REC_MULTI, REC_COLS);
	for (int i = 0; i < ST_COUNT; i++) {
		const char *sql = i == ST_INS_EXCHANGES ? multi : i == ST_INS_EXCHANGES_ID ? multi_id
				: i == ST_INS_RECORDS ? rmulti : stmt_sql[i];
		int rc = sql ? sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL)
			     : SQLITE_NOMEM;
		if (rc != SQLITE_OK) {
			free(multi);
			free(multi_id);
			free(rmulti);
			snprintf(err, errlen, "%s: preparing a statement: %s", s->path, sqlite3_errmsg(db));
			finalize_stmts(s);
			sqlite3_close(db);
			return -1;
		}
	}
	free(multi);
	free(multi_id);
	free(rmulti);
	bound_forget(s);
	s->session_id = session_id;
	s->db = db;
	conn_clear(&s->conns);
	ckpt_start(s);
	return 0;
}

/* End the session row and close the file (writer thread, or store_open on failure). */
static void session_end(struct store *s)
{
	if (!s->db)
		return;
	ckpt_stop(s);
	if (s->deferred) {
		char *em = NULL;
		int rc = create_indexes(s->db, &em);
		if (rc != SQLITE_OK) {
			store_error(s, "store %s: building the indexes: %s%s (the next recorder to open "
				    "the file builds them)", s->path, em ? em : sqlite3_errmsg(s->db),
				    sqlite_hint(rc));
			pthread_mutex_lock(&s->mu);
			s->errors++;
			pthread_mutex_unlock(&s->mu);
		}
		sqlite3_free(em);
		s->deferred = false;
	}
	sqlite3_stmt *st = s->st[ST_END_SESSION];
	sqlite3_bind_int64(st, 1, s->session_id);
	sqlite3_bind_int64(st, 2, now_us());
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_error(s, s->db, rc, "ending the session");
		pthread_mutex_lock(&s->mu);
		s->errors++;
		pthread_mutex_unlock(&s->mu);
	}
	finalize_stmts(s);
	rc = sqlite3_close(s->db);
	if (rc != SQLITE_OK)
		store_error(s, "store %s: closing: %s", s->path, sqlite3_errstr(rc));
	s->db = NULL;
	conn_clear(&s->conns);
}

/* ---- writing (writer thread) -------------------------------------------- */

/* Step and reset. The hot inserts bind every parameter each time; others
 * have theirs cleared here. */
static int step_bound(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_error(s, s->db, rc, what);
		return -1;
	}
	return 0;
}

static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_error(s, s->db, rc, what);
		return -1;
	}
	return 0;
}

/* The row id of a connection, inserting it on first sight. */
static int64_t conn_row(struct store *s, const struct exchange_conn *c, int64_t start_us)
{
	struct conn_slot *sl = conn_find(&s->conns, c->id);
	if (sl)
		return sl->rowid;
	sqlite3_stmt *st = s->st[ST_INS_CONN];
	sqlite3_bind_int64(st, 1, s->session_id);
	sqlite3_bind_int64(st, 2, (int64_t)c->id);
	sqlite3_bind_text(st, 3, c->client, (int)strnlen(c->client, sizeof c->client), SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->broker, (int)strnlen(c->broker, sizeof c->broker), SQLITE_STATIC);
	if (c->broker_node_id >= 0)
		sqlite3_bind_int(st, 5, c->broker_node_id);
	if (start_us)
		sqlite3_bind_int64(st, 6, start_us);
	if (step_done(s, st, "inserting a connection") < 0)
		return -1;
	int64_t row = sqlite3_last_insert_rowid(s->db);
	if (!conn_put(&s->conns, c->id, row, s->batch_no)) {
		store_error(s, "store %s: out of memory", s->path);
		return -1;
	}
	return row;
}

struct record_ctx {
	struct store *s;
	int64_t exchange_row;
	int nrecords;
	int failed;
};

static void record_values(struct pval *v, const struct extract_record *r);
static void bind_pvals(sqlite3_stmt *st, struct pval *bound, int first, const struct pval *v,
		       int ncols);

/* Called by the decoder for every record of a Produce request / Fetch
 * response the writer decodes itself (the decoding thread was out of
 * memory). */
static bool put_record(void *ctx, const struct extract_record *r)
{
	struct record_ctx *rc = ctx;
	struct store *s = rc->s;
	sqlite3_stmt *st = s->st[ST_INS_RECORD];
	struct pval v[REC_COLS];
	record_values(v, r);
	v[0] = (struct pval){PV_INT, rc->exchange_row, NULL, 0};
	bind_pvals(st, s->bound_rone, 1, v, REC_COLS);
	if (step_bound(s, st, "inserting a record") < 0) {
		rc->failed = 1;
		return false;
	}
	rc->nrecords++;
	return true;
}

static void pv_int(struct pval *v, bool present, int64_t i)
{
	*v = (struct pval){present ? PV_INT : PV_NULL, i, NULL, 0};
}

/* A text or blob; NULL p: SQL NULL. */
static void pv_bytes(struct pval *v, enum pval_type t, const void *p, size_t n)
{
	*v = (struct pval){p ? t : PV_NULL, 0, p, n};
}

/* The parameters of an exchange's row; v[0] and v[1] (session and
 * connection) are left NULL for the writer. Texts and blobs point into d and
 * the item. */
static void row_values(struct pval *v, const struct exchange *x, const struct extract_out *d)
{
	pv_int(&v[0], false, 0);
	pv_int(&v[1], false, 0);
	pv_int(&v[2], true, (int64_t)x->seq);
	pv_int(&v[3], true, x->correlation_id);
	pv_int(&v[4], true, x->api_key);
	pv_int(&v[5], true, x->api_version);
	pv_bytes(&v[6], PV_TEXT, d->client_id, d->client_id_len);
	pv_int(&v[7], x->request_us != 0, x->request_us);
	pv_int(&v[8], x->response_us != 0, x->response_us);
	/* A frame not kept has its declared size (exchange.h). */
	pv_int(&v[9], x->request != NULL || x->request_len, x->request_len);
	pv_int(&v[10], x->response != NULL || x->response_len, x->response_len);
	/* A non-zero error code always comes with error_known, so the view's
	 * has_error (error_code <> 0) is what was stored before version 4. */
	pv_int(&v[11], x->response && d->error_known, d->error_code);
	pv_int(&v[12], true, (int64_t)(x->flags | d->flags));
	pv_bytes(&v[13], PV_BLOB, d->request_raw, d->request_raw_len);
	pv_bytes(&v[14], PV_BLOB, d->response_raw, d->response_raw_len);
	pv_bytes(&v[15], PV_TEXT, d->request_json, d->request_json_len);
	pv_bytes(&v[16], PV_TEXT, d->response_json, d->response_json_len);
	const char *en = d->error_code ? schema_error_name(d->error_code) : NULL;
	pv_bytes(&v[17], PV_CTEXT, en, en ? strlen(en) : 0);
	pv_int(&v[XROW_ID], false, 0);
}

/* The values of a record row; v[0] (the exchange's row id) is left NULL
 * for the writer. */
static void record_values(struct pval *v, const struct extract_record *r)
{
	pv_int(&v[0], false, 0);
	pv_bytes(&v[1], PV_CTEXT, r->fetch ? "fetch" : "produce", r->fetch ? 5 : 7);
	pv_bytes(&v[2], PV_TEXT, r->topic, r->topic_len);
	pv_bytes(&v[3], PV_TEXT, r->topic_id, r->topic_id ? strlen(r->topic_id) : 0);
	pv_int(&v[4], true, r->partition);
	pv_int(&v[5], r->has_offset, r->offset);
	pv_int(&v[6], r->has_timestamp, r->timestamp);
	pv_bytes(&v[7], PV_BLOB, r->key, r->key_len);
	pv_bytes(&v[8], r->value_text ? PV_TEXT : PV_BLOB, r->value, r->value_len);
	pv_bytes(&v[9], PV_TEXT, r->headers_json, r->headers_json_len);
	pv_int(&v[10], r->key_size >= 0, r->key_size);
	pv_int(&v[11], r->value_size >= 0, r->value_size);
}

/* decode_row: the rows of one exchange's records as they are made, into
 * the array it allocates for them. */
struct rec_rows {
	struct pval *v;
	size_t n, cap;   /* records */
	bool failed;
};

static bool collect_record(void *ctx, const struct extract_record *r)
{
	struct rec_rows *rs = ctx;
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 64;
		struct pval *nv = realloc(rs->v, nc * REC_COLS * sizeof *nv);
		if (!nv) {
			rs->failed = true;
			return false;
		}
		rs->v = nv;
		rs->cap = nc;
	}
	record_values(rs->v + rs->n++ * REC_COLS, r);
	return true;
}

/* Is [p, p+n) inside one of the exchange's frames? Those live in the queue
 * item as long as its decoded row does (item_free frees both), so values
 * there need no copy: the raw frames themselves, and the keys and values of
 * uncompressed records. Copying them was most of the decoding thread's
 * time with large Produce and Fetch frames (a copy into fresh memory, page
 * faults included), and twice their size in memory. */
static bool within(const uint8_t *frame, uint32_t len, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, f = (uintptr_t)frame;
	return frame && a >= f && a - f <= len && n <= len - (a - f);
}

static bool in_frames(const struct exchange *x, const void *p, size_t n)
{
	return within(x->request, x->request_len, p, n) || within(x->response, x->response_len, p, n);
}

/* Does value v need a copy (a text or blob outside the frames)? */
static bool copied(const struct pval *v, const struct exchange *x)
{
	return (v->type == PV_TEXT || v->type == PV_BLOB) && v->len && !in_frames(x, v->p, v->len);
}

/* Copy the texts and blobs of nrows rows of ncols values to *p, pointing
 * the values there, except those in the exchange's frames. A value with the
 * same source as the row before's in its column (the topic of the records
 * of one partition) shares its copy, so that bind_pvals can skip binding it
 * again. */
static void copy_pvals(struct pval *v, size_t nrows, int ncols, uint8_t **p,
		       const struct exchange *x)
{
	const void *src[REC_COLS > XROW_COLS ? REC_COLS : XROW_COLS] = {NULL};
	for (size_t r = 0; r < nrows; r++, v += ncols) {
		for (int c = 0; c < ncols; c++) {
			if (!copied(&v[c], x))
				continue;
			if (r && v[c].p == src[c] && v[c - ncols].type == v[c].type &&
			    v[c - ncols].len == v[c].len) {
				v[c].p = v[c - ncols].p;
				continue;
			}
			src[c] = v[c].p;
			memcpy(*p, v[c].p, v[c].len);
			v[c].p = *p;
			*p += v[c].len;
		}
	}
}

static size_t pvals_bytes(const struct pval *v, size_t n, const struct exchange *x)
{
	size_t b = 0;
	for (size_t c = 0; c < n; c++)
		if (copied(&v[c], x))
			b += v[c].len;
	return b;
}

/* Decoding thread: the row of one exchange and its records, with their
 * texts and blobs copied, in one allocation. NULL when out of memory (the
 * writer then decodes it itself). */
static struct decoded *decode_row(struct extract *ex, const struct exchange *x)
{
	struct extract_out d;
	extract_exchange(ex, x, &d);
	struct pval v[XROW_COLS];
	row_values(v, x, &d);
	struct rec_rows rs = {NULL, 0, 0, false};
	struct pval *rec = NULL;
	if (d.has_records && d.nrecords) {
		/* The records' rows go straight into an array of their exact
		 * size that the decoded row keeps. Built in a scratch array and
		 * copied, they took twice their size at once (a row is 384
		 * bytes: a 50 MB Fetch of 100-byte records made 260 MB of them). */
		rs.v = malloc(d.nrecords * REC_COLS * sizeof *rs.v);
		if (!rs.v)
			return NULL;
		rs.cap = d.nrecords;
		extract_records(ex, collect_record, &rs);
		rec = rs.v; /* collect_record grows it, should the count be off */
		if (rs.failed) {
			free(rec);
			return NULL;
		}
	}
	size_t nv = rs.n * REC_COLS;
	size_t n = pvals_bytes(v, XROW_COLS, x) + pvals_bytes(rec, nv, x);
	struct decoded *dec = malloc(sizeof *dec + n);
	if (!dec) {
		free(rec);
		return NULL;
	}
	uint8_t *p = dec->bytes;
	memcpy(dec->v, v, sizeof v);
	copy_pvals(dec->v, 1, XROW_COLS, &p, x);
	dec->nrec = rs.n;
	dec->rec = nv ? rec : NULL;
	if (nv)
		copy_pvals(rec, rs.n, REC_COLS, &p, x);
	else
		free(rec);
	return dec;
}

/* What a statement's parameters hold (`bound`, one per parameter): SQLite
 * keeps bindings across sqlite3_reset, and most of a row's integers
 * (session, connection, API, version, error code, flags; a record's
 * exchange, partition) repeat from one row to the next, so only those that
 * changed are bound again (a bind costs about as much as the row's own
 * share of the statement's opcodes). The same goes for a text or blob at the
 * same address and length as the one bound (a record's direction and topic,
 * an error name): SQLITE_STATIC binds only the pointer, which SQLite reads
 * when the statement runs, so an equal pointer means the value to insert,
 * whatever the address held before. Reset (all PV_UNKNOWN) whenever
 * statements are prepared. */
static void bind_pvals(sqlite3_stmt *st, struct pval *bound, int first, const struct pval *v,
		       int ncols)
{
	for (int c = 0; c < ncols; c++) {
		int i = first + c;
		struct pval *b = &bound[c];
		const struct pval *x = &v[c];
		/* A zero-length text or blob needs a non-NULL pointer (NULL binds SQL NULL). */
		const void *p = x->len ? x->p : "";
		if (b->type == x->type &&
		    (x->type == PV_NULL || (x->type == PV_INT ? b->i == x->i : b->p == p && b->len == x->len)))
			continue;
		int rc = SQLITE_OK;
		switch (x->type) {
		case PV_NULL:
			rc = sqlite3_bind_null(st, i);
			break;
		case PV_INT:
			rc = sqlite3_bind_int64(st, i, x->i);
			break;
		case PV_TEXT:
		case PV_CTEXT:
			rc = sqlite3_bind_text(st, i, p, (int)x->len, SQLITE_STATIC);
			break;
		case PV_BLOB:
			rc = sqlite3_bind_blob(st, i, p, (int)x->len, SQLITE_STATIC);
			break;
		case PV_UNKNOWN:
			break;
		}
		*b = rc == SQLITE_OK ? (struct pval){x->type, x->i, p, x->len}
				     : (struct pval){PV_UNKNOWN, 0, NULL, 0};
	}
}

static void item_free(struct item *it)
{
	if (it) {
		if (it->dec)
			free(it->dec->rec);
		free(it->dec);
		free(it->kept[0]);
		free(it->kept[1]);
	}
	free(it);
}

/* Writer: done with an item; the decoding thread frees it (queue_pop
 * hands the list over). */
static void item_done(struct store *s, struct item *it)
{
	if (!s->done)
		s->done_tail = it;
	it->next = s->done;
	s->done = it;
}

/* Forget the waiting rows (their batch failed, or they were written). */
static void rows_discard(struct store *s)
{
	for (unsigned k = 0; k < s->rows.n; k++)
		item_done(s, s->rows.it[k]);
	s->rows.n = 0;
	s->rows.with_id = false;
}

/* Forget the waiting records (their batch failed, or they were written). */
static void recs_discard(struct store *s)
{
	for (struct item *it = s->recs.head, *next; it; it = next) {
		next = it->next;
		item_done(s, it);
	}
	s->recs = (struct xrecs){NULL, NULL, 0, 0};
}

/* INSERT the waiting records: REC_MULTI in one statement while there are
 * that many, then (when `all`) the rest one by one; with `all` false the
 * rest waits for more. */
static int recs_flush(struct store *s, bool all)
{
	struct xrecs *q = &s->recs;
	while (q->n >= REC_MULTI || (all && q->n)) {
		bool multi = q->n >= REC_MULTI;
		unsigned k = multi ? REC_MULTI : 1;
		sqlite3_stmt *st = s->st[multi ? ST_INS_RECORDS : ST_INS_RECORD];
		struct pval *bound = multi ? s->bound_rmulti : s->bound_rone;
		for (unsigned j = 0; j < k; j++) {
			struct decoded *dec = q->head->dec;
			bind_pvals(st, bound + j * REC_COLS, (int)j * REC_COLS + 1,
				   dec->rec + q->done * REC_COLS, REC_COLS);
			if (++q->done == dec->nrec) {
				/* The item stays until the statement has run: it
				 * holds the bound values. */
				struct item *it = q->head;
				q->head = it->next;
				it->next = NULL;
				if (!q->head)
					q->tail = NULL;
				q->done = 0;
				item_done(s, it);
			}
		}
		q->n -= k;
		if (step_bound(s, st, multi ? "inserting records" : "inserting a record") < 0)
			return -1;
	}
	return 0;
}

/* Writer: the items of an exchange with records, whose row is written,
 * wait in s->recs for their records' INSERT. */
static void recs_push(struct store *s, struct item *it)
{
	it->next = NULL;
	if (s->recs.tail)
		s->recs.tail->next = it;
	else
		s->recs.head = it;
	s->recs.tail = it;
	s->recs.n += it->dec->nrec;
}

/* INSERT the waiting exchange rows: XROW_MULTI in one statement, fewer one
 * by one. Their items outlive each step, so the binds need no copies. Then
 * the records of those that have some wait in s->recs. */
static int rows_flush(struct store *s)
{
	struct xrows *r = &s->rows;
	int rc = 0;
	if (!r->n)
		return 0;
	int cols = r->with_id ? XROW_COLS : XROW_COLS - 1;
	if (r->n == XROW_MULTI) {
		sqlite3_stmt *st = s->st[r->with_id ? ST_INS_EXCHANGES_ID : ST_INS_EXCHANGES];
		struct pval *bound = r->with_id ? s->bound_multi_id : s->bound_multi;
		for (unsigned k = 0; k < r->n; k++)
			bind_pvals(st, bound + k * cols, (int)k * cols + 1, r->it[k]->dec->v, cols);
		rc = step_bound(s, st, "inserting exchanges");
	} else {
		sqlite3_stmt *st = s->st[r->with_id ? ST_INS_EXCHANGE_ID : ST_INS_EXCHANGE];
		struct pval *bound = r->with_id ? s->bound_one_id : s->bound_one;
		for (unsigned k = 0; k < r->n && rc == 0; k++) {
			bind_pvals(st, bound, 1, r->it[k]->dec->v, cols);
			rc = step_bound(s, st, "inserting an exchange");
		}
	}
	if (rc < 0) {
		rows_discard(s);
		return -1;
	}
	s->next_id = sqlite3_last_insert_rowid(s->db) + 1;
	s->next_id_known = true;
	for (unsigned k = 0; k < r->n; k++) {
		if (r->it[k]->dec->nrec)
			recs_push(s, r->it[k]);
		else
			item_done(s, r->it[k]);
	}
	r->n = 0;
	r->with_id = false;
	return recs_flush(s, false);
}

/* The id the next exchange row gets. SQLite numbers a row the largest id
 * + 1, the writer holds the write lock for the whole batch, and rows are
 * inserted in queue order: the id after the last row inserted, plus the
 * rows waiting. At the start of a batch (another recorder may have written
 * since the last), the largest id in the file + 1. An exchange with records
 * gets its id bound explicitly, so that its records can name it before it is
 * inserted: were the count ever wrong, the INSERT would fail on the
 * duplicate id (and the batch be counted lost), never attach records to the
 * wrong exchange. */
static int next_row_id(struct store *s, int64_t *id)
{
	if (!s->next_id_known) {
		sqlite3_stmt *st = s->st[ST_MAX_ID];
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			s->next_id = sqlite3_column_int64(st, 0) + 1;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW) {
			db_error(s, s->db, rc, "reading the last exchange id");
			return -1;
		}
		s->next_id_known = true;
	}
	*id = s->next_id + s->rows.n;
	return 0;
}

/* Write one exchange, taking the item: a decoded row waits in s->rows for
 * a multi-row INSERT; if it has records, they wait after it in s->recs for
 * a multi-row INSERT of records, naming the row by the id it is given (see
 * next_row_id). An exchange the decoding thread had no memory for is
 * decoded here and written at once, after the rows and records waiting (ids
 * follow the queue order), records too. Returns the number of records
 * written or queued, or -1. */
static int write_exchange(struct store *s, struct item *it)
{
	const struct exchange *x = &it->x;
	int64_t conn = conn_row(s, &it->conn, 0);
	if (conn < 0) {
		item_done(s, it);
		return -1;
	}
	struct decoded *dec = it->dec;
	if (dec) {
		pv_int(&dec->v[0], true, s->session_id);
		pv_int(&dec->v[1], true, conn);
		size_t nrec = dec->nrec;
		if (nrec) {
			int64_t id;
			if (next_row_id(s, &id) < 0) {
				item_done(s, it);
				return -1;
			}
			pv_int(&dec->v[XROW_ID], true, id);
			for (size_t k = 0; k < nrec; k++)
				pv_int(&dec->rec[k * REC_COLS], true, id);
			s->rows.with_id = true;
		}
		s->rows.it[s->rows.n++] = it;
		if (s->rows.n == XROW_MULTI && rows_flush(s) < 0)
			return -1;
		return (int)nrec;
	}
	int r = rows_flush(s);
	if (r == 0)
		r = recs_flush(s, true);
	struct extract_out d;
	struct pval v[XROW_COLS];
	if (r == 0) {
		extract_exchange(s->ex, x, &d);
		row_values(v, x, &d);
		pv_int(&v[0], true, s->session_id);
		pv_int(&v[1], true, conn);
		bind_pvals(s->st[ST_INS_EXCHANGE], s->bound_one, 1, v, XROW_COLS - 1);
		r = step_bound(s, s->st[ST_INS_EXCHANGE], "inserting an exchange");
	}
	struct record_ctx rc = {s, 0, 0, 0};
	if (r == 0) {
		rc.exchange_row = sqlite3_last_insert_rowid(s->db);
		s->next_id = rc.exchange_row + 1;
		s->next_id_known = true;
		if (d.has_records && s->o.keep_records)
			extract_records(s->ex, put_record, &rc);
	}
	item_done(s, it);
	return r < 0 || rc.failed ? -1 : rc.nrecords;
}

/* A connection event. */
static int write_event(struct store *s, struct item *it)
{
	switch (it->kind) {
	case ITEM_CONN:
		return conn_row(s, &it->conn, it->t_us) < 0 ? -1 : 0;
	case ITEM_CONN_END: {
		struct conn_slot *sl = conn_find(&s->conns, it->conn.id);
		int64_t row;
		if (sl)
			row = sl->rowid;
		else if ((row = conn_row(s, &it->conn, 0)) < 0)
			return -1;
		sqlite3_stmt *st = s->st[ST_END_CONN];
		sqlite3_bind_int64(st, 1, row);
		if (it->t_us)
			sqlite3_bind_int64(st, 2, it->t_us);
		sqlite3_bind_int64(st, 3, (int64_t)it->n0);
		sqlite3_bind_int64(st, 4, (int64_t)it->n1);
		if (it->reason[0])
			sqlite3_bind_text(st, 5, it->reason, -1, SQLITE_STATIC);
		if (step_done(s, st, "ending a connection") < 0)
			return -1;
		sl = conn_find(&s->conns, it->conn.id);
		if (sl)
			conn_del(&s->conns, sl);
		return 0;
	}
	case ITEM_CONN_NODE: {
		/* A connection not seen yet gets its row (with the node id) here. */
		int64_t row = conn_row(s, &it->conn, 0);
		if (row < 0)
			return -1;
		sqlite3_stmt *st = s->st[ST_NODE_CONN];
		sqlite3_bind_int64(st, 1, row);
		if (it->conn.broker_node_id >= 0)
			sqlite3_bind_int(st, 2, it->conn.broker_node_id);
		return step_done(s, st, "setting a connection's broker node") < 0 ? -1 : 0;
	}
	default:
		return 0;
	}
}

/* Write an item and take it. Returns the number of records written, or -1. */
static int write_item(struct store *s, struct item *it)
{
	if (it->kind == ITEM_EXCHANGE)
		return write_exchange(s, it);
	int r = write_event(s, it);
	item_done(s, it);
	return r;
}

/* Chunks the decoding thread takes from the queue at a time: small enough
 * for the two threads to overlap, large enough that the lock and the
 * wake-ups of blocked producers are paid once per many items. */
#define DECODE_CHUNK 256u
/* ... and at most this many frame bytes (one larger item alone still makes
 * a chunk). Decoded items hold up to about three times their frame bytes
 * more, and the writer's current chunk no longer counts in q_bytes: 256
 * Fetch responses of 1 MB made a recording proxy hold a gigabyte past its
 * queue limit. Past this many frame bytes decoded and waiting, the decoding
 * thread does not start on the next chunk. */
#define DECODE_CHUNK_BYTES (16u * 1024 * 1024)

/* Decoding thread: take a chunk of items from the queue, decode the
 * exchanges' rows outside the lock, pass the chunk on to the writer. */
static void free_list(struct item *it)
{
	for (struct item *next; it; it = next) {
		next = it->next;
		item_free(it);
	}
}

/* After a huge exchange, give back the decoding thread's scratch (the
 * decode trees, the JSON, the records as collected): it grows to the
 * largest exchange seen, several times its frame bytes, and would stay that
 * large. (The rows of the records belong to the decoded row.) */
static void scratch_release(struct store *s)
{
	struct extract *fresh = extract_new(&s->o);
	if (fresh) {
		extract_free(s->dex);
		s->dex = fresh;
	}
}

static void *decoder_main(void *arg)
{
	struct store *s = arg;
	thread_priority(s);
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->head && !s->stopping) {
			if (s->to_free) {
				struct item *f = s->to_free;
				s->to_free = NULL;
				pthread_mutex_unlock(&s->mu);
				free_list(f);
				pthread_mutex_lock(&s->mu);
				continue;
			}
			s->decoder_waiting = true;
			pthread_cond_wait(&s->nonempty, &s->mu);
			s->decoder_waiting = false;
		}
		/* A large decoded item already waits for the writer: decoding the
		 * next now would hold a third exchange's rows in memory (a 50 MB
		 * Fetch of 100-byte records decodes to some 250 MB). */
		while (s->dn_bytes >= DECODE_CHUNK_BYTES)
			pthread_cond_wait(&s->dnotfull, &s->mu);
		struct item *garbage = s->to_free;
		s->to_free = NULL;
		/* The chunk still counts in q_exchanges / q_bytes until the writer
		 * takes it: the bounds cover the decoding stage too. */
		struct item *first = s->head, *last = NULL;
		unsigned n = 0;
		size_t nx = 0, bytes = 0;
		for (struct item *it = first; it && n < DECODE_CHUNK && (n == 0 || bytes < DECODE_CHUNK_BYTES);
		     it = it->next, n++) {
			if (it->kind == ITEM_EXCHANGE) {
				nx++;
				bytes += it->bytes;
			}
			last = it;
		}
		if (!last) { /* stopping, and everything passed on */
			s->decoder_done = true;
			pthread_cond_broadcast(&s->dnonempty);
			pthread_mutex_unlock(&s->mu);
			free_list(garbage);
			break;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);

		free_list(garbage);
		bool huge = false;
		for (struct item *it = first; it; it = it->next) {
			if (it->kind == ITEM_EXCHANGE) {
				it->dec = decode_row(s->dex, &it->x);
				huge |= it->bytes >= DECODE_CHUNK_BYTES;
			}
		}
		if (huge)
			scratch_release(s);

		struct timespec cpu;
		bool have_cpu = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0;
		pthread_mutex_lock(&s->mu);
		/* At most two chunks wait for the writer (beyond its batch). */
		while (s->dn >= DECODE_CHUNK || s->dn_bytes >= DECODE_CHUNK_BYTES)
			pthread_cond_wait(&s->dnotfull, &s->mu);
		if (s->dtail)
			s->dtail->next = first;
		else
			s->dhead = first;
		s->dtail = last;
		s->dn += n;
		s->dn_exchanges += nx;
		s->dn_bytes += bytes;
		if (have_cpu)
			s->decoder_cpu_us = (uint64_t)cpu.tv_sec * 1000000 + (uint64_t)cpu.tv_nsec / 1000;
		if (s->writer_waiting)
			pthread_cond_signal(&s->dnonempty);
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* Writer, under mu: pass the items done with to the decoding thread,
 * waking it if it sleeps (it frees them before sleeping again). */
static void items_hand_over(struct store *s)
{
	if (!s->done)
		return;
	s->done_tail->next = s->to_free;
	s->to_free = s->done;
	s->done = NULL;
	if (s->decoder_waiting)
		pthread_cond_signal(&s->nonempty);
}

/* Writer: take the next decoded item, waiting until `deadline` (NULL:
 * don't wait). Everything decoded is moved to the writer's own list at
 * once, so the lock is taken, and blocked producers are woken, once per
 * chunk, not once per item. */
static struct item *queue_pop(struct store *s, const struct timespec *deadline)
{
	if (!s->local) {
		pthread_mutex_lock(&s->mu);
		while (!s->dhead && deadline && !s->decoder_done) {
			s->writer_waiting = true;
			int rc = pthread_cond_timedwait(&s->dnonempty, &s->mu, deadline);
			s->writer_waiting = false;
			if (rc != 0)
				break;
		}
		if (s->dhead) {
			s->local = s->dhead;
			s->dhead = s->dtail = NULL;
			s->q_exchanges -= s->dn_exchanges;
			s->q_bytes -= s->dn_bytes;
			s->dn = s->dn_exchanges = s->dn_bytes = 0;
			pthread_cond_signal(&s->dnotfull);
			if (s->producers_waiting)
				pthread_cond_broadcast(&s->notfull);
		}
		items_hand_over(s);
		pthread_mutex_unlock(&s->mu);
	}
	struct item *it = s->local;
	if (it)
		s->local = it->next;
	return it;
}

/* Without a database (a reopen failed) items are counted as lost. */
static void try_reopen(struct store *s)
{
	int64_t t = mono_ms();
	if (t < s->next_reopen_ms)
		return;
	s->next_reopen_ms = t + 1000;
	char err[512];
	if (session_start(s, err, sizeof err) < 0)
		store_error(s, "store %s: reopening: %s", s->path, err);
}

/* One transaction: up to batch_rows exchanges or batch_ms milliseconds. */
static void run_batch(struct store *s)
{
	if (!s->db)
		try_reopen(s);
	s->batch_no++;
	s->next_id_known = false;
	bool in_txn = false, failed = false, reopen = false;
	uint64_t flush_ticket = 0;
	unsigned n = 0, nx = 0, nrec = 0;
	if (s->db) {
		if (step_done(s, s->st[ST_BEGIN], "starting a transaction") == 0)
			in_txn = true;
		else
			failed = true;
	}
	struct timespec deadline;
	deadline_in(&deadline, s->o.batch_ms);
	int64_t end_ms = mono_ms() + s->o.batch_ms;
	for (;;) {
		struct item *it = queue_pop(s, n ? &deadline : NULL);
		if (!it)
			break;
		if (it->kind == ITEM_FLUSH) {
			flush_ticket = it->n0;
			item_done(s, it);
			break;
		}
		if (it->kind == ITEM_REOPEN) {
			reopen = true;
			item_done(s, it);
			break;
		}
		bool exchange = it->kind == ITEM_EXCHANGE;
		n++;
		if (exchange)
			nx++;
		if (in_txn && !failed) {
			int r = write_item(s, it); /* takes it */
			if (r < 0)
				failed = true;
			else if (exchange)
				nrec += (unsigned)r;
		} else {
			failed = true;
			item_done(s, it);
		}
		/* After an error in an open file, stop: the rest is tried in the next batch. */
		if (failed && s->db)
			break;
		if (n >= s->o.batch_rows || mono_ms() >= end_ms)
			break;
	}
	if (in_txn && !failed && (rows_flush(s) < 0 || recs_flush(s, true) < 0))
		failed = true;
	if (in_txn && !failed && step_done(s, s->st[ST_COMMIT], "committing") < 0)
		failed = true;
	else if (in_txn && !failed)
		ckpt_after_commit(s);
	rows_discard(s);
	recs_discard(s);
	if (failed && s->db) {
		if (!sqlite3_get_autocommit(s->db))
			sqlite3_step(s->st[ST_ROLLBACK]), sqlite3_reset(s->st[ST_ROLLBACK]);
		conn_undo_batch(&s->conns, s->batch_no);
	}
	if (failed && !s->db)
		store_error(s, "store %s: not open; %u exchanges lost", s->path, nx);
	pthread_mutex_lock(&s->mu);
	if (failed) {
		/* Lost: the exchanges of the batch, or one for a lost connection
		 * event; a batch that held only a flush lost nothing. */
		s->errors += nx ? nx : n ? 1 : 0;
		s->flush_status = -1;
	} else {
		s->written += nx;
		s->nrecords += nrec;
		s->batches++;
	}
	struct timespec cpu;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
		s->cpu_us = (uint64_t)cpu.tv_sec * 1000000 + (uint64_t)cpu.tv_nsec / 1000;
	if (flush_ticket) {
		s->flush_done = flush_ticket;
		pthread_cond_broadcast(&s->flushed_cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (reopen) {
		session_end(s);
		s->next_reopen_ms = 0;
		try_reopen(s);
		if (!s->db) {
			pthread_mutex_lock(&s->mu);
			s->errors++;
			pthread_mutex_unlock(&s->mu);
		}
	}
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	thread_priority(s);
	for (;;) {
		if (s->local) {
			run_batch(s);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		while (!s->dhead && !s->decoder_done) {
			s->writer_waiting = true;
			pthread_cond_wait(&s->dnonempty, &s->mu);
			s->writer_waiting = false;
		}
		bool done = !s->dhead && s->decoder_done;
		pthread_mutex_unlock(&s->mu);
		if (done)
			break;
		run_batch(s);
	}
	session_end(s);
	struct timespec cpu;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
		pthread_mutex_lock(&s->mu);
		s->cpu_us = (uint64_t)cpu.tv_sec * 1000000 + (uint64_t)cpu.tv_nsec / 1000;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* ---- public API --------------------------------------------------------- */

static void store_free(struct store *s)
{
	rows_discard(s);
	recs_discard(s);
	struct item *lists[5] = {s->head, s->dhead, s->local, s->done, s->to_free};
	for (int i = 0; i < 5; i++)
		free_list(lists[i]);
	extract_free(s->ex);
	extract_free(s->dex);
	conn_clear(&s->conns);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->ck_mu);
	pthread_cond_destroy(&s->ck_cv);
	pthread_cond_destroy(&s->nonempty);
	pthread_cond_destroy(&s->notfull);
	pthread_cond_destroy(&s->flushed_cv);
	pthread_cond_destroy(&s->dnonempty);
	pthread_cond_destroy(&s->dnotfull);
	free(s->path);
	free(s->mode);
	free(s->cmdline);
	free(s);
}

/* SQLite's memory statistics take a global mutex on every allocation; the
 * store does not use them. Only possible before SQLite initialises: if
 * another part of the program used SQLite first, this quietly does nothing. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *store_open(const char *path, const struct store_opts *o, const char *mode,
			 int argc, char **argv, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_setup);
	struct store *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (o) {
		s->o = *o;
	} else {
		store_opts_default(&s->o);
		/* Reading capture files is a bulk load: nobody queries the file
		 * before the end. */
		s->o.defer_indexes = mode && strcmp(mode, "decode") == 0;
	}
	if (!s->o.queue_max)
		s->o.queue_max = STORE_DEFAULT_QUEUE_MAX;
	if (!s->o.queue_max_bytes)
		s->o.queue_max_bytes = STORE_DEFAULT_QUEUE_BYTES;
	if (!s->o.batch_rows)
		s->o.batch_rows = STORE_DEFAULT_BATCH_ROWS;
	if (!s->o.batch_ms)
		s->o.batch_ms = STORE_DEFAULT_BATCH_MS;
	if (!s->o.busy_ms)
		s->o.busy_ms = 5000;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->ck_mu, NULL);
	pthread_cond_init(&s->ck_cv, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->dnonempty, &ca); /* the writer's batch deadline is monotonic */
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->nonempty, NULL);
	pthread_cond_init(&s->notfull, NULL);
	pthread_cond_init(&s->flushed_cv, NULL);
	pthread_cond_init(&s->dnotfull, NULL);
	struct buf cl;
	buf_init(&cl);
	join_argv(&cl, argc, argv);
	s->path = strdup(path);
	s->mode = strdup(mode ? mode : "decode");
	s->cmdline = strdup(buf_cstr(&cl));
	buf_free(&cl);
	s->ex = extract_new(&s->o);
	s->dex = extract_new(&s->o);
	if (!s->path || !s->mode || !s->cmdline || !s->ex || !s->dex) {
		snprintf(err, errlen, "%s: out of memory", path);
		store_free(s);
		return NULL;
	}
	if (session_start(s, err, errlen) < 0) {
		store_free(s);
		return NULL;
	}
	if (pthread_create(&s->decoder, NULL, decoder_main, s) != 0) {
		snprintf(err, errlen, "%s: cannot start the decoding thread", path);
		session_end(s);
		store_free(s);
		return NULL;
	}
	s->decoder_started = true;
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		snprintf(err, errlen, "%s: cannot start the writer thread", path);
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_broadcast(&s->nonempty);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->decoder, NULL);
		session_end(s);
		store_free(s);
		return NULL;
	}
	s->thread_started = true;
	return s;
}

static void enqueue_locked(struct store *s, struct item *it)
{
	it->next = NULL;
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	if (s->decoder_waiting)
		pthread_cond_signal(&s->nonempty);
}

static void enqueue(struct store *s, struct item *it)
{
	pthread_mutex_lock(&s->mu);
	enqueue_locked(s, it);
	pthread_mutex_unlock(&s->mu);
}

/* A zeroed item for a connection event; NULL (counted as an error) when
 * memory is short: the caller must not wait, so the event is lost. */
static struct item *event_item(struct store *s)
{
	struct item *it = calloc(1, sizeof *it);
	if (!it) {
		pthread_mutex_lock(&s->mu);
		s->errors++;
		pthread_mutex_unlock(&s->mu);
	}
	return it;
}

void store_connection(struct store *s, const struct exchange_conn *c, int64_t start_us)
{
	struct item *it = event_item(s);
	if (!it)
		return;
	it->kind = ITEM_CONN;
	it->conn = *c;
	it->t_us = start_us;
	enqueue(s, it);
}

void store_connection_end(struct store *s, uint64_t conn_id, int64_t end_us,
			  uint64_t bytes_to_broker, uint64_t bytes_to_client, const char *reason)
{
	struct item *it = event_item(s);
	if (!it)
		return;
	it->kind = ITEM_CONN_END;
	it->conn.id = conn_id;
	it->conn.broker_node_id = -1;
	it->t_us = end_us;
	it->n0 = bytes_to_broker;
	it->n1 = bytes_to_client;
	if (reason)
		snprintf(it->reason, sizeof it->reason, "%s", reason);
	enqueue(s, it);
}

void store_connection_node(struct store *s, uint64_t conn_id, int32_t node_id)
{
	struct item *it = event_item(s);
	if (!it)
		return;
	it->kind = ITEM_CONN_NODE;
	it->conn.id = conn_id;
	it->conn.broker_node_id = node_id;
	enqueue(s, it);
}

/* A large frame in a block of its own (offered in exchange_own) is taken
 * over, not copied. */
static bool takes(const uint8_t *own, const uint8_t *frame, size_t n)
{
	return own && own == frame && n >= STORE_TAKE_MIN;
}

/* Keep one frame of an exchange in its queue item: the block it is offered
 * in (*own, which the item then holds in *kept), or a copy at *d. Returns
 * where the item's exchange finds the frame. */
static const uint8_t *keep_frame(uint8_t **kept, uint8_t **own, const uint8_t *p, size_t n,
				 bool take, uint8_t **d)
{
	if (take) {
		*kept = *own;
		*own = NULL;
		return p;
	}
	if (!p)
		return NULL;
	memcpy(*d, p, n);
	*d += n;
	return *d - n;
}

/* `eighths` of a queue limit (8: all of it). */
static size_t share(size_t limit, unsigned eighths)
{
	return limit - limit / 8 * (8 - eighths);
}

/* Under mu: would an exchange of `bytes` frame bytes fit in `eighths` of
 * the queue's limits now? One larger than the byte cap alone still goes in
 * when the queue is empty. */
static bool room_locked(const struct store *s, size_t bytes, unsigned eighths)
{
	return s->o.when_full == STORE_FULL_PAUSE ||
	       (s->q_exchanges < share(s->o.queue_max, eighths) &&
		(s->q_bytes + bytes <= share(s->o.queue_max_bytes, eighths) || s->q_exchanges == 0));
}

/* The share of the queue's limits a large frame may fill (see
 * store_room_for_large), in eighths. */
#define LARGE_EIGHTHS 7u

bool store_room_for_large(struct store *s, size_t bytes)
{
	pthread_mutex_lock(&s->mu);
	/* Stopping, store_append drops everything: nothing to gather for. */
	bool room = !s->stopping && room_locked(s, bytes, LARGE_EIGHTHS);
	pthread_mutex_unlock(&s->mu);
	return room;
}

bool store_append(struct store *s, const struct exchange *x)
{
	size_t rq = x->request ? x->request_len : 0, rs = x->response ? x->response_len : 0;
	size_t bytes = rq + rs;
	bool take_rq = x->own && takes(x->own->request, x->request, rq);
	bool take_rs = x->own && takes(x->own->response, x->response, rs);
	size_t copied = (take_rq ? 0 : rq) + (take_rs ? 0 : rs);
	/* Copy first, outside the lock: producers hold it only to link the item. */
	struct item *it = malloc(sizeof *it + copied);
	if (it) {
		memset(it, 0, sizeof *it);
		it->kind = ITEM_EXCHANGE;
		if (x->conn)
			it->conn = *x->conn;
		else
			it->conn.broker_node_id = -1;
		it->x = *x;
		it->x.conn = &it->conn;
		it->x.own = NULL;
		it->bytes = bytes;
		uint8_t *d = it->data;
		struct exchange_own none = {0}, *own = x->own ? x->own : &none;
		it->x.request = keep_frame(&it->kept[0], &own->request, x->request, rq, take_rq, &d);
		it->x.response = keep_frame(&it->kept[1], &own->response, x->response, rs, take_rs, &d);
	}
	pthread_mutex_lock(&s->mu);
	for (;;) {
		if (!it || s->stopping)
			goto drop;
		if (room_locked(s, bytes, 8))
			break;
		if (s->o.when_full == STORE_FULL_DROP)
			goto drop;
		s->producers_waiting++;
		pthread_cond_wait(&s->notfull, &s->mu);
		s->producers_waiting--;
	}
	s->q_exchanges++;
	s->q_bytes += bytes;
	s->appended++;
	enqueue_locked(s, it);
	pthread_mutex_unlock(&s->mu);
	return true;
drop:
	s->dropped++;
	pthread_mutex_unlock(&s->mu);
	item_free(it);
	return false;
}

unsigned store_queue_percent(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t a = (uint64_t)s->q_exchanges * 100 / s->o.queue_max;
	uint64_t b = (uint64_t)s->q_bytes * 100 / s->o.queue_max_bytes;
	pthread_mutex_unlock(&s->mu);
	uint64_t m = a > b ? a : b;
	return m > UINT_MAX ? UINT_MAX : (unsigned)m;
}

void store_get_counters(struct store *s, struct store_counters *c)
{
	pthread_mutex_lock(&s->mu);
	c->queued = s->q_exchanges;
	c->queued_bytes = s->q_bytes;
	c->appended = s->appended;
	c->written = s->written;
	c->records = s->nrecords;
	c->dropped = s->dropped;
	c->errors = s->errors;
	c->batches = s->batches;
	c->cpu_us = s->cpu_us + s->decoder_cpu_us + s->ck_cpu_us + s->ck_cpu_cur;
	c->writer_cpu_us = s->cpu_us;
	snprintf(c->last_error, sizeof c->last_error, "%s", s->last_error);
	pthread_mutex_unlock(&s->mu);
}

int store_flush(struct store *s)
{
	struct item *it = calloc(1, sizeof *it);
	if (!it)
		return -1;
	it->kind = ITEM_FLUSH;
	pthread_mutex_lock(&s->mu);
	uint64_t ticket = ++s->flush_next;
	it->n0 = ticket;
	enqueue_locked(s, it);
	while (s->flush_done < ticket)
		pthread_cond_wait(&s->flushed_cv, &s->mu);
	int st = s->flush_status;
	s->flush_status = 0;
	pthread_mutex_unlock(&s->mu);
	return st;
}

int store_reopen(struct store *s)
{
	struct item *it = calloc(1, sizeof *it);
	if (!it)
		return -1;
	it->kind = ITEM_REOPEN;
	enqueue(s, it);
	return 0;
}

int store_close(struct store *s)
{
	return store_close_counters(s, NULL);
}

int store_close_counters(struct store *s, struct store_counters *c)
{
	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->nonempty);
	pthread_cond_broadcast(&s->notfull);
	pthread_mutex_unlock(&s->mu);
	if (s->decoder_started)
		pthread_join(s->decoder, NULL);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	int rc = (s->dropped || s->errors) ? -1 : 0;
	if (rc) {
		char msg[800];
		snprintf(msg, sizeof msg,
			 "store %s: %llu of %llu exchanges written, %llu dropped (queue full), %llu lost to errors%s%s",
			 s->path, (unsigned long long)s->written,
			 (unsigned long long)(s->appended + s->dropped), (unsigned long long)s->dropped,
			 (unsigned long long)s->errors, s->last_error[0] ? "; last error: " : "",
			 s->last_error);
		emit_log(s, msg);
	}
	if (c)
		store_get_counters(s, c);
	store_free(s);
	return rc;
}
