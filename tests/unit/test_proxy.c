/* test_proxy: the proxy's small parts — HOST:PORT parsing (netaddr), numbers and sizes
 * of its options (cli_parse_*), and the
 * Prometheus exposition of PROXY_METRICS (metrics): every metric has HELP
 * and TYPE lines, labelled families render their samples, histograms are
 * cumulative. The proxy as a whole is tested in
 * tests/integration/test_proxy*.py. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "net/metrics.h"
#include "net/netaddr.h"
#include "unit.h"
#include "util/buf.h"

static void test_netaddr(void)
{
	struct netaddr a;
	char err[256], s[NETADDR_STR_MAX];
	CHECK(netaddr_parse("broker-1.example:9092", NULL, &a, err, sizeof err));
	CHECK_EQ_STR(a.host, "broker-1.example");
	CHECK_EQ_INT(a.port, 9092);
	CHECK(netaddr_parse("[::1]:19092", NULL, &a, err, sizeof err));
	CHECK_EQ_STR(a.host, "::1");
	CHECK_EQ_STR(netaddr_format(&a, s, sizeof s), "[::1]:19092");
	CHECK(netaddr_parse(":8080", "127.0.0.1", &a, err, sizeof err));
	CHECK_EQ_STR(a.host, "127.0.0.1");
	CHECK_EQ_INT(a.port, 8080);
	CHECK(netaddr_parse("8080", "127.0.0.1", &a, err, sizeof err));
	CHECK_EQ_STR(netaddr_format(&a, s, sizeof s), "127.0.0.1:8080");
	CHECK(!netaddr_parse("8080", NULL, &a, err, sizeof err)); /* host required */
	CHECK(!netaddr_parse("host:65536", NULL, &a, err, sizeof err));
	CHECK(strstr(err, "65536") != NULL);
	CHECK(!netaddr_parse("host:", NULL, &a, err, sizeof err));
	CHECK(!netaddr_parse("host:12x", NULL, &a, err, sizeof err));
	CHECK(!netaddr_parse("::1:9092", NULL, &a, err, sizeof err)); /* needs brackets */
	CHECK(!netaddr_parse("[::1]9092", NULL, &a, err, sizeof err));
	CHECK(netaddr_parse("0.0.0.0:1", NULL, &a, err, sizeof err) && netaddr_is_wildcard(&a));
	struct sockaddr_storage ss;
	int len;
	CHECK(netaddr_parse("127.0.0.1:9", NULL, &a, err, sizeof err));
	CHECK(netaddr_to_sockaddr(&a, &ss, &len));
	CHECK_EQ_STR(netaddr_format_sa((struct sockaddr *)&ss, s, sizeof s), "127.0.0.1:9");
	CHECK(netaddr_parse("kafka.example:9", NULL, &a, err, sizeof err));
	CHECK(!netaddr_to_sockaddr(&a, &ss, &len)); /* a name: resolved later */
	struct netaddr b;
	CHECK(netaddr_parse("KAFKA.example:9", NULL, &b, err, sizeof err));
	CHECK(netaddr_equal(&a, &b));
	/* Found by fuzz_args: a bracketed host that is not an IPv6 address was
	 * taken, and written back in a form that does not parse. Hosts are
	 * printable ASCII without spaces or brackets. */
	CHECK(!netaddr_parse("[[x]:1", NULL, &a, err, sizeof err));
	CHECK(!netaddr_parse("[kafka]:1", NULL, &a, err, sizeof err));
	CHECK(strstr(err, "IPv6") != NULL);
	CHECK(!netaddr_parse("kafka one:1", NULL, &a, err, sizeof err));
	CHECK(!netaddr_parse("kafka\t:1", NULL, &a, err, sizeof err));
	CHECK(!netaddr_parse("caf\xc3\xa9:1", NULL, &a, err, sizeof err));
	CHECK(netaddr_host_valid("kafka-1.example", 15));
	CHECK(netaddr_host_valid("::1", 3));
	CHECK(!netaddr_host_valid("", 0));
	CHECK(!netaddr_host_valid("bro\0ker", 7));
	CHECK(!netaddr_host_valid("a b", 3));
	CHECK(netaddr_parse("[fe80::1%eth0]:9092", NULL, &a, err, sizeof err));
	CHECK_EQ_STR(netaddr_format(&a, s, sizeof s), "[fe80::1%eth0]:9092");
}

/* Numbers and sizes of the options (--max-frame, --store-queue, ...). */
static void test_numbers(void)
{
	uint64_t v = 0;
	int64_t i = 0;
	CHECK(cli_parse_u64("18446744073709551615", UINT64_MAX, &v) && v == UINT64_MAX);
	CHECK(!cli_parse_u64("18446744073709551616", UINT64_MAX, &v));
	CHECK(cli_parse_u64("65535", 65535, &v) && v == 65535);
	CHECK(!cli_parse_u64("65536", 65535, &v));
	/* Found by fuzz_args: strtoull skips spaces and takes signs, so " -1"
	 * read as 2^64-1. Only digits now. */
	CHECK(!cli_parse_u64(" -1", UINT64_MAX, &v));
	CHECK(!cli_parse_u64(" 5", UINT64_MAX, &v));
	CHECK(!cli_parse_u64("+5", UINT64_MAX, &v));
	CHECK(!cli_parse_u64("", UINT64_MAX, &v));
	CHECK(!cli_parse_i64("\t7", &i));
	CHECK(cli_parse_i64("7", &i) && i == 7);
	CHECK(cli_parse_size("256M", UINT64_MAX, &v) && v == 256ull << 20);
	CHECK(cli_parse_size("64KiB", UINT64_MAX, &v) && v == 64ull << 10);
	CHECK(cli_parse_size("1g", UINT64_MAX, &v) && v == 1ull << 30);
	CHECK(!cli_parse_size("1T", UINT64_MAX, &v));
	CHECK(!cli_parse_size("2G", 1ull << 30, &v));
	CHECK(!cli_parse_size(" 1M", UINT64_MAX, &v));
	CHECK(!cli_parse_size("+1M", UINT64_MAX, &v));
	CHECK(!cli_parse_size("M", UINT64_MAX, &v));
}

static void test_metrics(void)
{
	static struct metrics m; /* large */
	struct buf b;
	metrics_init(&m);
	buf_init(&b);
	metrics_inc(&m, METRIC_CONNECTIONS_ACCEPTED);
	metrics_request(&m, 0, 7);
	metrics_request(&m, 0, 7);
	metrics_request(&m, 9999, 1);
	metrics_duration(&m, 0, 30000);     /* 30 µs */
	metrics_duration(&m, 0, 2000000);   /* 2 ms */
	metrics_response_error(&m, 0, 6);
	metrics_response_error(&m, 0, 6);
	m.closed[REASON_MAX_FRAME] = 3;
	metrics_dropped(&m, METRICS_SINK_OUTPUT, 4);
	metrics_render(&m, &b);
	const char *text = buf_cstr(&b);
	for (int i = 0; i < METRIC_COUNT; i++) {
		char line[256];
		snprintf(line, sizeof line, "# HELP %s ", metrics_name((enum metric_id)i));
		CHECK(strstr(text, line) != NULL);
		snprintf(line, sizeof line, "# TYPE %s ", metrics_name((enum metric_id)i));
		CHECK(strstr(text, line) != NULL);
		CHECK(strncmp(metrics_name((enum metric_id)i), "kafkatap_", 9) == 0);
		CHECK(metrics_help((enum metric_id)i)[0] != '\0');
	}
	CHECK(strstr(text, "kafkatap_connections_accepted_total 1\n") != NULL);
	CHECK(strstr(text, "kafkatap_requests_total{api=\"Produce\",version=\"7\"} 2\n") != NULL);
	CHECK(strstr(text, "kafkatap_requests_total{api=\"other\",version=\"other\"} 1\n") != NULL);
	CHECK(strstr(text, "kafkatap_request_duration_seconds_bucket{api=\"Produce\",le=\"5e-05\"} 1\n") != NULL);
	CHECK(strstr(text, "kafkatap_request_duration_seconds_bucket{api=\"Produce\",le=\"0.0025\"} 2\n") != NULL);
	CHECK(strstr(text, "kafkatap_request_duration_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 2\n") != NULL);
	CHECK(strstr(text, "kafkatap_request_duration_seconds_count{api=\"Produce\"} 2\n") != NULL);
	CHECK(strstr(text, "kafkatap_response_errors_total{api=\"Produce\",code=\"6\",error=\"NOT_LEADER_OR_FOLLOWER\"} 2\n") != NULL);
	CHECK(strstr(text, "kafkatap_connections_closed_total{reason=\"max_frame\"} 3\n") != NULL);
	CHECK(strstr(text, "kafkatap_recordings_dropped_total{sink=\"output\"} 4\n") != NULL);
	CHECK(strstr(text, "kafkatap_connections_refused_total{reason=\"max_connections\"} 0\n") != NULL);
	CHECK_EQ_STR(conn_reason_label(REASON_IDLE_TIMEOUT), "idle_timeout");
	CHECK_EQ_STR(conn_reason_label((enum conn_reason)999), "unknown");
	buf_free(&b);
	metrics_destroy(&m);
}

int main(void)
{
	test_netaddr();
	test_numbers();
	test_metrics();
	return unit_done("test_proxy");
}
