/* frame: cuts one direction of a Kafka TCP connection into frames. Every
 * Kafka message is a 4-byte big-endian size followed by that many bytes
 * ("Protocol: Requests and Responses" in the protocol guide):
 *
 *   +--------+--------+--------+--------+---------------------------+
 *   |         size (int32, big-endian)  |  size bytes: header + body |
 *   +--------+--------+--------+--------+---------------------------+
 *
 * A frame that arrives whole in one fed chunk (its size prefix may have come
 * at the end of the one before) is handed on in place (no copy); one that
 * spans chunks is gathered into a per-direction buffer of at most max_frame
 * bytes, which the owner may take over (frame_swap_body). Memory policy,
 * per direction:
 *   - one partial frame of at most max_frame bytes;
 *   - a frame declaring more than max_frame is not buffered: its first
 *     FRAME_HEAD_MAX bytes are kept so its header can still be read, the rest
 *     is skipped and counted ("lost");
 *   - while hunting for a frame boundary, a window of FRAME_STASH_CAP bytes.
 *
 * Where the start of the stream is unknown (a capture that began
 * mid-connection, or after bytes missing from a capture) the framer hunts:
 * it tries each byte offset as a frame start and asks the owner whether a
 * frame could start there (frame_check_request for requests; for responses
 * the owner matches the correlation id against the requests in flight). The
 * bytes passed over are counted as skipped. A negative size is the other
 * way to lose the boundary: with `resync` the framer hunts from the byte
 * after the bad size; without (the proxy: the stream is exactly what crossed
 * the socket) the rest of the direction is counted as raw. */
#ifndef KT_FRAME_H
#define KT_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define FRAME_HEAD_MAX 64      /* bytes of a lost frame kept (size prefix included) */
#define FRAME_CHECK_MAX 96     /* a plausibility check never needs more bytes than this */
#define FRAME_STASH_CAP 4096   /* hunt window */

/* The framer's states. Every change goes through one function (frame.c). */
#define FRAME_STATES(X)                                                     \
	X(SIZE, "size")   /* reading the 4-byte size of the next frame */     \
	X(BODY, "body")   /* gathering a frame that spans chunks */           \
	X(LOST, "lost")   /* skipping the rest of a frame not delivered */     \
	X(HUNT, "hunt")   /* looking for a frame boundary */                  \
	X(RAW, "raw")     /* framing given up: bytes are only counted */

enum frame_state {
#define FRAME_STATE_ENUM(name, text) FRAME_##name,
	FRAME_STATES(FRAME_STATE_ENUM)
#undef FRAME_STATE_ENUM
};
const char *frame_state_name(enum frame_state s);

enum frame_verdict { FRAME_NO = 0, FRAME_YES, FRAME_MORE };

/* Why a frame was not delivered whole. */
enum frame_loss { FRAME_LOSS_OVERSIZED, FRAME_LOSS_GAP, FRAME_LOSS_CLOSED, FRAME_LOSS_SHED };

struct frame_sink {
	/* A whole frame (without the size prefix); valid during the call. */
	void (*frame)(void *ctx, const uint8_t *p, uint32_t n, int64_t ts_us);
	/* A frame whose bytes will not all be delivered: `head` holds its first
	 * bytes after the size prefix (head_len may be 0), `size` its declared size. */
	void (*lost)(void *ctx, const uint8_t *head, uint32_t head_len, uint32_t size,
		     enum frame_loss why, int64_t ts_us);
	/* Could a frame start at p? p[0..3] is the size prefix; `avail` bytes are
	 * readable. Return FRAME_MORE only when avail < FRAME_CHECK_MAX. */
	enum frame_verdict (*check)(void *ctx, const uint8_t *p, size_t avail);
	/* A message for the user. May be NULL. */
	void (*notice)(void *ctx, const char *msg);
	void *ctx;
};

struct frame_counters {
	uint64_t frames;
	uint64_t bytes;          /* all bytes fed */
	uint64_t bad_sizes;      /* negative or over max_frame */
	uint64_t lost_frames;    /* not delivered whole (oversized, gap, close, shed) */
	uint64_t skipped_bytes;  /* passed over while hunting, in lost frames, or raw */
	uint64_t gaps;
	uint64_t gap_bytes;
	uint64_t shed_frames;    /* frame_shed */
	uint64_t passed_bytes;   /* the rest of shed frames (passed or fed) */
};

struct framer {
	enum frame_state state;
	bool resync;
	uint32_t max_frame;
	struct frame_sink sink;
	/* The start of the current frame: size prefix and first bytes. */
	uint8_t head[FRAME_HEAD_MAX];
	uint32_t head_len;
	uint32_t size;           /* declared size of the current frame */
	int64_t start_ts;        /* when its first byte came */
	/* BODY: the frame gathered so far. */
	uint8_t *body;
	uint32_t body_len, body_cap;
	uint32_t body_ready;     /* bytes of body[] known to be backed by memory */
	/* LOST: bytes of the current frame still to pass over; shed: the frame
	 * was shed (frame_shed), not lost. */
	uint64_t lost_left;
	bool shed;
	/* HUNT: bytes not yet ruled out as a frame start. */
	uint8_t *stash;
	size_t stash_len;
	uint64_t hunt_skipped;   /* skipped in the current hunt, for the notice */
	struct frame_counters c;
};

void frame_init(struct framer *f, uint32_t max_frame, bool resync, const struct frame_sink *sink);
void frame_free(struct framer *f);
/* Bytes of this direction, in order. */
void frame_feed(struct framer *f, const uint8_t *p, size_t n, int64_t ts_us);
/* Gathering without the copy: when the framer is in the middle of a frame
 * (the size prefix read, the body incomplete), *p is where the body's next
 * byte goes and the return value how many more the frame has; otherwise 0.
 * The block is allocated whole and its next `want` bytes backed by memory
 * (0: none; calling again with the count that came is fine).
 * The caller writes up to that many bytes there and reports them with
 * frame_body_commit, which acts exactly as frame_feed of those bytes. */
size_t frame_body_room(struct framer *f, uint8_t **p, size_t want);
void frame_body_commit(struct framer *f, size_t n, int64_t ts_us);
/* The owner will not show the framer the rest of the frame being gathered
 * (the proxy, when its recording has no room for it): the frame is reported
 * lost (FRAME_LOSS_SHED) with the bytes gathered so far as its head, and the
 * rest is to be passed with frame_pass. False, and nothing changes, when
 * the framer is not gathering a frame (frame_body_room would return 0). */
bool frame_shed(struct framer *f, int64_t ts_us);
/* Bytes of the current frame the framer would pass over unseen (the rest of
 * a shed or lost frame whose head was reported); 0 when it is not doing so.
 * The owner may move up to that many elsewhere and report them with
 * frame_pass, which counts them as fed. */
uint64_t frame_pass_room(const struct framer *f);
void frame_pass(struct framer *f, uint64_t n);
/* n bytes are missing here. */
void frame_gap(struct framer *f, uint64_t n, int64_t ts_us);
/* The next bytes may start mid-frame: hunt for a boundary (needs resync). */
void frame_hunt(struct framer *f);
/* No more bytes: a frame in progress is reported lost, a hunt ends. */
void frame_close(struct framer *f, int64_t ts_us);
/* For the frame callback: is p (the frame being delivered) the framer's own
 * gathering buffer, i.e. a frame that spanned chunks? */
bool frame_gathered(const struct framer *f, const uint8_t *p);
/* Exchange the gathering buffer with *buf (capacity *cap; may be NULL and 0).
 * Called from the frame callback of a gathered frame, it lets the owner keep
 * that frame without copying it; the framer gathers the next frame into the
 * buffer it got back (it grows it as needed). */
void frame_swap_body(struct framer *f, uint8_t **buf, uint32_t *cap);

/* Could a Kafka request frame start at p (size prefix first)? Checks the
 * size against max_frame (0: no limit), that the api key and version are
 * known to the schema tables, a non-negative correlation id, and a client id
 * whose length fits the frame and whose bytes are printable. Used to hunt and
 * to tell the client side of a connection from the broker side. */
enum frame_verdict frame_check_request(const uint8_t *p, size_t avail, uint32_t max_frame);
/* The same for a frame whose size (`size`) is already known: h is the first
 * byte after the size prefix, `avail` bytes from there are readable. */
enum frame_verdict frame_check_request_header(const uint8_t *h, size_t avail, uint32_t size);

#endif
