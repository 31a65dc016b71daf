// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-writer: a file writer whose every acknowledged write can be checked
 * after a crash.
 *
 *   orthros-writer write --dir DIR --port P [--files N] [--seconds S] [--max-mb M]
 *       append chunks of known pseudo-random content to DIR/f0 ... f(N-1)
 *       (a new file every 40 writes) up to M MiB in all (default 16), then
 *       rewrite random ranges of them with the same content, never fsync;
 *       after each write() returns,
 *       report (file, end offset) over the channel to port P on the other OS,
 *       where the report survives this OS's crash
 *   orthros-writer log --port P --out FILE [--ready FILE]
 *       on the other OS: record every report (one "file end" line each)
 *   orthros-writer verify --dir DIR --acks FILE [--named FILE] [--json]
 *       every reported byte must be in DIR with its content; prints what is
 *       missing, short or different
 */
#include "shmlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "splitmix.h"

#define MAX_FILES 64
#define CHUNK_MAX 65536

struct ack {
	uint32_t file;
	uint32_t pad;
	uint64_t end;
};

/* The content of file f at offset off: 8 bytes per 8-byte word. */
static void fill(unsigned char *buf, uint32_t f, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i, w = mix((uint64_t)(f + 1) << 40 ^ (o >> 3));

		buf[i] = (unsigned char)(w >> (8 * (o & 7)));
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros-writer write --dir DIR --port P [--files N] [--seconds S] [--max-mb M]\n"
		"       orthros-writer log --port P --out FILE [--ready FILE]\n"
		"       orthros-writer verify --dir DIR --acks FILE [--named FILE] [--json]\n"
		"\n"
		"write: append known content to DIR/f0..., no fsync, reporting each\n"
		"acknowledged write to port P on the other OS. log: record the reports.\n"
		"verify: check every reported byte; --named: the ranges the failover named as\n"
		"lost (orthros status --losses), to tell a named loss from a silent one.\n"
		"exit status: 0 ok, 1 loss or error, 2 usage\n");
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int do_write(const char *dir, uint32_t port, int files, double seconds, uint64_t max)
{
	static unsigned char buf[CHUNK_MAX];
	uint64_t size[MAX_FILES] = { 0 }, rnd = 12345, total = 0;
	int fd[MAX_FILES], open_files = 0, cfd;
	uint32_t me = 0;
	double end = now_s() + seconds;
	unsigned long n = 0;
	char path[512];

	cfd = chan_open(&me);
	if (cfd < 0) {
		perror("orthros-writer: channel");
		return 1;
	}
	mkdir(dir, 0755);
	while (seconds <= 0 || now_s() < end) {
		struct ack a;
		uint64_t off;
		uint32_t f;
		size_t len;
		ssize_t w;

		if (open_files < files && n % 40 == 0) {
			snprintf(path, sizeof(path), "%s/f%d", dir, open_files);
			fd[open_files] = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd[open_files] < 0) {
				fprintf(stderr, "orthros-writer: %s: %s\n", path, strerror(errno));
				return 1;
			}
			open_files++;
		}
		rnd = mix(rnd);
		f = (uint32_t)(rnd % (uint64_t)open_files);
		len = 1 + (size_t)((rnd >> 20) % CHUNK_MAX);
		if (total < max || !size[f]) {
			/* append */
			off = size[f];
		} else {
			/* the disk is not endless: rewrite a range with the same content */
			off = (rnd >> 36) % size[f];
			if (len > size[f] - off)
				len = (size_t)(size[f] - off);
		}
		fill(buf, f, off, len);
		w = pwrite(fd[f], buf, len, (off_t)off);
		if (w != (ssize_t)len) {
			fprintf(stderr, "orthros-writer: write f%u at %llu: %s\n", f,
				(unsigned long long)off, w < 0 ? strerror(errno) : "short write (disk full?)");
			return 1;
		}
		if (off + len > size[f]) {
			total += off + len - size[f];
			size[f] = off + len;
		}
		a = (struct ack){ .file = f, .end = size[f] };
		if (chan_send(cfd, port, 0, &a, sizeof(a))) {
			fprintf(stderr, "orthros-writer: report: %s\n", strerror(errno));
			return 1;
		}
		n++;
	}
	printf("%lu writes to %d files\n", n, open_files);
	return 0;
}

static int do_log(uint32_t port, const char *out, const char *ready)
{
	struct orthros_msg m[64];
	int fd = chan_open(&port);
	FILE *o;

	if (fd < 0) {
		perror("orthros-writer log: channel");
		return 1;
	}
	o = fopen(out, "a");
	if (!o) {
		perror(out);
		return 1;
	}
	if (ready)
		fclose(fopen(ready, "w"));
	for (;;) {
		ssize_t r = read(fd, m, sizeof(m));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 1;
		for (size_t i = 0; i < (size_t)r / sizeof(m[0]); i++) {
			struct ack a;

			if (m[i].len != sizeof(a))
				continue;
			memcpy(&a, m[i].data, sizeof(a));
			fprintf(o, "%u %llu\n", a.file, (unsigned long long)a.end);
		}
		fflush(o);
	}
}

/*
 * The byte ranges the failover named as lost (`orthros status --losses`:
 * FILE START END WHY per line): a bad byte inside one is a named loss, any
 * other a silent one.
 */
#define MAX_NAMED 64
static struct named {
	char file[512];
	uint64_t start, end;
} named[MAX_NAMED];
static int nr_named;

static int read_named(const char *path)
{
	FILE *in = fopen(path, "r");
	char line[1024];

	if (!in) {
		perror(path);
		return -1;
	}
	while (fgets(line, sizeof(line), in) && nr_named < MAX_NAMED) {
		struct named *n = &named[nr_named];
		unsigned long long s, e;

		if (sscanf(line, "%511s %llu %llu", n->file, &s, &e) == 3) {
			n->start = s;
			n->end = e;
			nr_named++;
		}
	}
	fclose(in);
	return 0;
}

static int is_named(const char *file, uint64_t off)
{
	for (int i = 0; i < nr_named; i++)
		if (!strcmp(named[i].file, file) && off >= named[i].start && off < named[i].end)
			return 1;
	return 0;
}

static int do_verify(const char *dir, const char *acks, int json)
{
	static unsigned char want[CHUNK_MAX], got[CHUNK_MAX];
	uint64_t acked[MAX_FILES] = { 0 }, total = 0, bad = 0, bad_named = 0;
	int missing = 0, shorter = 0, nfiles = 0;
	unsigned int f;
	unsigned long long e;
	char path[512], first[256] = "";
	FILE *in = fopen(acks, "r");

	if (!in) {
		perror(acks);
		return 1;
	}
	while (fscanf(in, "%u %llu", &f, &e) == 2)
		if (f < MAX_FILES && e > acked[f])
			acked[f] = e;
	fclose(in);
	for (f = 0; f < MAX_FILES; f++) {
		struct stat st;
		uint64_t off = 0;
		int fd;

		if (!acked[f])
			continue;
		nfiles++;
		total += acked[f];
		snprintf(path, sizeof(path), "%s/f%u", dir, f);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st)) {
			missing++;
			bad += acked[f];
			for (uint64_t o = 0; o < acked[f]; o += 4096)
				if (is_named(path, o))
					bad_named += acked[f] - o < 4096 ? acked[f] - o : 4096;
			if (!*first)
				snprintf(first, sizeof(first), "f%u missing (%llu bytes acknowledged)", f,
					 (unsigned long long)acked[f]);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if ((uint64_t)st.st_size < acked[f]) {
			shorter++;
			if (!*first)
				snprintf(first, sizeof(first), "f%u has %lld bytes, %llu acknowledged", f,
					 (long long)st.st_size, (unsigned long long)acked[f]);
		}
		while (off < acked[f]) {
			size_t len = acked[f] - off < CHUNK_MAX ? acked[f] - off : CHUNK_MAX;
			ssize_t r = pread(fd, got, len, (off_t)off);

			fill(want, f, off, len);
			if (r < 0)
				r = 0;
			for (size_t i = 0; i < len; i++)
				if ((ssize_t)i >= r || got[i] != want[i]) {
					if (!bad && !*first)
						snprintf(first, sizeof(first), "f%u differs at %llu", f,
							 (unsigned long long)(off + i));
					bad++;
					bad_named += is_named(path, off + i);
				}
			off += len;
		}
		close(fd);
	}
	if (json)
		printf("{\"files\":%d,\"acked_bytes\":%llu,\"bad_bytes\":%llu,\"named_bad_bytes\":%llu,"
		       "\"silent_bad_bytes\":%llu,\"missing_files\":%d,"
		       "\"short_files\":%d,\"first\":\"%s\"}\n", nfiles, (unsigned long long)total,
		       (unsigned long long)bad, (unsigned long long)bad_named,
		       (unsigned long long)(bad - bad_named), missing, shorter, first);
	else
		printf("%d files, %llu bytes acknowledged: %llu bad (%llu named as lost, %llu silently), %d missing, %d short%s%s\n",
		       nfiles, (unsigned long long)total, (unsigned long long)bad,
		       (unsigned long long)bad_named, (unsigned long long)(bad - bad_named), missing,
		       shorter, *first ? "; first: " : "", first);
	return bad || missing || shorter ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *out = NULL, *ready = NULL, *acks = NULL;
	uint32_t port = 0;
	int files = 8, json = 0;
	double seconds = 0, max_mb = 16;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
			continue;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[i], "--dir"))
			dir = argv[++i];
		else if (!strcmp(argv[i], "--port"))
			port = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--files"))
			files = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--max-mb"))
			max_mb = atof(argv[++i]);
		else if (!strcmp(argv[i], "--out"))
			out = argv[++i];
		else if (!strcmp(argv[i], "--ready"))
			ready = argv[++i];
		else if (!strcmp(argv[i], "--acks"))
			acks = argv[++i];
		else if (!strcmp(argv[i], "--named")) {
			if (read_named(argv[++i]))
				return 1;
		}
		else {
			usage(stderr);
			return 2;
		}
	}
	if (files < 1 || files > MAX_FILES)
		files = 8;
	if (!strcmp(argv[1], "write") && dir && port)
		return do_write(dir, port, files, seconds, (uint64_t)(max_mb * (1 << 20)));
	if (!strcmp(argv[1], "log") && port && out)
		return do_log(port, out, ready);
	if (!strcmp(argv[1], "verify") && dir && acks)
		return do_verify(dir, acks, json);
	usage(stderr);
	return 2;
}
