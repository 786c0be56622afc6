/* tap: the proxy's exchange sinks (see tap.h). The output queue is a plain
 * mutex + condition variable list: the loop thread appends copies, the
 * printer thread takes the whole list at once, decodes (report.h), writes to
 * stdout and counts response errors for the metrics. With a recording but no
 * output, the printer thread still decodes responses (without record data)
 * for the error metrics; it is given only response frames up to
 * TAP_INSPECT_MAX then (larger ones carry record data, not errors). */
#include "config.h"
#include "net/tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/netlog.h"
#include "output/report.h"
#include "store/store.h"
#include "util/prio.h"

#define TAP_DEFAULT_QUEUE_MAX 100000u
#define TAP_DEFAULT_QUEUE_BYTES (128u * 1024 * 1024)
#define TAP_INSPECT_MAX (64u * 1024) /* recording only: largest response inspected for errors */
/* Priority of the sink threads (store threads, printer): nice 19 and
 * SCHED_IDLE. On a loaded machine every cycle they take is taken from
 * forwarding and from the clients on the same cores; at the lowest priority
 * they use what is idle and, when there is not enough of that, fall behind
 * into their bounded queues (drops counted) instead of slowing the traffic
 * down. A nice value alone was not enough: a nice-19 thread still took up
 * to half a core from a 2-core machine running a librdkafka producer and
 * the broker flat out (docs/proxy.md, "Recording"). */
#define TAP_SINK_NICE 19
/* --store-when-full pause: reading resumes when the recording's queue is
 * down to this (percent of its limit), so that pauses come in few long
 * stretches rather than one per exchange. */
#define TAP_RESUME_PERCENT 50
/* Shedding goes on and off with the queue: log it at most this often. */
#define TAP_SHED_LOG_US (10 * 1000000LL)

struct tap_item {
	struct tap_item *next;
	struct exchange x;
	struct exchange_conn conn;
	size_t bytes;
	uint8_t data[];
};

struct tap {
	struct tap_config cfg;
	struct metrics *m;
	struct store *store;
	bool worker_running;
	pthread_t worker;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct tap_item *head, **tail;
	size_t queued, queued_bytes;
	size_t max_items, max_bytes;
	bool stop;
	bool dropping; /* logged once per episode */
	uint64_t shed;           /* tap_sheds (loop thread): frames shed... */
	int64_t shed_logged_us;  /* ...and when that was last logged */
	struct report_out out;
	uint64_t prev_malformed, prev_unsupported;
};

static int64_t now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void store_log(void *ctx, const char *msg)
{
	(void)ctx;
	netlog_error("recording: %s", msg);
}

static void count_error(void *ctx, int code, const char *name)
{
	struct tap *t = ctx;
	(void)name;
	metrics_response_error(t->m, t->out.d.x ? t->out.d.x->api_key : -1, code);
}

static void process(struct tap *t, struct tap_item *it)
{
	report_out_exchange(&t->out, &it->x);
	if (t->out.d.resp_root != TREE_NONE)
		report_errors(&t->out.d.resp_tree, t->out.d.resp_root, count_error, t);
	uint64_t bad = t->out.c.malformed + t->out.c.unsupported;
	uint64_t prev = t->prev_malformed + t->prev_unsupported;
	for (uint64_t i = prev; i < bad; i++)
		metrics_atomic_inc(t->m, METRIC_DECODE_FAILURES);
	t->prev_malformed = t->out.c.malformed;
	t->prev_unsupported = t->out.c.unsupported;
}

static void *worker_main(void *arg)
{
	struct tap *t = arg;
	prio_lower_thread(TAP_SINK_NICE, true); /* the store's threads: store_opts */
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->head && !t->stop)
			pthread_cond_wait(&t->cond, &t->lock);
		struct tap_item *list = t->head;
		t->head = NULL;
		t->tail = &t->head;
		t->queued = 0;
		t->queued_bytes = 0;
		bool stop = t->stop;
		pthread_mutex_unlock(&t->lock);
		while (list) {
			struct tap_item *next = list->next;
			process(t, list);
			free(list);
			list = next;
		}
		if (t->cfg.output != TAP_OUTPUT_NONE && !report_out_flush(&t->out) &&
		    !t->out.write_failed) {
			netlog_error("output: writing to standard output failed");
		}
		pthread_mutex_lock(&t->lock);
		if (stop && !t->head)
			break;
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

struct tap *tap_open(const struct tap_config *cfg, struct metrics *m, char *err, size_t errlen)
{
	struct tap *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->cfg = *cfg;
	t->m = m;
	t->tail = &t->head;
	t->max_items = cfg->queue_max_exchanges ? cfg->queue_max_exchanges : TAP_DEFAULT_QUEUE_MAX;
	t->max_bytes = cfg->queue_max_bytes ? cfg->queue_max_bytes : TAP_DEFAULT_QUEUE_BYTES;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (cfg->record_path) {
		struct store_opts o;
		if (cfg->store)
			o = *cfg->store;
		else
			store_opts_default(&o);
		if (o.when_full != STORE_FULL_PAUSE)
			o.when_full = STORE_FULL_DROP; /* block would stop the event loop */
		o.thread_nice = TAP_SINK_NICE;
		o.thread_idle = true;
		o.log = store_log;
		t->store = store_open(cfg->record_path, &o, "proxy", cfg->argc, cfg->argv, err, errlen);
		if (!t->store) {
			pthread_mutex_destroy(&t->lock);
			pthread_cond_destroy(&t->cond);
			free(t);
			return NULL;
		}
	}
	static const enum report_format fmts[] = {
		[TAP_OUTPUT_NONE] = REPORT_NONE,
		[TAP_OUTPUT_LINE] = REPORT_LINE,
		[TAP_OUTPUT_VERBOSE] = REPORT_VERBOSE,
		[TAP_OUTPUT_JSON] = REPORT_JSON,
	};
	struct report_opts ro;
	memset(&ro, 0, sizeof ro);
	/* Metrics only: the protocol structure is enough to find error codes. */
	ro.no_records = cfg->output == TAP_OUTPUT_NONE;
	report_out_init(&t->out, cfg->output == TAP_OUTPUT_NONE ? NULL : stdout, fmts[cfg->output],
			&ro, NULL);
	if (pthread_create(&t->worker, NULL, worker_main, t) != 0) {
		snprintf(err, errlen, "cannot start the output thread");
		if (t->store)
			store_close(t->store);
		report_out_free(&t->out);
		free(t);
		return NULL;
	}
	t->worker_running = true;
	return t;
}

bool tap_active(const struct tap *t)
{
	return t && (t->store || t->cfg.output != TAP_OUTPUT_NONE);
}

void tap_conn_open(struct tap *t, const struct exchange_conn *c)
{
	if (t->store)
		store_connection(t->store, c, now_us());
}

void tap_conn_node(struct tap *t, uint64_t conn_id, int32_t node_id)
{
	if (t && t->store)
		store_connection_node(t->store, conn_id, node_id);
}

void tap_conn_close(struct tap *t, const struct exchange_conn *c, const uint64_t bytes[2],
		    const char *reason)
{
	if (t->store)
		store_connection_end(t->store, c->id, now_us(), bytes[0], bytes[1], reason);
}

/* The printer's copy; the store comes after it, as it may take the frames
 * (exchange_own). */
static void output_exchange(struct tap *t, const struct exchange *x)
{
	bool with_request = t->cfg.output != TAP_OUTPUT_NONE;
	size_t req = with_request && x->request ? x->request_len : 0;
	size_t resp = x->response ? x->response_len : 0;
	/* Recording only: the store decodes everything already, and copying
	 * every large Fetch response a second time just for the error metrics
	 * costs a quarter of the consume throughput. Responses that big carry
	 * record data; error answers are small. */
	if (!with_request && (!resp || resp > TAP_INSPECT_MAX))
		return;
	size_t need = req + resp;
	pthread_mutex_lock(&t->lock);
	size_t queued = t->queued;
	bool full = queued >= t->max_items || t->queued_bytes + need > t->max_bytes;
	pthread_mutex_unlock(&t->lock);
	if (full) {
		metrics_dropped(t->m, METRICS_SINK_OUTPUT, 1);
		if (!t->dropping) {
			t->dropping = true;
			netlog_warn("output: the printer is behind (%zu exchanges queued); dropping "
				    "exchanges from the output until it catches up",
				    queued);
		}
		return;
	}
	struct tap_item *it = malloc(sizeof *it + need);
	if (!it) {
		metrics_dropped(t->m, METRICS_SINK_OUTPUT, 1);
		return;
	}
	it->next = NULL;
	it->x = *x;
	it->conn = *x->conn;
	it->x.conn = &it->conn;
	it->x.own = NULL;
	it->bytes = need;
	if (req) {
		memcpy(it->data, x->request, req);
		it->x.request = it->data;
	} else {
		it->x.request = NULL;
		it->x.request_len = 0;
	}
	if (resp) {
		memcpy(it->data + req, x->response, resp);
		it->x.response = it->data + req;
	}
	pthread_mutex_lock(&t->lock);
	*t->tail = it;
	t->tail = &it->next;
	t->queued++;
	t->queued_bytes += need;
	t->dropping = false;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

void tap_exchange(struct tap *t, const struct exchange *x)
{
	output_exchange(t, x);
	if (t->store)
		(void)store_append(t->store, x); /* drops are counted by the store */
}

bool tap_pauses(const struct tap *t)
{
	return t && t->store && t->cfg.store && t->cfg.store->when_full == STORE_FULL_PAUSE;
}

bool tap_sheds(struct tap *t, size_t bytes)
{
	if (!t || !t->store || t->cfg.output != TAP_OUTPUT_NONE || tap_pauses(t))
		return false;
	if (store_room_for_large(t->store, bytes))
		return false;
	t->shed++;
	int64_t now = now_us();
	if (now - t->shed_logged_us >= TAP_SHED_LOG_US) {
		t->shed_logged_us = now;
		netlog_warn("recording: the queue is full; large frames go on unrecorded, their "
			    "exchanges keep the header, flagged shed (%llu so far)",
			    (unsigned long long)t->shed);
	}
	return true;
}

bool tap_recording_full(struct tap *t)
{
	return tap_pauses(t) && store_queue_percent(t->store) >= 100;
}

bool tap_recording_drained(struct tap *t)
{
	return !tap_pauses(t) || store_queue_percent(t->store) <= TAP_RESUME_PERCENT;
}

int tap_reopen(struct tap *t, char *err, size_t errlen)
{
	if (!t || !t->store) {
		snprintf(err, errlen, "no recording");
		return -1;
	}
	if (store_reopen(t->store) != 0) {
		snprintf(err, errlen, "the request could not be queued");
		return -1;
	}
	return 0;
}

void tap_refresh_metrics(struct tap *t, struct metrics *m)
{
	if (!t || !t->store)
		return;
	struct store_counters c;
	store_get_counters(t->store, &c);
	__atomic_store_n(&m->dropped[METRICS_SINK_STORE], c.dropped, __ATOMIC_RELAXED);
}

void tap_close(struct tap *t)
{
	if (!t)
		return;
	if (t->worker_running) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->worker, NULL);
	}
	report_out_flush(&t->out);
	report_out_free(&t->out);
	if (t->store) {
		struct store_counters c;
		store_get_counters(t->store, &c);
		if (store_close(t->store) != 0)
			netlog_warn("recording %s: %llu exchanges were dropped and %llu lost to errors",
				    t->cfg.record_path, (unsigned long long)c.dropped,
				    (unsigned long long)c.errors);
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
}
