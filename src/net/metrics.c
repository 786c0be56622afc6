/* metrics: storage and Prometheus text exposition for PROXY_METRICS (see
 * metrics.h). Format: https://prometheus.io/docs/instrumenting/exposition_formats/ */
#include "config.h"
#include "net/metrics.h"

#include <string.h>

#include "proto/schema.h"

static const char *const reason_labels[] = {
#define REASON_LABEL(id, label, text) label,
	CONN_REASONS(REASON_LABEL)
#undef REASON_LABEL
};
static const char *const reason_texts[] = {
#define REASON_TEXT(id, label, text) text,
	CONN_REASONS(REASON_TEXT)
#undef REASON_TEXT
};

const char *conn_reason_label(enum conn_reason r)
{
	return (unsigned)r < REASON_COUNT ? reason_labels[r] : "unknown";
}

const char *conn_reason_text(enum conn_reason r)
{
	return (unsigned)r < REASON_COUNT ? reason_texts[r] : "unknown";
}

/* Upper bounds of the duration buckets, in nanoseconds (+Inf is implied). */
static const uint64_t dur_bounds_ns[METRICS_DURATION_BUCKETS] = {
	25000,    50000,     100000,    250000,    500000,     1000000,
	2500000,  5000000,   10000000,  25000000,  50000000,   100000000,
	250000000, 500000000, 1000000000, 2500000000, 10000000000,
};

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->err_lock, NULL);
}

void metrics_destroy(struct metrics *m)
{
	pthread_mutex_destroy(&m->err_lock);
}

void metrics_atomic_inc(struct metrics *m, enum metric_id id)
{
	__atomic_fetch_add(&m->v[id], 1, __ATOMIC_RELAXED);
}

void metrics_dropped(struct metrics *m, enum metrics_sink s, uint64_t n)
{
	__atomic_fetch_add(&m->dropped[s], n, __ATOMIC_RELAXED);
}

void metrics_request(struct metrics *m, int api_key, int api_version)
{
	if (api_key >= 0 && api_key < METRICS_MAX_API && api_version >= 0 &&
	    api_version < METRICS_MAX_VER)
		m->requests[api_key][api_version]++;
	else
		m->requests_other++;
}

void metrics_duration(struct metrics *m, int api_key, uint64_t ns)
{
	if (api_key < 0 || api_key >= METRICS_MAX_API)
		return;
	for (int i = 0; i < METRICS_DURATION_BUCKETS; i++)
		if (ns <= dur_bounds_ns[i]) {
			m->dur_bucket[api_key][i]++;
			break;
		}
	m->dur_count[api_key]++;
	m->dur_sum_ns[api_key] += ns;
}

void metrics_response_error(struct metrics *m, int api_key, int code)
{
	pthread_mutex_lock(&m->err_lock);
	uint32_t i;
	for (i = 0; i < m->nerr; i++)
		if (m->err[i].api == api_key && m->err[i].code == code)
			break;
	if (i == m->nerr) {
		if (m->nerr == METRICS_ERROR_SLOTS) {
			m->err_other++;
			pthread_mutex_unlock(&m->err_lock);
			return;
		}
		m->err[i].api = (int16_t)api_key;
		m->err[i].code = (int16_t)code;
		m->err[i].n = 0;
		m->nerr++;
	}
	m->err[i].n++;
	pthread_mutex_unlock(&m->err_lock);
}

static const char *const metric_names[] = {
#define METRIC_NAME(id, shape, type, name, help) name,
	PROXY_METRICS(METRIC_NAME)
#undef METRIC_NAME
};
static const char *const metric_helps[] = {
#define METRIC_HELP(id, shape, type, name, help) help,
	PROXY_METRICS(METRIC_HELP)
#undef METRIC_HELP
};

const char *metrics_name(enum metric_id id)
{
	return (unsigned)id < METRIC_COUNT ? metric_names[id] : NULL;
}

const char *metrics_help(enum metric_id id)
{
	return (unsigned)id < METRIC_COUNT ? metric_helps[id] : NULL;
}

static void api_label(struct buf *b, int api_key)
{
	const char *n = schema_api_name(api_key);
	if (n)
		buf_printf(b, "api=\"%s\"", n);
	else
		buf_printf(b, "api=\"%d\"", api_key);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

typedef void (*render_fn)(struct metrics *m, struct buf *b, const char *name);

static void render_CONNECTIONS_REFUSED(struct metrics *m, struct buf *b, const char *name)
{
	for (int r = 0; r < REASON_COUNT; r++)
		buf_printf(b, "%s{reason=\"%s\"} %llu\n", name, reason_labels[r],
			   (unsigned long long)m->refused[r]);
}

static void render_CONNECTIONS_CLOSED(struct metrics *m, struct buf *b, const char *name)
{
	for (int r = 0; r < REASON_COUNT; r++)
		buf_printf(b, "%s{reason=\"%s\"} %llu\n", name, reason_labels[r],
			   (unsigned long long)m->closed[r]);
}

static void render_BYTES(struct metrics *m, struct buf *b, const char *name)
{
	buf_printf(b, "%s{direction=\"to_broker\"} %llu\n", name,
		   (unsigned long long)m->bytes[METRICS_TO_BROKER]);
	buf_printf(b, "%s{direction=\"to_client\"} %llu\n", name,
		   (unsigned long long)m->bytes[METRICS_TO_CLIENT]);
}

static void render_REQUESTS(struct metrics *m, struct buf *b, const char *name)
{
	for (int a = 0; a < METRICS_MAX_API; a++)
		for (int v = 0; v < METRICS_MAX_VER; v++)
			if (m->requests[a][v]) {
				buf_printf(b, "%s{", name);
				api_label(b, a);
				buf_printf(b, ",version=\"%d\"} %llu\n", v,
					   (unsigned long long)m->requests[a][v]);
			}
	if (m->requests_other)
		buf_printf(b, "%s{api=\"other\",version=\"other\"} %llu\n", name,
			   (unsigned long long)m->requests_other);
}

static void render_REQUEST_DURATION(struct metrics *m, struct buf *b, const char *name)
{
	for (int a = 0; a < METRICS_MAX_API; a++) {
		if (!m->dur_count[a])
			continue;
		uint64_t cum = 0;
		for (int i = 0; i < METRICS_DURATION_BUCKETS; i++) {
			cum += m->dur_bucket[a][i];
			buf_printf(b, "%s_bucket{", name);
			api_label(b, a);
			buf_printf(b, ",le=\"%g\"} %llu\n", (double)dur_bounds_ns[i] / 1e9,
				   (unsigned long long)cum);
		}
		buf_printf(b, "%s_bucket{", name);
		api_label(b, a);
		buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)m->dur_count[a]);
		buf_printf(b, "%s_sum{", name);
		api_label(b, a);
		buf_printf(b, "} %.9f\n", (double)m->dur_sum_ns[a] / 1e9);
		buf_printf(b, "%s_count{", name);
		api_label(b, a);
		buf_printf(b, "} %llu\n", (unsigned long long)m->dur_count[a]);
	}
}

static void render_RESPONSE_ERRORS(struct metrics *m, struct buf *b, const char *name)
{
	pthread_mutex_lock(&m->err_lock);
	for (uint32_t i = 0; i < m->nerr; i++) {
		const char *en = schema_error_name(m->err[i].code);
		buf_printf(b, "%s{", name);
		api_label(b, m->err[i].api);
		buf_printf(b, ",code=\"%d\",error=\"%s\"} %llu\n", m->err[i].code,
			   en ? en : "UNKNOWN", (unsigned long long)m->err[i].n);
	}
	if (m->err_other)
		buf_printf(b, "%s{api=\"other\",code=\"other\",error=\"other\"} %llu\n", name,
			   (unsigned long long)m->err_other);
	pthread_mutex_unlock(&m->err_lock);
}

static void render_RECORDINGS_DROPPED(struct metrics *m, struct buf *b, const char *name)
{
	buf_printf(b, "%s{sink=\"store\"} %llu\n", name,
		   (unsigned long long)load(&m->dropped[METRICS_SINK_STORE]));
	buf_printf(b, "%s{sink=\"output\"} %llu\n", name,
		   (unsigned long long)load(&m->dropped[METRICS_SINK_OUTPUT]));
}

#define RENDER_S(id) NULL
#define RENDER_L(id) render_##id
#define RENDER_FN(shape, id) RENDER_##shape(id)

static const render_fn metric_render[] = {
#define METRIC_RENDER(id, shape, type, name, help) RENDER_FN(shape, id),
	PROXY_METRICS(METRIC_RENDER)
#undef METRIC_RENDER
};
static const char *const metric_types[] = {
#define METRIC_TYPE(id, shape, type, name, help) #type,
	PROXY_METRICS(METRIC_TYPE)
#undef METRIC_TYPE
};

void metrics_render(struct metrics *m, struct buf *b)
{
	if (m->refresh)
		m->refresh(m->refresh_ctx, m);
	for (int i = 0; i < METRIC_COUNT; i++) {
		buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", metric_names[i], metric_helps[i],
			   metric_names[i], metric_types[i]);
		if (metric_render[i])
			metric_render[i](m, b, metric_names[i]);
		else
			buf_printf(b, "%s %llu\n", metric_names[i],
				   (unsigned long long)load(&m->v[i]));
	}
}
