/* splice-relay: the floor of tests/bench/bench_proxy.sh (not a test, not a
 * product). The least a user-space TCP relay can do: accept, connect on,
 * and move bytes both ways with splice(2) through a pipe per direction,
 * looking at none of them. What it costs the machine (CPU, throughput) is
 * what any relay in the path costs at the least, so a relay's figures are
 * read against it as well as against a direct connection.
 *
 *   splice-relay LISTEN_IP PORT UPSTREAM_IP [copy]
 *       listens on LISTEN_IP:PORT, connects each client on to
 *       UPSTREAM_IP:PORT (blocking connect: a benchmark's handful of
 *       connections), runs until killed.
 *       copy: also tee(2) every byte into a second pipe and read it from
 *       there into one buffer, overwritten each time: the least a relay
 *       that records must do (see every byte once), with none of the
 *       recording's own work (framing, decoding, keeping, writing) and no
 *       fresh memory.
 *       idle: also run two threads that only compute, at the lowest
 *       priority (SCHED_IDLE, nice 19), as the store's threads run: what
 *       CPU use that only takes what is idle still costs the clients.
 *
 * Edge-triggered epoll, one registration per socket: any event on a socket
 * pumps both directions of its connection until the kernel says EAGAIN. A
 * direction's bytes wait in its pipe while the destination is full; it reads
 * its source again only once the pipe is empty. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_SIZE (1 << 20)

struct half {
	int in, out;
	int pipe[2];
	int copy_pipe[2]; /* copy mode: the tee(2) of pipe */
	size_t queued; /* bytes in the pipe */
	bool done;
	struct half *peer;
};

static int ep = -1;
static bool copy_mode;
static char copy_buf[PIPE_SIZE];

/* Copy mode: a second reference to the n bytes just spliced into the pipe,
 * read out into copy_buf. False when the bytes could not be seen. */
static bool see(struct half *h, size_t n)
{
	ssize_t t = tee(h->pipe[0], h->copy_pipe[1], n, SPLICE_F_NONBLOCK);
	if (t != (ssize_t)n)
		return false;
	while (n) {
		ssize_t r = read(h->copy_pipe[0], copy_buf, n);
		if (r <= 0)
			return false;
		n -= (size_t)r;
	}
	return true;
}

static void pump(struct half *h)
{
	while (!h->done) {
		if (h->queued) {
			ssize_t n = splice(h->pipe[0], NULL, h->out, NULL, h->queued,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0) {
				if (errno != EAGAIN)
					h->done = true;
				return; /* the destination's next EPOLLOUT edge resumes */
			}
			h->queued -= (size_t)n;
			continue;
		}
		ssize_t n = splice(h->in, NULL, h->pipe[1], NULL, PIPE_SIZE,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			h->done = true;
		if (n <= 0)
			return;
		h->queued = (size_t)n;
		if (copy_mode && !see(h, (size_t)n)) {
			fprintf(stderr, "splice-relay: tee fell short\n");
			h->done = true;
		}
	}
}

static void close_pair(struct half *h)
{
	struct half *x[2] = {h, h->peer};
	epoll_ctl(ep, EPOLL_CTL_DEL, h->in, NULL);
	epoll_ctl(ep, EPOLL_CTL_DEL, h->out, NULL);
	close(h->in);
	close(h->out);
	for (int i = 0; i < 2; i++) {
		close(x[i]->pipe[0]);
		close(x[i]->pipe[1]);
		if (copy_mode) {
			close(x[i]->copy_pipe[0]);
			close(x[i]->copy_pipe[1]);
		}
		x[i]->done = true;
	}
	/* The pair is not freed: events for it may still wait in this round's
	 * array. A benchmark opens a handful of connections. */
}

static bool open_pair(int client, const struct sockaddr_in *up)
{
	int one = 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct half *x = calloc(2, sizeof *x);
	if (s < 0 || !x || connect(s, (const struct sockaddr *)up, sizeof *up) != 0 ||
	    pipe2(x[0].pipe, O_NONBLOCK) != 0 || pipe2(x[1].pipe, O_NONBLOCK) != 0 ||
	    (copy_mode && (pipe2(x[0].copy_pipe, O_NONBLOCK) != 0 ||
			   pipe2(x[1].copy_pipe, O_NONBLOCK) != 0))) {
		perror("splice-relay: connect");
		if (s >= 0)
			close(s);
		close(client);
		free(x);
		return false;
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	x[0].in = x[1].out = client;
	x[0].out = x[1].in = s;
	x[0].peer = &x[1];
	x[1].peer = &x[0];
	for (int i = 0; i < 2; i++) {
		fcntl(x[i].pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
		if (copy_mode)
			fcntl(x[i].copy_pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
		struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					.data.ptr = &x[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, x[i].in, &e);
	}
	return true;
}

/* idle mode: compute forever, touching no memory but a few registers. */
static void *spin(void *arg)
{
	(void)arg;
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	struct sched_param sp = {.sched_priority = 0};
	(void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	volatile unsigned long x = 1;
	for (;;)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return NULL;
}

int main(int argc, char **argv)
{
	bool idle_mode = false;
	if (argc == 5 && strcmp(argv[4], "copy") == 0)
		copy_mode = true;
	else if (argc == 5 && strcmp(argv[4], "idle") == 0)
		idle_mode = true;
	if (argc < 4 || argc > 5 || (argc == 5 && !copy_mode && !idle_mode)) {
		fprintf(stderr, "usage: splice-relay LISTEN_IP PORT UPSTREAM_IP [copy|idle]\n");
		return 2;
	}
	for (int i = 0; idle_mode && i < 2; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, spin, NULL) != 0) {
			perror("splice-relay: thread");
			return 1;
		}
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	struct sockaddr_in up = a;
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (ls < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 ||
	    inet_pton(AF_INET, argv[3], &up.sin_addr) != 1) {
		fprintf(stderr, "splice-relay: bad address\n");
		return 2;
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 512) != 0) {
		perror("splice-relay: listen");
		return 1;
	}
	ep = epoll_create1(0);
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e) != 0) {
		perror("splice-relay: epoll");
		return 1;
	}
	struct epoll_event ev[64];
	for (;;) {
		int n = epoll_wait(ep, ev, 64, -1);
		for (int i = 0; i < n; i++) {
			struct half *h = ev[i].data.ptr;
			if (!h) {
				int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
				if (c >= 0)
					(void)open_pair(c, &up);
				continue;
			}
			if (h->done && h->peer->done)
				continue; /* closed earlier in this round */
			/* The socket h reads is the one h->peer writes. */
			pump(h);
			pump(h->peer);
			if (h->done || h->peer->done)
				close_pair(h);
		}
	}
}
