/* bench_codec: decode speed of the schema-driven codec (src/proto/codec.c),
 * in messages/s and MB/s of frame bytes. Not a test; `make bench` runs it.
 *
 *   bench_codec [--seconds S] [--check] [FILE|DIR]...
 *
 * Without files it decodes the sample frames of every (api key, version,
 * direction) that tests/unit/codec_sample.c builds. Files (or every file in
 * a folder) hold one frame each in the fuzz_codec input format
 * [flags][api key BE16][version BE16][frame], flags bit 0 = response, as
 * tools/pcap_frames.py cuts them from captures. --check prints the diagnosis
 * of every frame that does not decode cleanly. Records stay raw bytes (no
 * records decoder is attached), so Fetch-heavy input measures the codec
 * alone. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../unit/codec_sample.h"
#include "proto/codec.h"

struct frame {
	uint8_t *p; /* frame bytes (after the 5-byte prefix) */
	size_t len;
	bool response;
	int api, version;
	char *name;
};

struct frames {
	struct frame *v;
	size_t n, cap;
	size_t bytes;
};

static bool add_frame(struct frames *fs, const uint8_t *p, size_t len, bool response, int api,
		      int version, const char *name)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 256;
		struct frame *v = realloc(fs->v, cap * sizeof *v);
		if (!v)
			return false;
		fs->v = v;
		fs->cap = cap;
	}
	struct frame *f = &fs->v[fs->n];
	f->p = malloc(len ? len : 1);
	f->name = strdup(name);
	if (!f->p || !f->name)
		return false;
	memcpy(f->p, p, len);
	f->len = len;
	f->response = response;
	f->api = api;
	f->version = version;
	fs->n++;
	fs->bytes += len;
	return true;
}

static bool load_file(struct frames *fs, const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "bench_codec: %s: %s\n", path, strerror(errno));
		return false;
	}
	struct buf b;
	buf_init(&b);
	uint8_t tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0)
		buf_append(&b, tmp, n);
	fclose(fp);
	bool ok = true;
	if (b.len >= 5 && !b.failed)
		ok = add_frame(fs, b.p + 5, b.len - 5, b.p[0] & 1, (int16_t)(b.p[1] << 8 | b.p[2]),
			       (int16_t)(b.p[3] << 8 | b.p[4]), path);
	buf_free(&b);
	return ok;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool load_path(struct frames *fs, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "bench_codec: %s: %s\n", path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode))
		return load_file(fs, path);
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "bench_codec: %s: %s\n", path, strerror(errno));
		return false;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			char **nv = realloc(names, cap * sizeof *nv);
			if (!nv)
				break;
			names = nv;
		}
		size_t l = strlen(path) + strlen(e->d_name) + 2;
		names[n] = malloc(l);
		if (!names[n])
			break;
		snprintf(names[n], l, "%s/%s", path, e->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, by_name); /* a stable order run to run */
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		ok = ok && load_file(fs, names[i]);
		free(names[i]);
	}
	free(names);
	return ok;
}

static bool load_samples(struct frames *fs)
{
	for (unsigned i = 0; i < schema_api_count; i++) {
		const struct schema_api *a = &schema_apis[i];
		for (int v = a->request->valid.min; v <= a->request->valid.max; v++) {
			for (int resp = 0; resp < 2; resp++) {
				struct buf b;
				buf_init(&b);
				char name[96];
				snprintf(name, sizeof name, "%s v%d %s", a->name, v,
					 resp ? "response" : "request");
				bool ok = sample_frame(&b, a->api_key, v, resp, 0) &&
					  add_frame(fs, b.p, b.len, resp, a->api_key, v, name);
				buf_free(&b);
				if (!ok)
					return false;
			}
		}
	}
	return true;
}

static enum codec_status decode(const struct frame *f, struct tree *t, struct codec_diag *d)
{
	struct codec_header h;
	tree_ref root;
	tree_reset(t);
	return f->response ? codec_decode_response(f->p, f->len, f->api, f->version, t, &h, &root,
						   NULL, d)
			   : codec_decode_request(f->p, f->len, t, &h, &root, NULL, d);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 1.0;
	bool check = false;
	struct frames fs = {NULL, 0, 0, 0};
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (strcmp(argv[i], "--check") == 0) {
			check = true;
		} else {
			fprintf(stderr, "usage: bench_codec [--seconds S] [--check] [FILE|DIR]...\n");
			return 2;
		}
	}
	bool ok = true;
	if (i == argc)
		ok = load_samples(&fs);
	for (; i < argc; i++)
		ok = ok && load_path(&fs, argv[i]);
	if (!ok || fs.n == 0) {
		fprintf(stderr, "bench_codec: no frames to decode\n");
		return 1;
	}

	struct tree t;
	struct codec_diag d;
	tree_init(&t);
	unsigned counts[4] = {0, 0, 0, 0}, trailing = 0;
	for (size_t k = 0; k < fs.n; k++) {
		enum codec_status st = decode(&fs.v[k], &t, &d);
		counts[st]++;
		trailing += st == CODEC_OK && d.trailing;
		if (check && (st != CODEC_OK || d.trailing)) {
			char msg[512];
			printf("%s: %s: %s\n", fs.v[k].name, codec_status_name(st),
			       codec_diag_format(&d, msg, sizeof msg));
		}
	}

	/* Warm up once, then decode the whole set until the time is up. */
	uint64_t msgs = 0, bytes = 0;
	double t0 = now(), t1 = t0;
	do {
		for (size_t k = 0; k < fs.n; k++)
			(void)decode(&fs.v[k], &t, &d);
		msgs += fs.n;
		bytes += fs.bytes;
		t1 = now();
	} while (t1 - t0 < seconds);
	double el = t1 - t0;
	printf("bench_codec: %zu frames, %zu bytes; ok %u (trailing bytes in %u), need-more %u, "
	       "malformed %u, unsupported %u\n",
	       fs.n, fs.bytes, counts[CODEC_OK], trailing, counts[CODEC_NEED_MORE],
	       counts[CODEC_MALFORMED], counts[CODEC_UNSUPPORTED]);
	printf("bench_codec: decode %.0f msgs/s, %.1f MB/s (%.2f s, %llu messages)\n",
	       (double)msgs / el, (double)bytes / el / 1e6, el, (unsigned long long)msgs);
	tree_free(&t);
	for (size_t k = 0; k < fs.n; k++) {
		free(fs.v[k].p);
		free(fs.v[k].name);
	}
	free(fs.v);
	return 0;
}
