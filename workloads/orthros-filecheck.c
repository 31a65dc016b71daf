// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-filecheck: reads and writes files through fds it keeps open, and
 * checks every byte, every size and every file position as it goes.
 *
 *   orthros-filecheck --dir D [--max-kb K] [--pace-us U] [common options]
 *
 * Files in D (created afresh), all held open, never fsync'd:
 *   append0, append1  O_APPEND: chunks appended; past K KiB truncated to 0 and
 *                     refilled with a new generation of content
 *   pwrite0, pwrite1  256 KiB of 1 KiB units; pwrite() of 1-8 units at any unit
 *                     (not page-aligned), each unit with a new version
 *   seek0             like pwrite*, but with write() at the fd's position: often
 *                     with no lseek, so the position carried from the last
 *                     write must still be right
 *   mmap0             256 KiB, mapped MAP_PRIVATE; pages written through the map
 *                     become private copies (their own content, must stay), the
 *                     others must show what pwrite() puts in the file
 *   plus an O_RDONLY fd reading pwrite0 sequentially, position checked
 * Every write is read back through its fd; each round checks every fd's
 * lseek(fd, 0, SEEK_CUR), reads a random range of a random file through a fresh
 * open (size by fstat) and some mapped pages; every 200 rounds every byte of
 * every file and of the mapping. Every byte is also checked before it is
 * overwritten or truncated away. A mismatch is reported and repaired.
 * --self-test-fault: one byte of pwrite0 is changed behind the program's back.
 */
#include "wlreport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNIT 1024
#define UNIT_FILE (256 * 1024)
#define UNITS (UNIT_FILE / UNIT)
#define PAGE 4096
#define PAGES (UNIT_FILE / PAGE)
#define CHUNK (64 * 1024)

enum kind { APPEND, UNITS_PWRITE, UNITS_SEEK, UNITS_MMAP };

struct file {
	const char *name;
	enum kind kind;
	int id, fd;
	char path[4096];
	uint64_t size, pos;		/* expected size and fd position */
	uint32_t gen;			/* APPEND: content generation */
	uint32_t version[UNITS];	/* unit files: each unit's version */
};

static struct file files[] = {
	{ .name = "append0", .kind = APPEND },
	{ .name = "append1", .kind = APPEND },
	{ .name = "pwrite0", .kind = UNITS_PWRITE },
	{ .name = "pwrite1", .kind = UNITS_PWRITE },
	{ .name = "seek0", .kind = UNITS_SEEK },
	{ .name = "mmap0", .kind = UNITS_MMAP },
};
#define NFILES (int)(sizeof(files) / sizeof(files[0]))
#define MMAP_FILE 5
#define READ_FILE 2

static unsigned char *map;		/* mmap0, MAP_PRIVATE */
static uint32_t private_version[PAGES];	/* 0: shows the file; else a private copy */
static int rfd;				/* O_RDONLY on pwrite0, read sequentially */
static uint64_t rpos, rnd = 0x1234567;
static uint64_t max_size = 512 * 1024;


static uint64_t rand64(void)
{
	rnd = wl_mix(rnd + 0x9e3779b97f4a7c15ULL);
	return rnd;
}

/* Content with key at file offset off..off+len: a function of (key, off). */
static void fill(unsigned char *buf, uint64_t key, uint64_t off, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t o = off + i, w = wl_mix(key << 32 ^ (o >> 3));

		for (unsigned int b = (unsigned int)(o & 7); b < 8 && i < len; b++, i++)
			buf[i] = (unsigned char)(w >> (8 * b));
	}
}

static uint64_t unit_key(int id, uint32_t v)
{
	return (uint64_t)id << 24 ^ v;
}

/* What the file f holds at off..off+len (within its expected size). */
static void expect(struct file *f, uint64_t off, size_t len, unsigned char *buf)
{
	if (f->kind == APPEND) {
		fill(buf, (uint64_t)(f->id + 100) << 24 ^ f->gen, off, len);
		return;
	}
	for (size_t i = 0; i < len;) {
		uint64_t o = off + i, u = o / UNIT;
		size_t n = (size_t)((u + 1) * UNIT - o);

		if (n > len - i)
			n = len - i;
		fill(buf + i, unit_key(f->id, f->version[u]), o, n);
		i += n;
	}
}

/* What the mapping shows at page p. */
static void expect_map(int p, unsigned char *buf)
{
	if (private_version[p])
		fill(buf, (uint64_t)0x77 << 24 ^ private_version[p], (uint64_t)p * PAGE, PAGE);
	else
		expect(&files[MMAP_FILE], (uint64_t)p * PAGE, PAGE, buf);
}

/* Put the expected content back, through a separate fd (pwrite on O_APPEND appends). */
static void repair(struct file *f, uint64_t off, size_t len)
{
	static unsigned char buf[CHUNK];
	int fd = open(f->path, O_WRONLY);

	while (fd >= 0 && len) {
		size_t n = len < CHUNK ? len : CHUNK;

		expect(f, off, n, buf);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			break;
		off += n;
		len -= n;
	}
	if (fd >= 0) {
		if (ftruncate(fd, (off_t)f->size))
			wl_error("%s: repair: ftruncate: %s", f->name, strerror(errno));
		close(fd);
	}
}

static int compare(const char *what, struct file *f, uint64_t off, const unsigned char *got,
		   const unsigned char *want, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i]) {
			size_t bad = 0;

			for (size_t j = i; j < len; j++)
				bad += got[j] != want[j];
			wl_error("%s %s: byte %llu is 0x%02x, not 0x%02x (%zu bad of %zu read at %llu)",
				 f->name, what, (unsigned long long)(off + i), got[i], want[i], bad, len,
				 (unsigned long long)off);
			return 1;
		}
	return 0;
}

/* Read off..off+len of f through fd and check it; repair on a mismatch. */
static void check_range(const char *what, struct file *f, int fd, uint64_t off, size_t len)
{
	static unsigned char got[CHUNK], want[CHUNK];

	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;
		ssize_t r = pread(fd, got, n, (off_t)off);

		if (r != (ssize_t)n) {
			wl_error("%s %s: pread %zu at %llu: %s", f->name, what, n, (unsigned long long)off,
				 r < 0 ? strerror(errno) : "short read");
			repair(f, off, len);
			return;
		}
		expect(f, off, n, want);
		if (compare(what, f, off, got, want, n)) {
			repair(f, off, len);
			return;
		}
		off += n;
		len -= n;
	}
}

static void check_pos(struct file *f, int fd, uint64_t want, const char *what)
{
	off_t p = lseek(fd, 0, SEEK_CUR);

	if (p != (off_t)want) {
		wl_error("%s %s: position %lld, expected %llu", f->name, what, (long long)p,
			 (unsigned long long)want);
		lseek(fd, (off_t)want, SEEK_SET);
	}
}

/* Check through a fresh open: the size, then off..off+len (all if len is 0). */
static void check_fresh(struct file *f, uint64_t off, size_t len)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st)) {
		wl_error("%s: open: %s", f->name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if ((uint64_t)st.st_size != f->size) {
		wl_error("%s: size %lld, expected %llu", f->name, (long long)st.st_size,
			 (unsigned long long)f->size);
		repair(f, 0, f->size);
	} else {
		check_range("fresh open", f, fd, off, len ? len : f->size);
	}
	close(fd);
}

static void check_map(int p)
{
	static unsigned char want[PAGE];

	expect_map(p, want);
	if (memcmp(map + (size_t)p * PAGE, want, PAGE)) {
		int i = 0;

		while (map[(size_t)p * PAGE + i] == want[i])
			i++;
		wl_error("mmap0 mapping, page %d (%s): byte %d is 0x%02x, not 0x%02x", p,
			 private_version[p] ? "private copy" : "file page", i,
			 map[(size_t)p * PAGE + i], want[i]);
		if (!private_version[p])
			private_version[p] = 1;	/* repair it as a private copy */
		fill(map + (size_t)p * PAGE, (uint64_t)0x77 << 24 ^ private_version[p],
		     (uint64_t)p * PAGE, PAGE);
	}
}

static void append_op(struct file *f)
{
	static unsigned char buf[CHUNK];
	size_t len = 1 + (size_t)(rand64() % 16384);
	ssize_t w;

	if (f->size + len > max_size) {
		check_range("before truncating", f, f->fd, 0, f->size);
		if (ftruncate(f->fd, 0)) {
			wl_error("%s: ftruncate: %s", f->name, strerror(errno));
			return;
		}
		f->size = 0;
		f->gen++;
	}
	expect(f, f->size, len, buf);
	w = write(f->fd, buf, len);
	if (w != (ssize_t)len) {
		wl_error("%s: append %zu: %s", f->name, len, w < 0 ? strerror(errno) : "short write");
		return;
	}
	f->size += len;
	f->pos = f->size;
	check_pos(f, f->fd, f->pos, "after append");
	check_range("own fd", f, f->fd, f->size - len, len);
}

static void units_op(struct file *f)
{
	static unsigned char buf[8 * UNIT];
	uint64_t r = rand64(), u = (r >> 8) % UNITS, n = 1 + r % 8, off;
	ssize_t w;

	if (f->kind == UNITS_SEEK && (r >> 40) % 4 != 0) {
		/* no lseek: go on from where the last write left the fd */
		u = f->pos / UNIT;
		if (u >= UNITS)
			u = 0;
	}
	if (u + n > UNITS)
		n = UNITS - u;
	off = u * UNIT;
	/* every byte is checked at least once before it is replaced */
	check_range("before rewriting", f, f->fd, off, n * UNIT);
	for (uint64_t i = u; i < u + n; i++)
		f->version[i]++;
	expect(f, off, n * UNIT, buf);
	if (f->kind == UNITS_SEEK) {
		if (off != f->pos && lseek(f->fd, (off_t)off, SEEK_SET) != (off_t)off)
			wl_error("%s: lseek %llu: %s", f->name, (unsigned long long)off, strerror(errno));
		w = write(f->fd, buf, n * UNIT);
		f->pos = off + n * UNIT;
	} else {
		w = pwrite(f->fd, buf, n * UNIT, (off_t)off);
	}
	if (w != (ssize_t)(n * UNIT))
		wl_error("%s: write %llu at %llu: %s", f->name, (unsigned long long)(n * UNIT),
			 (unsigned long long)off, w < 0 ? strerror(errno) : "short write");
	check_pos(f, f->fd, f->pos, "after write");
	check_range("own fd", f, f->fd, off, n * UNIT);
	if (f->kind == UNITS_MMAP)	/* file pages must show through, private ones not */
		for (uint64_t p = off / PAGE; p <= (off + n * UNIT - 1) / PAGE; p++)
			check_map((int)p);
}

static void map_op(void)
{
	int p = (int)(rand64() % PAGES);

	check_map(p);
	private_version[p]++;
	fill(map + (size_t)p * PAGE, (uint64_t)0x77 << 24 ^ private_version[p], (uint64_t)p * PAGE,
	     PAGE);
	/* the file itself must not have changed */
	check_range("under a private page", &files[MMAP_FILE], files[MMAP_FILE].fd,
		    (uint64_t)p * PAGE, PAGE);
}

static void read_op(void)
{
	static unsigned char got[8192], want[8192];
	struct file *f = &files[READ_FILE];
	size_t len = 1 + (size_t)(rand64() % sizeof(got));
	ssize_t r;

	check_pos(f, rfd, rpos, "reader fd");
	if (rpos + len > f->size)
		len = (size_t)(f->size - rpos);
	r = read(rfd, got, len);
	if (r != (ssize_t)len) {
		wl_error("%s reader fd: read %zu at %llu: %s", f->name, len, (unsigned long long)rpos,
			 r < 0 ? strerror(errno) : "short read");
		lseek(rfd, (off_t)(rpos = 0), SEEK_SET);
		return;
	}
	expect(f, rpos, len, want);
	if (compare("reader fd", f, rpos, got, want, len))
		repair(f, rpos, len);
	rpos += len;
	if (rpos == f->size)
		lseek(rfd, (off_t)(rpos = 0), SEEK_SET);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-filecheck --dir D [--max-kb K] [--pace-us U] [common options]\n"
		   "  --dir D                the files' folder (created; its files replaced)\n"
		   "  --max-kb K             the append files' size limit (default 512)\n"
		   "  --pace-us U            sleep U us after each round (default 2000)\n"
		   "%s", wl_usage());
}

static const char *dir;
static uint64_t pace_ns = 2000000;

static int own_option(const char *opt, const char *val)
{
	if (!strcmp(opt, "--dir"))
		dir = val;
	else if (!strcmp(opt, "--max-kb"))
		max_size = (uint64_t)atol(val) * 1024;
	else if (!strcmp(opt, "--pace-us"))
		pace_ns = (uint64_t)atol(val) * 1000;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char buf[UNIT_FILE];
	uint64_t round = 0;

	wl_init("orthros-filecheck", "main");
	if (wl_args(argc, argv, own_option, usage))
		return 2;
	if (!dir || max_size < 32 * 1024) {
		usage(stderr);
		return 2;
	}
	mkdir(dir, 0755);
	for (int i = 0; i < NFILES; i++) {
		struct file *f = &files[i];
		int flags = O_RDWR | O_CREAT | O_TRUNC | (f->kind == APPEND ? O_APPEND : 0);

		f->id = i;
		snprintf(f->path, sizeof(f->path), "%s/%s", dir, f->name);
		f->fd = open(f->path, flags, 0644);
		if (f->fd < 0) {
			fprintf(stderr, "orthros-filecheck: %s: %s\n", f->path, strerror(errno));
			return 1;
		}
		if (f->kind == APPEND)
			continue;
		for (int u = 0; u < UNITS; u++)
			f->version[u] = 1;
		f->size = UNIT_FILE;
		expect(f, 0, UNIT_FILE, buf);
		if (pwrite(f->fd, buf, UNIT_FILE, 0) != UNIT_FILE) {
			fprintf(stderr, "orthros-filecheck: %s: %s\n", f->path, strerror(errno));
			return 1;
		}
	}
	rfd = open(files[READ_FILE].path, O_RDONLY);
	map = mmap(NULL, UNIT_FILE, PROT_READ | PROT_WRITE, MAP_PRIVATE, files[MMAP_FILE].fd, 0);
	if (rfd < 0 || map == MAP_FAILED) {
		perror("orthros-filecheck");
		return 1;
	}
	for (int p = 0; p < PAGES; p += 3) {	/* a third of the pages private from the start */
		private_version[p] = 1;
		fill(map + (size_t)p * PAGE, (uint64_t)0x77 << 24 ^ 1, (uint64_t)p * PAGE, PAGE);
	}
	while (wl_running()) {
		for (int i = 0; i < NFILES; i++) {
			if (files[i].kind == APPEND)
				append_op(&files[i]);
			else
				units_op(&files[i]);
		}
		map_op();
		read_op();
		for (int i = 0; i < NFILES; i++)	/* fds untouched this round keep their place */
			check_pos(&files[i], files[i].fd, files[i].pos, "fd");
		{
			struct file *f = &files[rand64() % NFILES];
			uint64_t off = f->size ? rand64() % f->size : 0;
			size_t len = (size_t)(f->size - off < 20000 ? f->size - off : 20000);

			if (len)
				check_fresh(f, off, len);
		}
		if (wl_fault_due()) {	/* one byte of pwrite0 changed behind our back */
			int fd = open(files[READ_FILE].path, O_WRONLY);
			uint64_t off = rand64() % UNIT_FILE;
			unsigned char c;

			expect(&files[READ_FILE], off, 1, &c);
			c ^= 0x5a;
			if (fd < 0 || pwrite(fd, &c, 1, (off_t)off) != 1)
				perror("orthros-filecheck: self-test fault");
			if (fd >= 0)
				close(fd);
		}
		if (++round % 200 == 0) {	/* everything */
			for (int i = 0; i < NFILES; i++)
				if (files[i].size)
					check_fresh(&files[i], 0, 0);
			for (int p = 0; p < PAGES; p++)
				check_map(p);
		}
		wl_iter(1);
		wl_report();
		if (pace_ns)
			wl_sleep_ns(pace_ns);
	}
	return wl_finish();
}
