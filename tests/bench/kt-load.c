/* kt-load: the load generator of tests/bench/bench_proxy.sh (not a test).
 *
 *   kt-load produce -b BOOTSTRAP -t TOPIC -n COUNT -s SIZE
 *   kt-load consume -b BOOTSTRAP -t TOPIC -n COUNT
 *       librdkafka producer / consumer (all partitions from the beginning);
 *       prints "<msgs/s> <MB/s> <seconds>" measured from the first message
 *       to the last delivery report / message.
 *   kt-load rtt -a HOST:PORT -n COUNT
 *       one connection, one small request at a time (ApiVersions v0) over
 *       plain TCP; prints "<p50 us> <p99 us> <mean us>".
 *   kt-load idle -a HOST:PORT -n COUNT -p PID
 *       opens COUNT connections, one ApiVersions v0 exchange on each, keeps
 *       them open and idle; prints the growth of PID's resident memory per
 *       connection in bytes.
 *
 * The mock keeps only 5 MiB per partition: the script gives the topic
 * many partitions and the sticky partitioner switches every 2 ms, which
 * spreads the data while batches stay large (0 would put every message in
 * another partition and measure request overhead instead). The consumer
 * keeps queued.min.messages high and stops when every partition reached
 * its end: a shortfall (data the mock no longer keeps) is reported. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "kt-load: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];
	if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
		die("config: %s", err);
}

static long delivered, failed;
static double t_last;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err)
		failed++;
	else
		delivered++;
	t_last = now_s();
}

static int produce(const char *bs, const char *topic, long n, int size)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];
	set(c, "bootstrap.servers", bs);
	set(c, "linger.ms", "5");
	set(c, "acks", "1");
	set(c, "sticky.partitioning.linger.ms", "2");
	set(c, "queue.buffering.max.messages", "2000000");
	set(c, "queue.buffering.max.kbytes", "2097151");
	rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
	if (!rk)
		die("producer: %s", err);
	char *payload = malloc((size_t)size);
	memset(payload, 'x', (size_t)size);
	/* Connect and learn the partitions before the clock starts. */
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("metadata for %s failed", topic);
	rd_kafka_metadata_destroy(md);
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, payload, (size_t)size, NULL, 0,
					NULL) != 0) {
			if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				die("produce: %s", rd_kafka_err2str(rd_kafka_last_error()));
			rd_kafka_poll(rk, 1);
		}
		if ((i & 1023) == 0)
			rd_kafka_poll(rk, 0);
	}
	rd_kafka_flush(rk, 120000);
	double dt = t_last - t0;
	if (failed || delivered != n) {
		fprintf(stderr, "kt-load: %ld delivered, %ld failed of %ld\n", delivered, failed, n);
		return 1;
	}
	printf("%.0f %.1f %.3f\n", (double)n / dt, (double)n * size / dt / 1e6, dt);
	free(payload);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return 0;
}

static int consume(const char *bs, const char *topic, long n)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];
	set(c, "bootstrap.servers", bs);
	set(c, "group.id", "kt-load");
	set(c, "enable.auto.commit", "false");
	set(c, "queued.min.messages", "10000000");
	set(c, "fetch.wait.max.ms", "100");
	set(c, "fetch.message.max.bytes", "1048576");
	set(c, "enable.partition.eof", "true");
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
	if (!rk)
		die("consumer: %s", err);
	rd_kafka_poll_set_consumer(rk);
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1)
		die("metadata for %s failed", topic);
	int np = md->topics[0].partition_cnt;
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
	for (int i = 0; i < np; i++)
		rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)
			->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("%s", "assign failed");
	rd_kafka_topic_partition_list_destroy(parts);
	long got = 0;
	int eofs = 0;
	char *at_end = calloc((size_t)np, 1);
	size_t bytes = 0;
	double t0 = 0, t_end = 0, deadline = now_s() + 120;
	while (got < n && eofs < np && now_s() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m)
			continue;
		if (!m->err) {
			if (!got)
				t0 = now_s();
			got++;
			bytes += m->len;
			t_end = now_s();
		} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && m->partition >= 0 &&
			   m->partition < np && !at_end[m->partition]) {
			at_end[m->partition] = 1;
			eofs++;
		}
		rd_kafka_message_destroy(m);
	}
	double dt = t_end - t0;
	free(at_end);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	if (got < n)
		fprintf(stderr, "kt-load: consumed %ld of %ld (the mock keeps 5 MiB per partition)\n",
			got, n);
	if (got < n / 2)
		return 1;
	printf("%.0f %.1f %.3f\n", (double)got / dt, (double)bytes / dt / 1e6, dt);
	return 0;
}

static int dial(const char *addr)
{
	char host[128];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		die("bad address %s", addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		die("bad address %s", addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
		die("connect %s failed", addr);
	return fd;
}

/* ApiVersions v0 request with correlation id corr, and its answer. */
static int exchange(int fd, int32_t corr)
{
	static const char cid[] = "kt-load";
	unsigned char req[64];
	int len = 2 + 2 + 4 + 2 + (int)strlen(cid);
	uint32_t be = htonl((uint32_t)len);
	memcpy(req, &be, 4);
	req[4] = 0, req[5] = 18, req[6] = 0, req[7] = 0;
	be = htonl((uint32_t)corr);
	memcpy(req + 8, &be, 4);
	req[12] = 0, req[13] = (unsigned char)strlen(cid);
	memcpy(req + 14, cid, strlen(cid));
	if (write(fd, req, (size_t)len + 4) != len + 4)
		return -1;
	unsigned char buf[65536];
	size_t have = 0, need = 4;
	while (have < need) {
		ssize_t r = read(fd, buf + have, sizeof buf - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		if (have >= 4 && need == 4) {
			uint32_t n;
			memcpy(&n, buf, 4);
			need = 4 + ntohl(n);
			if (need > sizeof buf)
				return -1;
		}
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int rtt(const char *addr, long n)
{
	int fd = dial(addr);
	double *t = malloc((size_t)n * sizeof *t), sum = 0;
	for (long i = 0; i < 200; i++) /* warm up */
		if (exchange(fd, (int32_t)i) != 0)
			die("exchange with %s failed", addr);
	for (long i = 0; i < n; i++) {
		double t0 = now_s();
		if (exchange(fd, (int32_t)i) != 0)
			die("exchange with %s failed", addr);
		t[i] = (now_s() - t0) * 1e6;
		sum += t[i];
	}
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	printf("%.1f %.1f %.1f\n", t[n / 2], t[n * 99 / 100], sum / (double)n);
	free(t);
	close(fd);
	return 0;
}

static long rss_kb(long pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static int idle(const char *addr, long n, long pid)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int *fds = malloc((size_t)n * sizeof *fds);
	/* A first round warms up allocator arenas and libevent's tables. */
	for (long i = 0; i < n / 4; i++) {
		fds[i] = dial(addr);
		if (exchange(fds[i], (int32_t)i) != 0)
			die("exchange with %s failed", addr);
	}
	for (long i = 0; i < n / 4; i++)
		close(fds[i]);
	usleep(500000);
	long before = rss_kb(pid);
	for (long i = 0; i < n; i++) {
		fds[i] = dial(addr);
		if (exchange(fds[i], (int32_t)i) != 0)
			die("exchange with %s failed", addr);
	}
	usleep(500000);
	long after = rss_kb(pid);
	printf("%.0f\n", (double)(after - before) * 1024 / (double)n);
	for (long i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: kt-load produce|consume|rtt|idle [options]\n");
		return 2;
	}
	const char *mode = argv[1], *bs = NULL, *topic = NULL, *addr = NULL;
	long n = 100000, pid = 0;
	int size = 100, ch;
	optind = 2;
	while ((ch = getopt(argc, argv, "b:t:n:s:a:p:")) != -1) {
		switch (ch) {
		case 'b': bs = optarg; break;
		case 't': topic = optarg; break;
		case 'n': n = atol(optarg); break;
		case 's': size = atoi(optarg); break;
		case 'a': addr = optarg; break;
		case 'p': pid = atol(optarg); break;
		default: return 2;
		}
	}
	if (n <= 0)
		return 2;
	if (strcmp(mode, "produce") == 0 && bs && topic)
		return produce(bs, topic, n, size);
	if (strcmp(mode, "consume") == 0 && bs && topic)
		return consume(bs, topic, n);
	if (strcmp(mode, "rtt") == 0 && addr)
		return rtt(addr, n);
	if (strcmp(mode, "idle") == 0 && addr && pid)
		return idle(addr, n, pid);
	fprintf(stderr, "kt-load: missing options for %s\n", mode);
	return 2;
}
