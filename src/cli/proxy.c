/* proxy: `kafkatap proxy` — option parsing for the proxy in src/net/proxy.c.
 * Every option is documented in docs/proxy.md and the man page. */
#include "config.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/netlog.h"
#include "net/proxy.h"
#include "cli/storeopt.h"

const char proxy_usage[] =
	"usage: kafkatap proxy --upstream HOST:PORT[,HOST:PORT...] --listen [HOST:]PORT [options]\n"
	"\n"
	"Forward Kafka traffic between clients and a cluster byte for byte, and record or print\n"
	"every request/response pair. Broker addresses in Metadata, FindCoordinator and\n"
	"DescribeCluster responses are rewritten to per-broker proxy listeners, so clients\n"
	"never leave the proxy (see docs/proxy.md).\n"
	"\n"
	"options:\n"
	"  -u, --upstream HOST:PORT[,...]  bootstrap brokers of the cluster (repeatable)\n"
	"  -l, --listen [HOST:]PORT        where clients bootstrap (host default 127.0.0.1)\n"
	"  -w, --record FILE.db            record the exchanges into a SQLite file\n"
	"      --admin [HOST:]PORT         serve /metrics and /healthz (host default 127.0.0.1)\n"
	"  -v, --verbose                   print one line per exchange; -vv adds the messages\n"
	"      --json                      print one JSON object per exchange\n"
	"      --broker-map NODEID=[HOST:]PORT\n"
	"                                  listen for broker NODEID there (repeatable)\n"
	"      --port-base PORT            broker N listens on PORT+N (default: --listen port + 1)\n"
	"      --advertise-host HOST       host name clients are given for the proxy's listeners\n"
	"                                  (default: the listening host)\n"
	"      --transparent               connect each client to its original destination\n"
	"                                  (iptables REDIRECT); rewrite nothing\n"
	"      --max-frame BYTES           largest frame accepted (default 100M; k/M/G suffixes)\n"
	"      --max-connections N         refuse clients beyond N open connections (default 10000)\n"
	"      --idle-timeout SEC          close connections idle for SEC seconds (default: never)\n"
	"      --grace SEC                 on SIGINT/SIGTERM wait up to SEC seconds for in-flight\n"
	"                                  responses (default 10)\n"
	"      --log-level LEVEL           error, warn, info (default) or debug\n"
	"  -h, --help                      show this help\n"
	"recording (with --record; docs/store.md):\n"
	STOREOPT_USAGE("drop (default; forwarding never\n"
		       "                         waits: large frames past the queue go on unrecorded,\n"
		       "                         their exchanges flagged shed; others are dropped, counted)\n"
		       "                         or pause (a complete recording: reading from the sockets\n"
		       "                         pauses while the queue is full)")
	"      --store-reserve    take the queue's memory (--store-queue) at start and keep\n"
	"                         it: a burst fills the queue without slowing the clients\n"
	"\n"
	"Signals: SIGINT/SIGTERM stop accepting, drain and flush the recording (exit 0);\n"
	"SIGHUP reopens the recording file.\n";

enum {
	OPT_ADMIN = 256,
	OPT_JSON,
	OPT_BROKER_MAP,
	OPT_PORT_BASE,
	OPT_ADVERTISE_HOST,
	OPT_TRANSPARENT,
	OPT_MAX_FRAME,
	OPT_MAX_CONNECTIONS,
	OPT_IDLE_TIMEOUT,
	OPT_GRACE,
	OPT_LOG_LEVEL,
	OPT_STORE_RESERVE,
};

static int add_upstreams(struct proxy_config *cfg, const char *arg)
{
	char *copy = strdup(arg);
	if (!copy)
		return cli_usage_error("proxy", "out of memory");
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char err[256];
		if (cfg->n_upstreams == PROXY_MAX_UPSTREAMS) {
			free(copy);
			return cli_usage_error("proxy", "--upstream: at most %d addresses",
					       PROXY_MAX_UPSTREAMS);
		}
		if (!netaddr_parse(tok, NULL, &cfg->upstreams[cfg->n_upstreams], err, sizeof err) ||
		    cfg->upstreams[cfg->n_upstreams].port == 0) {
			free(copy);
			return cli_usage_error("proxy", "--upstream %s", err[0] ? err : "port 0");
		}
		cfg->n_upstreams++;
	}
	free(copy);
	return 0;
}

int proxy_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"upstream", required_argument, NULL, 'u'},
		{"listen", required_argument, NULL, 'l'},
		{"record", required_argument, NULL, 'w'},
		{"admin", required_argument, NULL, OPT_ADMIN},
		{"verbose", no_argument, NULL, 'v'},
		{"json", no_argument, NULL, OPT_JSON},
		{"broker-map", required_argument, NULL, OPT_BROKER_MAP},
		{"port-base", required_argument, NULL, OPT_PORT_BASE},
		{"advertise-host", required_argument, NULL, OPT_ADVERTISE_HOST},
		{"transparent", no_argument, NULL, OPT_TRANSPARENT},
		{"max-frame", required_argument, NULL, OPT_MAX_FRAME},
		{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
		{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
		{"grace", required_argument, NULL, OPT_GRACE},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"store-reserve", no_argument, NULL, OPT_STORE_RESERVE},
		{"help", no_argument, NULL, 'h'},
		STOREOPT_LONGOPTS,
		{NULL, 0, NULL, 0},
	};
	static struct proxy_config cfg; /* large: keep it off the stack */
	proxy_config_init(&cfg);
	bool have_listen = false;
	int verbose = 0;
	bool json = false;
	char err[256];
	uint64_t v;
	int ch, rc;
	static struct store_opts sopts;
	store_opts_default(&sopts);
	cfg.tap.store = &sopts;
	while ((ch = getopt_long(argc, argv, "u:l:w:vh", longopts, NULL)) != -1) {
		if ((rc = storeopt_parse("proxy", ch, optarg, &sopts)) >= 0) {
			if (rc != 0)
				return rc;
			if (ch == STOREOPT_WHEN_FULL && sopts.when_full == STORE_FULL_BLOCK)
				return cli_usage_error("proxy", "--store-when-full block would stop the "
						       "event loop: use drop or pause");
			continue;
		}
		switch (ch) {
		case 'u':
			if ((rc = add_upstreams(&cfg, optarg)) != 0)
				return rc;
			break;
		case 'l':
			if (!netaddr_parse(optarg, "127.0.0.1", &cfg.listen, err, sizeof err))
				return cli_usage_error("proxy", "--listen %s", err);
			have_listen = true;
			break;
		case 'w':
			cfg.tap.record_path = optarg;
			break;
		case OPT_ADMIN:
			if (!netaddr_parse(optarg, "127.0.0.1", &cfg.admin, err, sizeof err))
				return cli_usage_error("proxy", "--admin %s", err);
			cfg.have_admin = true;
			break;
		case 'v':
			verbose++;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_BROKER_MAP: {
			const char *eq = strchr(optarg, '=');
			char idbuf[16];
			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof idbuf)
				return cli_usage_error("proxy", "--broker-map '%s': expected NODEID=HOST:PORT",
						       optarg);
			memcpy(idbuf, optarg, (size_t)(eq - optarg));
			idbuf[eq - optarg] = '\0';
			if (!cli_parse_u64(idbuf, INT32_MAX, &v))
				return cli_usage_error("proxy", "--broker-map '%s': '%s' is not a node id",
						       optarg, idbuf);
			if (cfg.n_maps == PROXY_MAX_BROKER_MAP)
				return cli_usage_error("proxy", "--broker-map: at most %d",
						       PROXY_MAX_BROKER_MAP);
			for (int i = 0; i < cfg.n_maps; i++)
				if (cfg.maps[i].node_id == (int32_t)v)
					return cli_usage_error("proxy", "--broker-map: node %llu given twice",
							       (unsigned long long)v);
			struct proxy_broker_map *m = &cfg.maps[cfg.n_maps];
			m->node_id = (int32_t)v;
			if (!netaddr_parse(eq + 1, "127.0.0.1", &m->listen, err, sizeof err))
				return cli_usage_error("proxy", "--broker-map %s", err);
			cfg.n_maps++;
			break;
		}
		case OPT_PORT_BASE:
			if (!cli_parse_u64(optarg, 65535, &v) || v == 0)
				return cli_usage_error("proxy", "--port-base '%s': expected a port (1-65535)",
						       optarg);
			cfg.port_base = (int)v;
			break;
		case OPT_ADVERTISE_HOST:
			if (strlen(optarg) >= sizeof cfg.advertise_host ||
			    !netaddr_host_valid(optarg, strlen(optarg)))
				return cli_usage_error("proxy", "--advertise-host '%s': expected a host name",
						       optarg);
			snprintf(cfg.advertise_host, sizeof cfg.advertise_host, "%s", optarg);
			break;
		case OPT_TRANSPARENT:
			cfg.transparent = true;
			break;
		case OPT_MAX_FRAME:
			if (!cli_parse_size(optarg, INT32_MAX, &v) || v < 64)
				return cli_usage_error("proxy",
						       "--max-frame '%s': expected 64 to 2147483647 bytes",
						       optarg);
			cfg.max_frame = (uint32_t)v;
			break;
		case OPT_MAX_CONNECTIONS:
			if (!cli_parse_u64(optarg, 1000000, &v) || v == 0)
				return cli_usage_error("proxy",
						       "--max-connections '%s': expected 1 to 1000000",
						       optarg);
			cfg.max_connections = (uint32_t)v;
			break;
		case OPT_IDLE_TIMEOUT:
			if (!cli_parse_u64(optarg, 86400 * 365, &v))
				return cli_usage_error("proxy", "--idle-timeout '%s': expected seconds",
						       optarg);
			cfg.idle_timeout_s = (uint32_t)v;
			break;
		case OPT_GRACE:
			if (!cli_parse_u64(optarg, 86400, &v))
				return cli_usage_error("proxy", "--grace '%s': expected seconds (0-86400)",
						       optarg);
			cfg.grace_s = (uint32_t)v;
			break;
		case OPT_LOG_LEVEL:
			if (strcasecmp(optarg, "error") == 0)
				netlog_set_level(NETLOG_ERROR);
			else if (strcasecmp(optarg, "warn") == 0)
				netlog_set_level(NETLOG_WARN);
			else if (strcasecmp(optarg, "info") == 0)
				netlog_set_level(NETLOG_INFO);
			else if (strcasecmp(optarg, "debug") == 0)
				netlog_set_level(NETLOG_DEBUG);
			else
				return cli_usage_error("proxy", "--log-level '%s': expected error, warn, "
						       "info or debug", optarg);
			break;
		case OPT_STORE_RESERVE:
			cfg.store_reserve = true;
			break;
		case 'h':
			fputs(proxy_usage, stdout);
			return 0;
		default:
			return cli_usage_error("proxy", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("proxy", "unexpected argument '%s'", argv[optind]);
	if (!have_listen)
		return cli_usage_error("proxy", "--listen is required");
	if (cfg.n_upstreams == 0 && !cfg.transparent)
		return cli_usage_error("proxy", "--upstream is required (except with --transparent)");
	if (cfg.store_reserve && !cfg.tap.record_path)
		return cli_usage_error("proxy", "--store-reserve keeps memory for --record's queue: "
				       "give --record");
	if (json && verbose)
		return cli_usage_error("proxy", "-v and --json cannot be used together");
	if (cfg.transparent && (cfg.n_maps || cfg.port_base))
		return cli_usage_error("proxy", "--transparent rewrites nothing: --broker-map and "
				       "--port-base do not apply");
	cfg.tap.output = json ? TAP_OUTPUT_JSON
		       : verbose >= 2 ? TAP_OUTPUT_VERBOSE
		       : verbose == 1 ? TAP_OUTPUT_LINE
				      : TAP_OUTPUT_NONE;
	/* The command line as the user typed it, for the recording's session row. */
	cfg.tap.argc = argc;
	cfg.tap.argv = argv;
	return proxy_run(&cfg);
}
