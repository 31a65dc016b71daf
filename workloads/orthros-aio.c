// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-aio: an asynchronous-I/O writer on Debian's libaio (io_setup,
 * io_submit, io_getevents), O_DIRECT, several requests in flight, that
 * checks what it wrote and says, in its status line, which writes it saw
 * complete, so that a checker can tell after a crash whether each of them
 * is on the disk.
 *
 *   orthros-aio --dir D [--depth N] [--blocks B] [common options]
 *   orthros-aio --verify FILE --from STATUS
 *
 * The data file D/orthros-aio.PID.dat has B blocks of 4096 bytes (default
 * 256), allocated and committed first (zeros, fsync), then written in passes: pass g writes block k with 64 records of stream 20
 * numbered (g * B + k) * 64 + i (wlstream's records: checksummed, derived
 * from their number), up to N writes in flight (default 8), each completion
 * checked (res = 4096).  A block whose write completed is read back now and
 * then (O_DIRECT, pread) and checked.  The status line has "file", "pass"
 * (g), "through" (blocks [0, through) of pass g completed; the others hold
 * pass g - 1 or g at least) and "in_flight".
 *
 * --verify: with the status line as the process last wrote it, every block
 * of FILE must hold whole records of a pass no older than what the line
 * says completed (a write seen complete is on the disk); prints what it found
 * and exits 1 if a block is older or does not check.
 */
#define _GNU_SOURCE
#include "wlreport.h"
#include "wlstream.h"

#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK	4096
#define STREAM	20
#define MAX_DEPTH 64

static const char *dir, *verify_file, *verify_from;
static long depth = 8, blocks = 256;

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-aio --dir D [--depth N] [--blocks B] [common options]\n"
		   "       orthros-aio --verify FILE --from STATUS\n"
		   "  --dir D                write D/orthros-aio.PID.dat with O_DIRECT through libaio\n"
		   "  --depth N              writes in flight (default 8, at most %d)\n"
		   "  --blocks B             blocks of 4096 bytes in the file (default 256)\n"
		   "  --verify FILE          check FILE against the status line in STATUS (--from)\n"
		   "%s", MAX_DEPTH, wl_usage());
}

static int own_option(const char *opt, const char *val)
{
	if (!strcmp(opt, "--dir"))
		dir = val;
	else if (!strcmp(opt, "--depth"))
		depth = atol(val);
	else if (!strcmp(opt, "--blocks"))
		blocks = atol(val);
	else if (!strcmp(opt, "--verify"))
		verify_file = val;
	else if (!strcmp(opt, "--from"))
		verify_from = val;
	else
		return -1;
	return 0;
}

static void fill(unsigned char *b, uint64_t pass, uint64_t k)
{
	for (int i = 0; i < BLOCK / WLS_REC; i++)
		wls_make((struct wls_rec *)(b + i * WLS_REC), STREAM,
			 (pass * (uint64_t)blocks + k) * (BLOCK / WLS_REC) + i);
}

/* The pass block k holds, or -1 if its records do not check or disagree. */
static int64_t pass_of(const unsigned char *b, uint64_t k)
{
	const struct wls_rec *r = (const struct wls_rec *)b;
	uint64_t first = r->seq / (BLOCK / WLS_REC);

	if (r->seq % (BLOCK / WLS_REC) || first % (uint64_t)blocks != k)
		return -1;
	for (int i = 0; i < BLOCK / WLS_REC; i++)
		if (!wls_check(&r[i]) || r[i].stream != STREAM ||
		    r[i].seq != first * (BLOCK / WLS_REC) + i)
			return -1;
	return (int64_t)(first / (uint64_t)blocks);
}

static int verify(const char *file, const char *status)
{
	char line[WL_LINE + 1] = "", *p;
	long long pass = -1, through = -1, nblocks = -1;
	unsigned char *b;
	int fd, bad = 0;
	FILE *s;

	if (!status || !(s = fopen(status, "r")) || !fgets(line, sizeof(line), s)) {
		fprintf(stderr, "orthros-aio: --verify: cannot read the status line\n");
		return 2;
	}
	fclose(s);
	if ((p = strstr(line, "\"pass\":")))
		pass = atoll(p + 7);
	if ((p = strstr(line, "\"through\":")))
		through = atoll(p + 10);
	if ((p = strstr(line, "\"blocks\":")))
		nblocks = atoll(p + 9);
	if (pass < 0 || through < 0 || nblocks <= 0) {
		fprintf(stderr, "orthros-aio: --verify: the status line has no pass/through/blocks\n");
		return 2;
	}
	blocks = nblocks;
	fd = open(file, O_RDONLY);
	if (fd < 0 || posix_memalign((void **)&b, BLOCK, BLOCK)) {
		fprintf(stderr, "orthros-aio: --verify: %s: %s\n", file, strerror(errno));
		return 2;
	}
	for (long k = 0; k < blocks; k++) {
		long long want = k < through ? pass : pass - 1;
		int64_t got;

		if (pread(fd, b, BLOCK, (off_t)k * BLOCK) != BLOCK) {
			printf("block %ld: short read\n", k);
			bad++;
			continue;
		}
		got = pass_of(b, (uint64_t)k);
		if (want < 0 && got < 0 && !b[0])
			continue;	/* never written, none completed */
		if (got < 0 || got < want) {
			printf("block %ld: holds pass %lld, a write of pass %lld had completed\n",
			       k, (long long)got, want);
			bad++;
		}
	}
	printf("orthros-aio: %ld blocks checked against pass %lld through block %lld: %d bad\n",
	       blocks, pass, through, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static unsigned char *buf[MAX_DEPTH];
	static struct iocb cb[MAX_DEPTH];
	static long slot_block[MAX_DEPTH];
	static uint64_t slot_pass[MAX_DEPTH];
	unsigned char *check;
	uint64_t pass = 0, done = 0, counted = 0;
	long next = 0, in_flight = 0, through = 0, free_slots[MAX_DEPTH], nfree;
	char *done_map, path[4096], extra[300];
	io_context_t ctx = 0;
	int fd, r;

	wl_init("orthros-aio", "main");
	if (wl_args(argc, argv, own_option, usage))
		return 2;
	if (verify_file || verify_from) {
		if (!verify_file || !verify_from) {
			usage(stderr);
			return 2;
		}
		return verify(verify_file, verify_from);
	}
	if (!dir || depth < 1 || depth > MAX_DEPTH || blocks < depth) {
		usage(stderr);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/orthros-aio.%d.dat", dir, (int)getpid());
	/*
	 * Every block allocated and the allocation committed first (zeros,
	 * then fsync): an O_DIRECT write into a hole allocates blocks, and
	 * that metadata is not durable when the write completes.  Overwrites
	 * of allocated blocks are: what completed is on the disk.
	 */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0 || posix_memalign((void **)&check, BLOCK, BLOCK)) {
		fprintf(stderr, "orthros-aio: %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(check, 0, BLOCK);
	for (long k = 0; k < blocks; k++)
		if (pwrite(fd, check, BLOCK, (off_t)k * BLOCK) != BLOCK) {
			fprintf(stderr, "orthros-aio: %s: %s\n", path, strerror(errno));
			return 1;
		}
	if (fsync(fd)) {
		fprintf(stderr, "orthros-aio: fsync %s: %s\n", path, strerror(errno));
		return 1;
	}
	r = io_setup((int)depth, &ctx);
	if (r) {
		fprintf(stderr, "orthros-aio: io_setup: %s\n", strerror(-r));
		return 1;
	}
	done_map = calloc((size_t)blocks, 1);
	if (!done_map)
		return 1;
	for (long i = 0; i < depth; i++) {
		if (posix_memalign((void **)&buf[i], BLOCK, BLOCK))
			return 1;
		free_slots[i] = i;
	}
	nfree = depth;
	while (wl_running()) {
		struct io_event ev[MAX_DEPTH];
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		struct iocb *submit[MAX_DEPTH];
		int n = 0;

		/* fill the free slots with the next blocks of this pass */
		while (nfree && next < blocks) {
			long s = free_slots[--nfree];

			fill(buf[s], pass, (uint64_t)next);
			io_prep_pwrite(&cb[s], fd, buf[s], BLOCK, (long long)next * BLOCK);
			cb[s].data = (void *)(uintptr_t)s;
			slot_block[s] = next++;
			slot_pass[s] = pass;
			submit[n++] = &cb[s];
		}
		if (n) {
			r = io_submit(ctx, n, submit);
			if (r != n) {
				wl_error("io_submit of %d: %s", n, r < 0 ? strerror(-r) : "short");
				break;
			}
			in_flight += n;
		}
		r = io_getevents(ctx, 1, MAX_DEPTH, ev, &ts);
		if (r < 0 && r != -EINTR) {
			wl_error("io_getevents: %s", strerror(-r));
			break;
		}
		for (int i = 0; i < r; i++) {
			long s = (long)(uintptr_t)ev[i].data;

			if (s < 0 || s >= depth || ev[i].obj != &cb[s]) {
				wl_error("io_getevents: an event for no request of ours");
				continue;
			}
			if ((long)ev[i].res != BLOCK)
				wl_error("block %ld pass %llu: write completed with %ld", slot_block[s],
					 (unsigned long long)slot_pass[s], (long)ev[i].res);
			done_map[slot_block[s]] = 1;
			free_slots[nfree++] = s;
			in_flight--;
			done++;
		}
		while (through < blocks && done_map[through])
			through++;
		/* now and then a completed block of this pass, read back */
		if (through && done % 16 == 0) {
			long k = (long)(wl_mix(done) % (uint64_t)through);

			if (pread(fd, check, BLOCK, (off_t)k * BLOCK) != BLOCK)
				wl_error("block %ld: read back: %s", k, strerror(errno));
			else if (pass_of(check, (uint64_t)k) != (int64_t)pass)
				wl_error("block %ld: read back pass %lld, pass %llu was written", k,
					 (long long)pass_of(check, (uint64_t)k), (unsigned long long)pass);
		}
		if (through == blocks && !in_flight) {
			pass++;
			next = through = 0;
			memset(done_map, 0, (size_t)blocks);
		}
		snprintf(extra, sizeof(extra),
			 "\"file\":\"%.120s\",\"blocks\":%ld,\"pass\":%llu,\"through\":%ld,\"in_flight\":%ld",
			 path, blocks, (unsigned long long)pass, through, in_flight);
		wl_extra(extra);
		wl_iter(done - counted);
		counted = done;
		wl_report();
	}
	io_destroy(ctx);
	return wl_finish();
}
