/* fuzz_capture: libFuzzer target for the capture path below the stream
 * layer: link layers (Ethernet/VLAN, SLL, SLL2, raw IP, BSD loopback), IPv4
 * and IPv6 with fragment reassembly, TCP reassembly, broker-side detection,
 * then the stream layer and the exchange formats.
 *
 * Input, either of:
 *   - [dlt selector u8] then packets [len u16 big-endian][len bytes]; each
 *     packet goes to capture_packet with increasing timestamps;
 *   - a pcapng file (it starts with the section header's block type
 *     0A 0D 0D 0A): read by the pcapng reader (src/capture/pcapng.c), each
 *     packet with its own interface's link type, as `kafkatap decode` reads
 *     pcapng files. The file is read twice, through stdio (a memory stream)
 *     and mapped (a memfd, which the reader maps like a regular file): both
 *     must give the same packets and end the same way. */
#include "config.h"

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture/capture.h"
#include "capture/pcapng.h"
#include "output/report.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct report_decoded decoded;
static struct buf out;

/* The same bytes in a memfd: a regular file, so pcapng.c maps it. */
static FILE *mapped_file(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz_capture", 0);
	if (fd < 0)
		return NULL;
	FILE *fp = fdopen(fd, "w+b");
	if (!fp) {
		close(fd);
		return NULL;
	}
	if (fwrite(data, 1, size, fp) != size || fflush(fp) != 0 || fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		return NULL;
	}
	return fp;
}

/* Packets, their bytes hashed, and how the read ended. */
struct ng_result {
	uint64_t packets, hash;
	int status;
	bool truncated;
	char err[256];
};

static void read_ng(FILE *fp, struct capture *c, struct ng_result *res)
{
	memset(res, 0, sizeof *res);
	res->hash = 1469598103934665603ull;
	struct pcapng *r = fp ? pcapng_open(fp, res->err, sizeof res->err, NULL) : NULL;
	struct pcapng_packet np;
	res->status = PCAPNG_ERROR;
	while (r && (res->status = pcapng_next(r, &np)) == PCAPNG_PACKET) {
		res->packets++;
		for (uint32_t i = 0; i < np.caplen; i++)
			res->hash = (res->hash ^ np.data[i]) * 1099511628211ull;
		res->hash ^= (uint64_t)np.ts_us ^ (uint64_t)np.len << 32 ^ (uint64_t)np.linktype;
		if (c) {
			struct pcapin_packet pkt = {.ts_us = np.ts_us, .caplen = np.caplen, .len = np.len,
						    .data = np.data, .own_dlt = true, .dlt = np.linktype};
			capture_packet(c, DLT_EN10MB, &pkt);
		}
	}
	if (r) {
		snprintf(res->err, sizeof res->err, "%s", pcapng_error(r));
		res->truncated = pcapng_truncated(r);
	}
	pcapng_close(r);
	if (fp)
		fclose(fp);
}

static void on_exchange(void *ctx, const struct exchange *x)
{
	(void)ctx;
	report_decode(&decoded, x, NULL);
	buf_reset(&out);
	report_exchange_json(&out, &decoded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_RAW, DLT_NULL, DLT_LOOP,
#ifdef DLT_LINUX_SLL2
				   DLT_LINUX_SLL2,
#endif
				   DLT_IPV4, DLT_IPV6};
	static int init;
	if (!init) {
		report_init(&decoded);
		buf_init(&out);
		init = 1;
	}
	if (size < 1)
		return 0;
	bool ng = size >= 4 && data[0] == 0x0A && data[1] == 0x0D && data[2] == 0x0D && data[3] == 0x0A;
	int dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
	struct capture_opts o;
	memset(&o, 0, sizeof o);
	o.ports[0] = 9092;
	o.nports = 1;
	o.auto_detect = (data[0] & 0x80) != 0;
	o.stream.max_frame = 1 << 16;
	o.exchange = on_exchange;
	struct capture *c = capture_new(&o);
	if (!c)
		return 0;
	if (ng) {
		static struct ng_result a, b;
		read_ng(fmemopen((void *)data, size, "rb"), c, &a);
		FILE *mf = mapped_file(data, size);
		if (mf) {
			read_ng(mf, NULL, &b);
			if (a.packets != b.packets || a.hash != b.hash || a.status != b.status ||
			    a.truncated != b.truncated || strcmp(a.err, b.err) != 0) {
				fprintf(stderr, "stdio and mapped reads differ: %llu/%llu packets, status %d/%d, '%s' / '%s'\n",
					(unsigned long long)a.packets, (unsigned long long)b.packets, a.status,
					b.status, a.err, b.err);
				abort();
			}
		}
		capture_finish(c);
		capture_free(c);
		return 0;
	}
	size_t i = 1;
	int64_t ts = 1000000;
	while (size - i >= 2) {
		size_t len = (size_t)data[i] << 8 | data[i + 1];
		i += 2;
		if (len > size - i)
			len = size - i;
		struct pcapin_packet pkt = {.ts_us = ts, .caplen = (uint32_t)len, .len = (uint32_t)len,
					    .data = data + i};
		capture_packet(c, dlt, &pkt);
		i += len;
		ts += 100;
	}
	capture_finish(c);
	capture_free(c);
	return 0;
}
