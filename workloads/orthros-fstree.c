// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-fstree: what a file system tree looks like to a program, entry by
 * entry, to compare the tree a dead kernel showed with the one after the
 * failover (tests/metadata.t).
 *
 *   orthros-fstree list DIR     one line per entry under DIR, in name order
 *   orthros-fstree xattr PATH NAME VALUE   set a user extended attribute
 *   orthros-fstree renames DIR  DIR/p (4 KiB, synced), then renamed to q and
 *                               back for ever; prints "ready" once synced
 *
 * A line is tab-separated: the path (relative to DIR), the type (f, d, l, o),
 * mode (octal), uid, gid, size, link count, mtime and ctime (s.ns), the
 * first path of the tree with the same inode (hard links share it), the
 * content (FNV-1a 64 of a file's bytes, a symlink's target) and the extended
 * attributes (name=value, sorted, comma-separated).  Access times are left
 * out: reading a file to hash it changes them.
 *
 * Exit status: 0, 1 when an entry cannot be read (said on stderr), 2 on bad
 * usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_ENTRIES 65536
#define MAX_DEPTH 32

struct seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

static struct seen seen[MAX_ENTRIES];
static int nr_seen, bad;

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-fstree list DIR\n"
		   "       orthros-fstree xattr PATH NAME VALUE\n"
		   "       orthros-fstree renames DIR\n"
		   "list: one tab-separated line per entry under DIR, in name order: path, type,\n"
		   "mode, uid, gid, size, links, mtime, ctime, first path of its inode, content\n"
		   "(FNV-1a 64 of a file, target of a symlink), user xattrs.\n");
}

static const char *first_path(const struct stat *st, const char *path)
{
	int i;

	for (i = 0; i < nr_seen; i++)
		if (seen[i].dev == st->st_dev && seen[i].ino == st->st_ino)
			return seen[i].path;
	if (nr_seen == MAX_ENTRIES)
		return path;
	seen[nr_seen].dev = st->st_dev;
	seen[nr_seen].ino = st->st_ino;
	seen[nr_seen].path = strdup(path);
	return seen[nr_seen++].path;
}

static void content(int dirfd, const char *name, const char *rel, const struct stat *st,
		    char *out, size_t len)
{
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlinkat(dirfd, name, out, len - 1);

		out[n < 0 ? 0 : n] = '\0';
	} else if (S_ISREG(st->st_mode)) {
		uint64_t h = 0xcbf29ce484222325ULL;
		unsigned char buf[65536];
		int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW);
		ssize_t n = 0, i;

		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			for (i = 0; i < n; i++)
				h = (h ^ buf[i]) * 0x100000001b3ULL;
		if (fd < 0 || n < 0) {
			fprintf(stderr, "orthros-fstree: %s: %s\n", rel, strerror(errno));
			bad = 1;
		}
		if (fd >= 0)
			close(fd);
		snprintf(out, len, "%016" PRIx64, h);
	} else {
		out[0] = '\0';
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void xattrs(const char *path, char *out, size_t len)
{
	char names[4096], *n, *list[256], val[256];
	ssize_t sz = llistxattr(path, names, sizeof(names));
	size_t used = 0;
	int nr = 0, i;

	out[0] = '\0';
	for (n = names; sz > 0 && n < names + sz && nr < 256; n += strlen(n) + 1)
		list[nr++] = n;
	qsort(list, nr, sizeof(*list), by_name);
	for (i = 0; i < nr; i++) {
		ssize_t v = lgetxattr(path, list[i], val, sizeof(val) - 1);

		val[v < 0 ? 0 : v] = '\0';
		used += snprintf(out + used, used < len ? len - used : 0, "%s%s=%s",
				 i ? "," : "", list[i], val);
	}
}

static void walk(const char *top, const char *rel, int depth)
{
	char path[8192], sub[4096], data[4096], xa[4096];
	struct dirent **ents;
	int n, i, dirfd;

	snprintf(path, sizeof(path), "%s%s%s", top, *rel ? "/" : "", rel);
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "orthros-fstree: %s: %s\n", path, strerror(errno));
		bad = 1;
		return;
	}
	dirfd = open(path, O_RDONLY | O_DIRECTORY);
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		struct stat st;

		if (!strcmp(name, ".") || !strcmp(name, "..") || dirfd < 0)
			goto next;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", name);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
			fprintf(stderr, "orthros-fstree: %s: %s\n", sub, strerror(errno));
			bad = 1;
			goto next;
		}
		content(dirfd, name, sub, &st, data, sizeof(data));
		snprintf(path, sizeof(path), "%s/%s", top, sub);
		xattrs(path, xa, sizeof(xa));
		printf("%s\t%c\t%04o\t%u\t%u\t%lld\t%lu\t%lld.%09ld\t%lld.%09ld\t%s\t%s\t%s\n", sub,
		       S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' :
		       S_ISLNK(st.st_mode) ? 'l' : 'o',
		       st.st_mode & 07777, st.st_uid, st.st_gid, (long long)st.st_size,
		       (unsigned long)st.st_nlink, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
		       (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, first_path(&st, sub),
		       data, xa);
		if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH)
			walk(top, sub, depth + 1);
next:
		free(ents[i]);
	}
	free(ents);
	if (dirfd >= 0)
		close(dirfd);
}

/* DIR/p, synced, renamed to DIR/q and back until killed. */
static int renames(const char *dir)
{
	char p[4096], q[4096], buf[4096];
	int fd, d;

	snprintf(p, sizeof(p), "%s/p", dir);
	snprintf(q, sizeof(q), "%s/q", dir);
	memset(buf, 'r', sizeof(buf));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	d = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || d < 0 || write(fd, buf, sizeof(buf)) != sizeof(buf) || fsync(fd) || fsync(d)) {
		fprintf(stderr, "orthros-fstree: %s: %s\n", p, strerror(errno));
		return 1;
	}
	close(fd);
	close(d);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		if (rename(p, q) || rename(q, p)) {
			fprintf(stderr, "orthros-fstree: rename: %s\n", strerror(errno));
			return 1;
		}
}

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "list")) {
		walk(argv[2], "", 0);
		return bad;
	}
	if (argc == 3 && !strcmp(argv[1], "renames"))
		return renames(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "xattr")) {
		if (lsetxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0)) {
			fprintf(stderr, "orthros-fstree: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	usage(stderr);
	return 2;
}
