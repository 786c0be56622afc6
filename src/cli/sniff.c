/* sniff: `kafkatap sniff -i IFACE [options]` — decode Kafka traffic live
 * from a network interface, with the options and output of `decode`
 * (decode.h). Ctrl-C (SIGINT) or SIGTERM ends the capture cleanly: every
 * connection is closed (requests in flight are reported unanswered) and the
 * totals are printed, with the packets the kernel dropped. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/decode.h"

const char sniff_usage[] =
	"usage: kafkatap sniff -i IFACE [options]\n"
	"\n"
	"Decode Kafka traffic live from a network interface (needs root or CAP_NET_RAW);\n"
	"Ctrl-C stops and prints the totals. Output as for 'kafkatap decode'.\n"
	"\n"
	"  -i, --interface IFACE  the interface to capture on (e.g. eth0, lo, any)\n"
	"connections:\n"
	"  -p, --port PORT        a Kafka broker port (repeatable; default 9092)\n"
	"      --auto             also find Kafka connections on any other port\n"
	"  -f, --filter EXPR      a BPF filter (pcap-filter(7)) applied by the kernel\n"
	"      --max-frame BYTES  largest frame decoded; larger ones are skipped (default 104857600)\n"
	"output:\n"
	"  -V, --verbose          the exchange line, then every field of request and response\n"
	"      --json             one JSON object per exchange (docs/decode.md)\n"
	"      --bytes MODE       bytes values as auto, hex or base64 (default auto)\n"
	"      --max-bytes N      show at most N bytes of each bytes or string value\n"
	"      --no-records       keep record batches as raw bytes\n"
	"  -q, --quiet            print only the summary\n"
	"  -w, --write FILE.db    also record every exchange into a SQLite store\n"
	"filters (all must hold; they choose what is printed, not what -w records):\n"
	"      --api NAME|KEY     only this API (repeatable)\n"
	"      --topic NAME       only exchanges naming this topic\n"
	"      --client-id ID     only requests with this client id\n"
	"      --errors           only exchanges with an error code or a malformed message\n"
	"      --slower-than MS   only exchanges whose response took longer than MS milliseconds\n"
	"  -h, --help             show this help\n";

static volatile sig_atomic_t stop;
static struct pcapin *live;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (live)
		pcapin_break(live);
}

int sniff_main(int argc, char **argv)
{
	struct decode_args a;
	a.cmd = "sniff";
	int rc = decode_parse_args(&a, argc, argv, true);
	if (rc >= 0)
		return rc;
	if (!a.iface)
		return cli_usage_error("sniff", "no interface given (-i IFACE)");
	if (a.first_arg < argc)
		return cli_usage_error("sniff", "unexpected argument '%s'", argv[a.first_arg]);
	char err[1024];
	struct pcapin *p = pcapin_open_live(a.iface, a.bpf, err, sizeof err);
	if (!p) {
		fprintf(stderr, "kafkatap sniff: %s\n", err);
		return 1;
	}
	int dlt = pcapin_datalink(p);
	if (!pcapin_dlt_supported(dlt)) {
		fprintf(stderr, "kafkatap sniff: '%s': link type %d is not supported\n", a.iface, dlt);
		pcapin_close(p);
		return 1;
	}
	struct decode_run *r = decode_run_start(&a, argc, argv);
	if (!r) {
		pcapin_close(p);
		return 1;
	}
	live = p;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed stdout pipe ends the capture through a write error, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	struct capture *cap = decode_run_capture(r);
	struct pcapin_packet pkt;
	bool ok = true;
	while (!stop && !decode_run_failed(r)) {
		enum pcapin_status st = pcapin_next(p, &pkt);
		if (st == PCAPIN_PACKET) {
			capture_packet(cap, dlt, &pkt);
			decode_run_tick(r, 0, true);
		} else if (st == PCAPIN_TIMEOUT) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			capture_expire(cap, (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000);
			decode_run_tick(r, 0, true);
		} else {
			if (st == PCAPIN_ERROR) {
				fprintf(stderr, "kafkatap sniff: capture on '%s' failed: %s\n", a.iface,
					pcapin_error(p));
				ok = false;
			}
			break;
		}
	}
	char extra[64] = "";
	uint64_t dropped;
	if (pcapin_drops(p, &dropped))
		snprintf(extra, sizeof extra, "%llu packets dropped by the kernel", (unsigned long long)dropped);
	live = NULL;
	if (!decode_run_finish(r, extra))
		ok = false;
	pcapin_close(p);
	return ok ? 0 : 1;
}
