/* pcapng: a small reader of pcapng capture files (the IETF draft
 * draft-ietf-opsawg-pcapng, "PCAP Next Generation Dump File Format").
 *
 * Why not libpcap: libpcap refuses a pcapng file whose interfaces have
 * different link types (its API has one link type per handle), and such
 * files are common (`dumpcap -i any -i eth0`, merged captures). This reader
 * gives every packet its own interface's link type and time resolution.
 * pcapin uses it for every pcapng file, not only as a fallback: a fallback
 * would have to re-read the file from the start after libpcap failed part
 * way, which standard input cannot do, and one reader per format keeps what
 * a file decodes to from depending on where its first odd interface is.
 * libpcap stays for pcap files and live capture.
 *
 * Blocks read: Section Header (either byte order; a file may hold several
 * sections, each with its own interfaces), Interface Description (link
 * type, snapshot length, if_tsresol, if_tsoffset), Enhanced Packet, Simple
 * Packet and the obsolete Packet block. Every other block is skipped.
 * Every length is checked against the block it is in, and blocks are at
 * most PCAPNG_MAX_BLOCK bytes.
 *
 * A regular file is mapped into memory (MAP_PRIVATE, read sequentially) and
 * packets point into the mapping: nothing is copied. The mapping covers the
 * size the file had when it was opened, and that is what is read: bytes
 * appended later are not seen (read a growing capture through a pipe, e.g.
 * `tail -c +1 -f f.pcapng | kafkatap decode -`); bytes rewritten in place
 * are seen as they are when reached, as with read(). A file that shrinks while
 * it is read ends the read with an error ("shrank"; pcapng_truncated() is
 * true) instead of killing the process with SIGBUS: while a mapping is
 * open, a SIGBUS handler is installed (pcapng.c says how). Pipes, standard
 * input that is not a regular file and files that cannot be mapped are read
 * with fread, one block at a time. */
#ifndef KT_PCAPNG_H
#define KT_PCAPNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCAPNG_MAX_BLOCK (16u << 20)   /* libpcap's limit too */
#define PCAPNG_MAX_IFACES 65536u       /* per section */
#define PCAPNG_SHB_TYPE 0x0A0D0D0Au

struct pcapng_packet {
	int64_t ts_us;
	uint32_t caplen, len;
	const uint8_t *data;   /* valid until the next pcapng_next (a mapped file:
				* until pcapng_close, but callers must not rely on it) */
	int linktype;          /* of the packet's interface */
	uint32_t iface;        /* its index in its section */
};

enum pcapng_status {
	PCAPNG_PACKET = 1,
	PCAPNG_END = 0,
	PCAPNG_ERROR = -1,     /* pcapng_error(); pcapng_truncated() when the file ends early */
};

struct pcapng;

/* Start reading fp (at the start of the file; not closed by pcapng_close).
 * Reads up to the first interface, so that pcapng_first_linktype() is
 * known. NULL with a message in err on failure; *not_pcapng (may be NULL)
 * is set when the file does not start with a section header. */
struct pcapng *pcapng_open(FILE *fp, char *err, size_t errlen, bool *not_pcapng);
enum pcapng_status pcapng_next(struct pcapng *r, struct pcapng_packet *pkt);
/* Link type of the file's first interface. */
int pcapng_first_linktype(const struct pcapng *r);
const char *pcapng_error(const struct pcapng *r);
bool pcapng_truncated(const struct pcapng *r);
/* Bytes read so far. */
uint64_t pcapng_offset(const struct pcapng *r);
void pcapng_close(struct pcapng *r);

#endif
