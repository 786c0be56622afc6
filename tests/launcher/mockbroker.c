/*
 * kt-mockbroker: a Kafka broker for kafkatap's tests.
 *
 * Runs librdkafka's mock cluster (rdkafka_mock.h, librdkafka 2.0.x) in this
 * process, prints the bootstrap list as the first line of stdout, then takes
 * fault-injection commands on stdin, one per line, and answers each with one
 * line ("ok", "error: <why>", or the bootstrap list for "bootstraps").
 *
 *   kt-mockbroker [--brokers N] [--port-base P | --ports P1,P2,...]
 *                 [--topic NAME:PARTITIONS[:REPLICATION]]... [--no-stdin]
 *
 * The mock binds 127.0.0.1:0 (an ephemeral port) for each broker, in broker
 * id order 1..N, and listens with a backlog of 5.  To get fixed ports (stable
 * capture filters, broker restarts at the same address) this executable
 * interposes bind() and listen(): it must be linked with -rdynamic -ldl so
 * that librdkafka's calls resolve to the definitions below.  Only the calls
 * made while the cluster is being created are rewritten, and the result is
 * checked against rd_kafka_mock_cluster_bootstraps() before it is printed.
 * "down" closes the broker's listener (new connections are refused) and
 * "up" binds the same port again, so restarts keep their address.
 *
 * Commands (IDs are broker ids 1..N; -1 means all brokers where the mock
 * allows it):
 *   down ID | up ID | rtt ID MS
 *   error APIKEY ERRCODE [COUNT]        next COUNT requests fail (cluster-wide)
 *   broker-error ID APIKEY ERRCODE RTT  next request on broker ID fails/delays
 *   leader TOPIC PARTITION ID | coordinator group|txn KEY ID
 *   topic NAME PARTITIONS [REPL] | apiversion APIKEY MIN MAX
 *   bootstraps | quit
 * Error -195 (RD_KAFKA_RESP_ERR__TRANSPORT) makes the mock drop the
 * connection instead of answering.
 *
 * Exits 0 after destroying the cluster on SIGTERM, SIGINT, "quit" or end of
 * stdin (with --no-stdin: only on a signal).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_BROKERS   64
#define MAX_TOPICS    64
#define MAX_ERRCOUNT  100000
#define LISTEN_BACKLOG 1024
#define LINE_MAX_LEN  4096
#define MAX_ARGS      8

/* --- bind()/listen() interposition ------------------------------------- */

/* Set by main() before the cluster is created, read by the mock's thread. */
static int fixed_ports[MAX_BROKERS];
static int fixed_port_cnt;
static atomic_bool rewrite_binds;
static atomic_int listener_binds;

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*listen_fn)(int, int);

static bind_fn real_bind;
static listen_fn real_listen;

/* Resolved before main() so the mock's threads only ever read them. */
__attribute__((constructor)) static void interpose_init(void) {
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
        real_listen = (listen_fn)dlsym(RTLD_NEXT, "listen");
}

static bool addr_is_loopback_any_port(const struct sockaddr *addr,
                                      socklen_t len) {
        const struct sockaddr_in *sin;

        if (!addr || len < (socklen_t)sizeof(*sin) ||
            addr->sa_family != AF_INET)
                return false;
        sin = (const struct sockaddr_in *)addr;
        return sin->sin_port == 0 &&
               sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

static bool fd_is_stream(int fd) {
        int type = 0;
        socklen_t len = sizeof(type);

        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
               type == SOCK_STREAM;
}

/* Exported on purpose (not static): it replaces libc's bind() for
 * librdkafka. The mock creates broker i's listener as the i-th TCP bind to
 * 127.0.0.1:0, so the i-th such call gets the i-th requested port. */
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
        struct sockaddr_in sin;
        int idx, one = 1;

        if (!real_bind) {
                errno = ENOSYS;
                return -1;
        }
        if (!addr || addr->sa_family != AF_INET || !fd_is_stream(fd))
                return real_bind(fd, addr, len);

        /* Only the mock's listeners bind TCP in this process. "down" closes
         * a broker's listener and "up" binds its old port again, which
         * fails while connections it closed sit in TIME_WAIT: allow it. */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

        if (!atomic_load(&rewrite_binds) ||
            !addr_is_loopback_any_port(addr, len))
                return real_bind(fd, addr, len);
        idx = atomic_fetch_add(&listener_binds, 1);
        if (idx >= fixed_port_cnt)
                return real_bind(fd, addr, len);

        memcpy(&sin, addr, sizeof(sin));
        sin.sin_port = htons((uint16_t)fixed_ports[idx]);
        return real_bind(fd, (const struct sockaddr *)&sin, sizeof(sin));
}

/* Exported on purpose: the mock listens with a backlog of 5, which drops
 * connections in connection-storm tests. */
int listen(int fd, int backlog) {
        if (!real_listen) {
                errno = ENOSYS;
                return -1;
        }
        if (backlog < LISTEN_BACKLOG)
                backlog = LISTEN_BACKLOG;
        return real_listen(fd, backlog);
}

/* --- logging ----------------------------------------------------------- */

/* The hosting handle has no bootstrap.servers on purpose; drop the warning
 * about it and pass every other librdkafka log line (the mock's) to stderr. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
        (void)rk;
        if (!strcmp(fac, "CONFWARN") && strstr(buf, "bootstrap.servers"))
                return;
        fprintf(stderr, "%%%d|%s|%s\n", level, fac, buf);
}

/* --- signals ------------------------------------------------------------ */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
        int saved = errno;
        unsigned char b = (unsigned char)sig;

        if (write(sig_pipe[1], &b, 1) < 0) {
                /* Pipe full: a wakeup is already pending. */
        }
        errno = saved;
}

static int signals_setup(void) {
        struct sigaction sa;

        if (pipe(sig_pipe) != 0)
                return -1;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) != 0 ||
            sigaction(SIGINT, &sa, NULL) != 0)
                return -1;
        sa.sa_handler = SIG_IGN;
        return sigaction(SIGPIPE, &sa, NULL);
}

/* --- argument parsing --------------------------------------------------- */

static bool parse_long(const char *s, long min, long max, long *out) {
        char *end;
        long v;

        if (!s || !*s)
                return false;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return false;
        *out = v;
        return true;
}

struct topic_spec {
        char name[256];
        int partitions;
        int replication;
};

struct options {
        int brokers;
        int port_base;          /* 0: not given */
        int ports[MAX_BROKERS];
        int port_cnt;
        struct topic_spec topics[MAX_TOPICS];
        int topic_cnt;
        bool no_stdin;
};

static void usage(FILE *fp) {
        fprintf(fp,
                "Usage: kt-mockbroker [options]\n"
                "Run librdkafka's mock Kafka cluster for tests. Prints the "
                "bootstrap list on the\nfirst stdout line, then reads "
                "commands on stdin (see the source's top comment).\n\n"
                "  --brokers N          number of brokers (default 1, max %d)\n"
                "  --port-base P        broker i listens on P+i-1\n"
                "  --ports P1,P2,...    broker i listens on Pi\n"
                "  --topic NAME:PARTITIONS[:REPLICATION]  pre-create a topic "
                "(repeatable)\n"
                "  --no-stdin           ignore stdin; run until SIGTERM/SIGINT\n"
                "  --help               this text\n",
                MAX_BROKERS);
}

static bool parse_ports(const char *s, struct options *o) {
        char buf[1024], *tok, *save = NULL;
        long v;

        if (strlen(s) >= sizeof(buf))
                return false;
        strcpy(buf, s);
        o->port_cnt = 0;
        for (tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                if (o->port_cnt >= MAX_BROKERS ||
                    !parse_long(tok, 1, 65535, &v))
                        return false;
                o->ports[o->port_cnt++] = (int)v;
        }
        return o->port_cnt > 0;
}

static bool parse_topic(const char *s, struct topic_spec *t) {
        char buf[512], *parts[3] = {NULL, NULL, NULL}, *p;
        int n = 0;
        long v;

        if (strlen(s) >= sizeof(buf))
                return false;
        strcpy(buf, s);
        parts[n++] = buf;
        for (p = buf; *p; p++) {
                if (*p != ':')
                        continue;
                if (n >= 3)
                        return false;
                *p = '\0';
                parts[n++] = p + 1;
        }
        if (n < 2 || !*parts[0] || strlen(parts[0]) >= sizeof(t->name))
                return false;
        strcpy(t->name, parts[0]);
        if (!parse_long(parts[1], 1, 100000, &v))
                return false;
        t->partitions = (int)v;
        t->replication = 1;
        if (n == 3) {
                if (!parse_long(parts[2], 1, MAX_BROKERS, &v))
                        return false;
                t->replication = (int)v;
        }
        return true;
}

/* Returns 0 to run, 1 to exit 0 (--help), -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o) {
        long v;
        int i;

        memset(o, 0, sizeof(*o));
        o->brokers = 1;
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *val = i + 1 < argc ? argv[i + 1] : NULL;

                if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        usage(stdout);
                        return 1;
                } else if (!strcmp(a, "--no-stdin")) {
                        o->no_stdin = true;
                        continue;
                }
                if (!val) {
                        fprintf(stderr, "kt-mockbroker: %s needs a value\n", a);
                        return -1;
                }
                i++;
                if (!strcmp(a, "--brokers")) {
                        if (!parse_long(val, 1, MAX_BROKERS, &v)) {
                                fprintf(stderr, "kt-mockbroker: --brokers "
                                        "must be 1..%d, not '%s'\n",
                                        MAX_BROKERS, val);
                                return -1;
                        }
                        o->brokers = (int)v;
                } else if (!strcmp(a, "--port-base")) {
                        if (!parse_long(val, 1, 65535, &v)) {
                                fprintf(stderr, "kt-mockbroker: bad "
                                        "--port-base '%s'\n", val);
                                return -1;
                        }
                        o->port_base = (int)v;
                } else if (!strcmp(a, "--ports")) {
                        if (!parse_ports(val, o)) {
                                fprintf(stderr, "kt-mockbroker: bad --ports "
                                        "'%s' (want P1,P2,... in 1..65535)\n",
                                        val);
                                return -1;
                        }
                } else if (!strcmp(a, "--topic")) {
                        if (o->topic_cnt >= MAX_TOPICS ||
                            !parse_topic(val, &o->topics[o->topic_cnt])) {
                                fprintf(stderr, "kt-mockbroker: bad --topic "
                                        "'%s' (want NAME:PARTITIONS"
                                        "[:REPLICATION], at most %d)\n",
                                        val, MAX_TOPICS);
                                return -1;
                        }
                        o->topic_cnt++;
                } else {
                        fprintf(stderr, "kt-mockbroker: unknown option '%s' "
                                "(try --help)\n", a);
                        return -1;
                }
        }
        if (o->port_base && o->port_cnt) {
                fprintf(stderr, "kt-mockbroker: give --port-base or --ports, "
                        "not both\n");
                return -1;
        }
        if (o->port_cnt && o->port_cnt != o->brokers) {
                if (o->brokers == 1) {
                        o->brokers = o->port_cnt;
                } else {
                        fprintf(stderr, "kt-mockbroker: --ports lists %d "
                                "ports for %d brokers\n", o->port_cnt,
                                o->brokers);
                        return -1;
                }
        }
        if (o->port_base) {
                if (o->port_base + o->brokers - 1 > 65535) {
                        fprintf(stderr, "kt-mockbroker: --port-base %d + %d "
                                "brokers passes 65535\n", o->port_base,
                                o->brokers);
                        return -1;
                }
                for (i = 0; i < o->brokers; i++)
                        o->ports[i] = o->port_base + i;
                o->port_cnt = o->brokers;
        }
        return 0;
}

/* --- commands ----------------------------------------------------------- */

struct launcher {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        int brokers;
        bool quit;
};

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static void reply_err(rd_kafka_resp_err_t err) {
        if (err)
                reply("error: %s (%d)", rd_kafka_err2str(err), (int)err);
        else
                reply("ok");
}

static bool arg_broker(struct launcher *l, const char *s, bool allow_all,
                       int32_t *id) {
        long v;

        if (allow_all && parse_long(s, -1, -1, &v)) {
                *id = -1;
                return true;
        }
        if (!parse_long(s, 1, l->brokers, &v)) {
                reply("error: bad broker id '%s' (want 1..%d%s)", s,
                      l->brokers, allow_all ? " or -1" : "");
                return false;
        }
        *id = (int32_t)v;
        return true;
}

static bool arg_num(const char *what, const char *s, long min, long max,
                    long *out) {
        if (!parse_long(s, min, max, out)) {
                reply("error: bad %s '%s' (want %ld..%ld)", what, s, min, max);
                return false;
        }
        return true;
}

static void cmd_error(struct launcher *l, char **av, int ac) {
        rd_kafka_resp_err_t *errs;
        long key, code, cnt = 1, i;

        if (ac < 3 || ac > 4) {
                reply("error: usage: error APIKEY ERRCODE [COUNT]");
                return;
        }
        if (!arg_num("api key", av[1], 0, INT16_MAX, &key) ||
            !arg_num("error code", av[2], INT_MIN, INT_MAX, &code) ||
            (ac == 4 && !arg_num("count", av[3], 1, MAX_ERRCOUNT, &cnt)))
                return;
        errs = calloc((size_t)cnt, sizeof(*errs));
        if (!errs) {
                reply("error: out of memory");
                return;
        }
        for (i = 0; i < cnt; i++)
                errs[i] = (rd_kafka_resp_err_t)code;
        rd_kafka_mock_push_request_errors_array(l->mc, (int16_t)key,
                                                (size_t)cnt, errs);
        free(errs);
        reply("ok");
}

static void cmd_broker_error(struct launcher *l, char **av, int ac) {
        long key, code, rtt;
        int32_t id;

        if (ac != 5) {
                reply("error: usage: broker-error ID APIKEY ERRCODE RTT_MS");
                return;
        }
        if (!arg_broker(l, av[1], false, &id) ||
            !arg_num("api key", av[2], 0, INT16_MAX, &key) ||
            !arg_num("error code", av[3], INT_MIN, INT_MAX, &code) ||
            !arg_num("rtt", av[4], 0, INT_MAX, &rtt))
                return;
        reply_err(rd_kafka_mock_broker_push_request_error_rtts(
            l->mc, id, (int16_t)key, 1, (rd_kafka_resp_err_t)code, (int)rtt));
}

static void cmd_topic(struct launcher *l, char **av, int ac) {
        long parts, repl = 1;

        if (ac < 3 || ac > 4) {
                reply("error: usage: topic NAME PARTITIONS [REPL]");
                return;
        }
        if (!arg_num("partition count", av[2], 1, 100000, &parts) ||
            (ac == 4 && !arg_num("replication", av[3], 1, l->brokers, &repl)))
                return;
        reply_err(rd_kafka_mock_topic_create(l->mc, av[1], (int)parts,
                                             (int)repl));
}

static void command_run(struct launcher *l, char *line) {
        char *av[MAX_ARGS], *save = NULL, *tok;
        int ac = 0;
        int32_t id;
        long a, b, c;

        for (tok = strtok_r(line, " \t\r", &save); tok;
             tok = strtok_r(NULL, " \t\r", &save)) {
                if (ac == MAX_ARGS) {
                        reply("error: too many words");
                        return;
                }
                av[ac++] = tok;
        }
        if (ac == 0) {
                reply("error: empty command");
                return;
        }

        if (!strcmp(av[0], "down") || !strcmp(av[0], "up")) {
                if (ac != 2) {
                        reply("error: usage: %s ID", av[0]);
                        return;
                }
                if (!arg_broker(l, av[1], true, &id))
                        return;
                reply_err(av[0][0] == 'd'
                              ? rd_kafka_mock_broker_set_down(l->mc, id)
                              : rd_kafka_mock_broker_set_up(l->mc, id));
        } else if (!strcmp(av[0], "rtt")) {
                if (ac != 3) {
                        reply("error: usage: rtt ID MS");
                        return;
                }
                if (!arg_broker(l, av[1], true, &id) ||
                    !arg_num("rtt", av[2], 0, INT_MAX, &a))
                        return;
                reply_err(rd_kafka_mock_broker_set_rtt(l->mc, id, (int)a));
        } else if (!strcmp(av[0], "error")) {
                cmd_error(l, av, ac);
        } else if (!strcmp(av[0], "broker-error")) {
                cmd_broker_error(l, av, ac);
        } else if (!strcmp(av[0], "leader")) {
                if (ac != 4) {
                        reply("error: usage: leader TOPIC PARTITION ID");
                        return;
                }
                if (!arg_num("partition", av[2], 0, INT32_MAX, &a))
                        return;
                /* -1 makes the partition leaderless. */
                if (!arg_broker(l, av[3], true, &id))
                        return;
                reply_err(rd_kafka_mock_partition_set_leader(
                    l->mc, av[1], (int32_t)a, id));
        } else if (!strcmp(av[0], "coordinator")) {
                const char *type;

                if (ac != 4) {
                        reply("error: usage: coordinator group|txn KEY ID");
                        return;
                }
                if (!strcmp(av[1], "group"))
                        type = "group";
                else if (!strcmp(av[1], "txn") ||
                         !strcmp(av[1], "transaction"))
                        type = "transaction";
                else {
                        reply("error: coordinator type must be group or txn, "
                              "not '%s'", av[1]);
                        return;
                }
                if (!arg_broker(l, av[3], false, &id))
                        return;
                reply_err(rd_kafka_mock_coordinator_set(l->mc, type, av[2],
                                                        id));
        } else if (!strcmp(av[0], "topic")) {
                cmd_topic(l, av, ac);
        } else if (!strcmp(av[0], "apiversion")) {
                if (ac != 4) {
                        reply("error: usage: apiversion APIKEY MIN MAX");
                        return;
                }
                if (!arg_num("api key", av[1], 0, INT16_MAX, &a) ||
                    !arg_num("min version", av[2], -1, INT16_MAX, &b) ||
                    !arg_num("max version", av[3], -1, INT16_MAX, &c))
                        return;
                reply_err(rd_kafka_mock_set_apiversion(
                    l->mc, (int16_t)a, (int16_t)b, (int16_t)c));
        } else if (!strcmp(av[0], "bootstraps")) {
                reply("%s", rd_kafka_mock_cluster_bootstraps(l->mc));
        } else if (!strcmp(av[0], "quit")) {
                reply("ok");
                l->quit = true;
        } else {
                reply("error: unknown command '%s'", av[0]);
        }
}

/* --- main loop ---------------------------------------------------------- */

/* Reads stdin without stdio so poll() sees the real state of the fd. */
struct line_reader {
        char buf[LINE_MAX_LEN];
        size_t len;
        bool discarding;        /* dropping the rest of an over-long line */
};

/* Returns false at end of input. */
static bool stdin_drain(struct launcher *l, struct line_reader *r) {
        ssize_t n;
        char *nl;

        n = read(STDIN_FILENO, r->buf + r->len, sizeof(r->buf) - r->len);
        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n == 0)
                return false;
        r->len += (size_t)n;

        while (!l->quit && (nl = memchr(r->buf, '\n', r->len)) != NULL) {
                size_t used = (size_t)(nl - r->buf) + 1;

                *nl = '\0';
                if (r->discarding) {
                        r->discarding = false;
                        reply("error: line longer than %d bytes",
                              LINE_MAX_LEN - 1);
                } else {
                        command_run(l, r->buf);
                }
                memmove(r->buf, r->buf + used, r->len - used);
                r->len -= used;
        }
        if (r->len == sizeof(r->buf)) {
                r->discarding = true;
                r->len = 0;
        }
        return true;
}

static void run(struct launcher *l, bool use_stdin) {
        struct line_reader reader;
        struct pollfd pfd[2];
        int nfds;

        memset(&reader, 0, sizeof(reader));
        pfd[0].fd = sig_pipe[0];
        pfd[0].events = POLLIN;
        pfd[1].fd = STDIN_FILENO;
        pfd[1].events = POLLIN;
        nfds = use_stdin ? 2 : 1;

        while (!l->quit) {
                if (poll(pfd, (nfds_t)nfds, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("kt-mockbroker: poll");
                        return;
                }
                if (pfd[0].revents)
                        return;
                if (nfds == 2 && pfd[1].revents && !stdin_drain(l, &reader))
                        return;
        }
}

/* librdkafka 2.0.2 aborts (an assertion in its cleanup path) when a mock
 * broker cannot bind, so find a taken port before creating the cluster. */
static bool ports_free(const struct options *o) {
        int i, one = 1;

        for (i = 0; i < o->port_cnt; i++) {
                struct sockaddr_in sin;
                int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

                if (fd < 0) {
                        perror("kt-mockbroker: socket");
                        return false;
                }
                memset(&sin, 0, sizeof(sin));
                sin.sin_family = AF_INET;
                sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                sin.sin_port = htons((uint16_t)o->ports[i]);
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                 sizeof(one));
                /* Our bind() passes this through unchanged: the port
                 * rewrite is only on while the cluster is created. */
                rc = bind(fd, (const struct sockaddr *)&sin, sizeof(sin));
                if (rc != 0) {
                        fprintf(stderr, "kt-mockbroker: cannot use "
                                "127.0.0.1:%d for broker %d: %s\n",
                                o->ports[i], i + 1, strerror(errno));
                        close(fd);
                        return false;
                }
                close(fd);
        }
        return true;
}

static bool check_ports(const struct options *o, const char *bootstraps) {
        char want[MAX_BROKERS * 24] = "";
        size_t off = 0;
        int i;

        for (i = 0; i < o->port_cnt; i++)
                off += (size_t)snprintf(want + off, sizeof(want) - off,
                                        "%s127.0.0.1:%d", i ? "," : "",
                                        o->ports[i]);
        if (strcmp(want, bootstraps) == 0)
                return true;
        fprintf(stderr, "kt-mockbroker: wanted brokers at %s but the mock "
                "bound %s (a port in use?)\n", want, bootstraps);
        return false;
}

int main(int argc, char **argv) {
        struct options opt;
        struct launcher l;
        rd_kafka_conf_t *conf;
        char errstr[512];
        const char *bootstraps;
        int rc, i;

        rc = parse_args(argc, argv, &opt);
        if (rc != 0)
                return rc > 0 ? 0 : 2;
        if (!ports_free(&opt))
                return 1;
        if (signals_setup() != 0) {
                perror("kt-mockbroker: signal setup");
                return 1;
        }

        memset(&l, 0, sizeof(l));
        l.brokers = opt.brokers;
        conf = rd_kafka_conf_new();
        /* The handle only hosts the mock cluster; it never connects. */
        if (rd_kafka_conf_set(conf, "client.id", "kt-mockbroker", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "kt-mockbroker: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return 1;
        }
        rd_kafka_conf_set_log_cb(conf, log_cb);
        l.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!l.rk) {
                fprintf(stderr, "kt-mockbroker: rd_kafka_new: %s\n", errstr);
                return 1;
        }

        for (i = 0; i < opt.port_cnt; i++)
                fixed_ports[i] = opt.ports[i];
        fixed_port_cnt = opt.port_cnt;
        atomic_store(&listener_binds, 0);
        atomic_store(&rewrite_binds, opt.port_cnt > 0);
        l.mc = rd_kafka_mock_cluster_new(l.rk, opt.brokers);
        atomic_store(&rewrite_binds, false);
        if (!l.mc) {
                fprintf(stderr, "kt-mockbroker: could not create a mock "
                        "cluster of %d brokers (a port in use?)\n",
                        opt.brokers);
                rd_kafka_destroy(l.rk);
                return 1;
        }
        bootstraps = rd_kafka_mock_cluster_bootstraps(l.mc);
        if (opt.port_cnt && !check_ports(&opt, bootstraps)) {
                rd_kafka_mock_cluster_destroy(l.mc);
                rd_kafka_destroy(l.rk);
                return 1;
        }

        for (i = 0; i < opt.topic_cnt; i++) {
                const struct topic_spec *t = &opt.topics[i];
                rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
                    l.mc, t->name, t->partitions, t->replication);

                if (err) {
                        fprintf(stderr, "kt-mockbroker: topic %s: %s\n",
                                t->name, rd_kafka_err2str(err));
                        rd_kafka_mock_cluster_destroy(l.mc);
                        rd_kafka_destroy(l.rk);
                        return 1;
                }
        }

        printf("%s\n", bootstraps);
        fflush(stdout);

        run(&l, !opt.no_stdin);

        rd_kafka_mock_cluster_destroy(l.mc);
        rd_kafka_destroy(l.rk);
        return 0;
}
