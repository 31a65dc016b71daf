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
 *   orthros-fstree nsops DIR --port P [--seed S] [--ops N] [--pace-us U]
 *                               namespace operations in DIR, each reported
 *                               to port P on the other OS once it returned
 *   orthros-fstree nsverify DIR --seed S --acks FILE [--json]
 *                               the tree in DIR against the operations the
 *                               reports in FILE acknowledged
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
#include "shmlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "splitmix.h"

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
		   "       orthros-fstree nsops DIR (--port P | --acks-file FILE) [--seed S] [--ops N]\n"
		   "                                [--pace-us U] [--verbose]\n"
		   "       orthros-fstree nsverify DIR --seed S --acks FILE [--json]\n"
		   "list: one tab-separated line per entry under DIR, in name order: path, type,\n"
		   "mode, uid, gid, size, links, mtime, ctime, first path of its inode, content\n"
		   "(FNV-1a 64 of a file, target of a symlink), user xattrs.\n"
		   "nsops: in DIR (created, must be empty) a sequence of namespace operations\n"
		   "drawn from seed S (default 1) on the names f0-f11, d0-d2 and dK/fN: create,\n"
		   "append, rename (to a new name, over a file, a directory), link, unlink,\n"
		   "symlink, chmod, mkdir, rmdir, utimes, setxattr user.k; never fsync. After\n"
		   "each returns, one report (orthros-writer's format: `orthros-writer log`\n"
		   "records it as the line \"KIND N\", N the op's number from 1) to port P on the\n"
		   "other OS, or that line appended to FILE (--acks-file: a host test). Prints\n"
		   "\"ready\" once started; runs N operations (default: until killed), sleeping U\n"
		   "microseconds between two; --verbose prints each operation.\n"
		   "nsverify: the tree in DIR must be the one the same sequence gives after A\n"
		   "operations (A: the highest number in FILE), or after A+1 (done, its report\n"
		   "not yet out); compares names, types, modes, sizes, contents, symlink\n"
		   "targets, hard-link groups, link counts, the mtimes utimes set and user\n"
		   "xattrs, and prints every difference with the model after A. --json:\n"
		   "{\"acked\":A,\"matched\":\"A\"|\"A+1\"|null,\"differences\":N,\"tree_at\":K|null,\n"
		   "\"first\":\"...\"}, K the last number of operations whose model the tree is.\n"
		   "Exit status: 0 it matches, 1 it does not (or an error), 2 usage.\n");
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

/*
 * Namespace operations and their model (nsops, nsverify).
 *
 * The names: f0..f11 and d0..d2 in DIR, and f0..f3 in each of d0..d2: 27
 * positions, at most MAX_NAMES of them files or symlinks, so that operations
 * keep hitting existing names and a directory empties now and then.  The
 * model holds which inode each position names and what a program can see of
 * that inode (type, mode, size, a running FNV-1a hash of its bytes, symlink
 * target, link count, the mtime utimes set, user.k), not its bytes.  The
 * sequence is drawn by next_op() from the seed and the model alone, so
 * nsverify replays exactly what nsops did; an operation whose precondition
 * the model does not meet (rmdir of a full directory, an append past 4 KiB,
 * ...) is drawn again, never attempted.  Each operation is one system call
 * that changes the tree, except create (open, then write): nsverify also
 * accepts its empty file as the unacknowledged operation A+1.  A file stays
 * within its first page, so an append is one page's write.
 */
#define NFILE 12
#define NDIR 3
#define NSUB 4				/* files in each directory */
#define NPOS (NFILE + NDIR + NDIR * NSUB)
#define MAX_NAMES 14			/* create, link, symlink: not beyond */
#define NINO 32
#define MAX_FSIZE 4096
#define FNV_BASIS 0xcbf29ce484222325ULL

enum { CREATE, APPEND, RENAME, RENAME_OVER, RENAME_DIR, LINK, UNLINK, SYMLINK, CHMOD, MKDIR,
       RMDIR, UTIMES, SETXATTR, NKINDS };
static const char *const kind_name[NKINDS] = {
	"create", "append", "rename", "rename-over", "rename-dir", "link", "unlink", "symlink",
	"chmod", "mkdir", "rmdir", "utimes", "setxattr",
};
/* how often each kind is drawn */
static const int weight[NKINDS] = { 3, 2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1 };

struct mino {
	char type;			/* f, l, d; 0: free */
	unsigned int mode;
	int nlink;
	uint64_t size, hash;		/* hash: FNV-1a 64 of the bytes */
	uint64_t mtime_op;		/* the utimes that set the mtime; 0: none */
	char target[16];		/* a symlink's */
	char xattr[24];			/* user.k's value; "": none */
};

struct model {
	uint64_t seed, rng, ops;
	int at[NPOS];			/* the inode a position names, -1: none */
	struct mino ino[NINO];
};

struct op {
	uint64_t n;			/* its number, from 1 */
	int kind, src, dst;
	unsigned int len, mode;
	char target[16];
};

/* xorshift64* */
static uint64_t rnd(struct model *m)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 0x2545f4914f6cdd1dULL;
}

static void model_init(struct model *m, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->seed = seed;
	m->rng = mix(seed) | 1;
	for (int p = 0; p < NPOS; p++)
		m->at[p] = -1;
}

/* Position p: f0..f11, then d0..d2, then d0/f0..d2/f3. */
static int is_dirpos(int p)
{
	return p >= NFILE && p < NFILE + NDIR;
}

static int parent(int p)
{
	return p < NFILE + NDIR ? -1 : NFILE + (p - NFILE - NDIR) / NSUB;
}

static int child(int d, int f)
{
	return NFILE + NDIR + (d - NFILE) * NSUB + f;
}

static const char *pos_name(int p, char *buf, size_t len)
{
	if (p < NFILE)
		snprintf(buf, len, "f%d", p);
	else if (is_dirpos(p))
		snprintf(buf, len, "d%d", p - NFILE);
	else
		snprintf(buf, len, "d%d/f%d", parent(p) - NFILE, (p - NFILE - NDIR) % NSUB);
	return buf;
}

/* The position of NAME in directory position D (-1: DIR itself), or -1. */
static int name_pos(const char *name, int d)
{
	char back[16];
	int n;

	if ((name[0] != 'f' && name[0] != 'd') || sscanf(name + 1, "%d", &n) != 1 || n < 0)
		return -1;
	snprintf(back, sizeof(back), "%c%d", name[0], n);
	if (strcmp(back, name))
		return -1;
	if (name[0] == 'd')
		return d < 0 && n < NDIR ? NFILE + n : -1;
	if (n >= (d < 0 ? NFILE : NSUB))
		return -1;
	return d < 0 ? n : child(d, n);
}

/* Byte i of what operation n writes: a letter. */
static char byte_of(const struct model *m, uint64_t n, unsigned int i)
{
	return (char)('a' + mix(m->seed ^ n << 20 ^ i) % 26);
}

static uint64_t fnv_more(uint64_t h, const struct model *m, uint64_t n, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		h = (h ^ (unsigned char)byte_of(m, n, i)) * 0x100000001b3ULL;
	return h;
}

static void op_mtime(uint64_t n, struct timespec *t)
{
	t->tv_sec = 1500000000 + (time_t)n;
	t->tv_nsec = (long)(n * 7919 % 1000000000);
}

/* The conditions positions are drawn under. */
enum { FREE_FILE, NEW_NAME, REG, NAMED, MULTI_LINK, OVER, FREE_DIR, DIR_, EMPTY_DIR };

static int fits(const struct model *m, int p, int what, int arg)
{
	int i = m->at[p];

	if (is_dirpos(p)) {
		if (what == FREE_DIR)
			return i < 0;
		if (what == DIR_)
			return i >= 0;
		if (what != EMPTY_DIR || i < 0)
			return 0;
		for (int f = 0; f < NSUB; f++)
			if (m->at[child(p, f)] >= 0)
				return 0;
		return 1;
	}
	switch (what) {
	case FREE_FILE:
		return i < 0 && (parent(p) < 0 || m->at[parent(p)] >= 0);
	case NEW_NAME:
		if (arg >= MAX_NAMES)
			return 0;
		return i < 0 && (parent(p) < 0 || m->at[parent(p)] >= 0);
	case REG:
		return i >= 0 && m->ino[i].type == 'f';
	case NAMED:
		return i >= 0;
	case MULTI_LINK:
		return i >= 0 && m->ino[i].type == 'f' && m->ino[i].nlink > 1;
	case OVER:
		return i >= 0 && p != arg && i != m->at[arg];
	}
	return 0;
}

/* A position meeting WHAT, drawn with r; -1 when none does. */
static int pick(const struct model *m, uint64_t r, int what, int arg)
{
	int n = 0, p;

	for (p = 0; p < NPOS; p++)
		n += fits(m, p, what, arg);
	if (!n)
		return -1;
	n = (int)(r % (uint64_t)n);
	for (p = 0; p < NPOS; p++)
		if (fits(m, p, what, arg) && !n--)
			break;
	return p;
}

/* The next operation: drawn until one whose precondition holds. */
static void next_op(struct model *m, struct op *o)
{
	int total = 0, names = 0, ok;

	for (int k = 0; k < NKINDS; k++)
		total += weight[k];
	for (int p = 0; p < NPOS; p++)
		names += !is_dirpos(p) && m->at[p] >= 0;
	do {
		uint64_t r = rnd(m), a = rnd(m), b = rnd(m);
		int w = (int)(r % (uint64_t)total);

		memset(o, 0, sizeof(*o));
		o->n = m->ops + 1;
		for (o->kind = 0; w >= weight[o->kind]; o->kind++)
			w -= weight[o->kind];
		o->src = o->dst = -1;
		switch (o->kind) {
		case CREATE:
			o->dst = pick(m, a, NEW_NAME, names);
			o->len = 1 + (unsigned int)(b % 200);
			ok = o->dst >= 0;
			break;
		case APPEND:
			o->src = pick(m, a, REG, 0);
			o->len = 1 + (unsigned int)(b % 64);
			ok = o->src >= 0 && m->ino[m->at[o->src]].size + o->len <= MAX_FSIZE;
			break;
		case RENAME:
		case LINK:
			o->src = pick(m, a, o->kind == LINK ? REG : NAMED, 0);
			o->dst = pick(m, b, o->kind == LINK ? NEW_NAME : FREE_FILE, names);
			ok = o->src >= 0 && o->dst >= 0;
			break;
		case RENAME_OVER:
			o->src = pick(m, a, NAMED, 0);
			o->dst = o->src < 0 ? -1 : pick(m, b, OVER, o->src);
			ok = o->dst >= 0;
			break;
		case RENAME_DIR:
			o->src = pick(m, a, DIR_, 0);
			o->dst = pick(m, b, FREE_DIR, 0);
			ok = o->src >= 0 && o->dst >= 0;
			break;
		case UNLINK:
			/* half of them a name whose inode has other names, if there is one */
			o->src = b & 1 ? pick(m, a, MULTI_LINK, 0) : -1;
			if (o->src < 0)
				o->src = pick(m, a, NAMED, 0);
			ok = o->src >= 0;
			break;
		case SYMLINK:
			o->dst = pick(m, a, NEW_NAME, names);
			pos_name((int)(b % NPOS), o->target, sizeof(o->target));
			ok = o->dst >= 0;
			break;
		case CHMOD:
			o->src = pick(m, a, REG, 0);
			o->mode = 0600 | (unsigned int)(b % 0200);
			ok = o->src >= 0 && m->ino[m->at[o->src]].mode != o->mode;
			break;
		case MKDIR:
			o->dst = pick(m, a, FREE_DIR, 0);
			ok = o->dst >= 0;
			break;
		case RMDIR:
			o->src = pick(m, a, EMPTY_DIR, 0);
			ok = o->src >= 0;
			break;
		default: /* UTIMES, SETXATTR */
			o->src = pick(m, a, REG, 0);
			ok = o->src >= 0;
			break;
		}
	} while (!ok);
}

static int new_ino(struct model *m, char type, unsigned int mode)
{
	int i;

	for (i = 0; m->ino[i].type; i++)
		;	/* never full: NINO > NPOS, and every inode has a name */
	m->ino[i] = (struct mino){ .type = type, .mode = mode, .nlink = type == 'd' ? 2 : 1,
				   .hash = FNV_BASIS };
	return i;
}

static void drop_name(struct model *m, int p)
{
	int i = m->at[p];

	m->at[p] = -1;
	if (m->ino[i].type == 'd' || !--m->ino[i].nlink)
		m->ino[i].type = 0;
}

/* O done in the model; HALF: a create's open only (its empty file). */
static void apply(struct model *m, const struct op *o, int half)
{
	struct mino *s = o->src >= 0 ? &m->ino[m->at[o->src]] : NULL;
	int i;

	m->ops = o->n;
	switch (o->kind) {
	case CREATE:
		i = m->at[o->dst] = new_ino(m, 'f', 0644);
		if (!half) {
			m->ino[i].size = o->len;
			m->ino[i].hash = fnv_more(FNV_BASIS, m, o->n, o->len);
		}
		break;
	case APPEND:
		s->size += o->len;
		s->hash = fnv_more(s->hash, m, o->n, o->len);
		s->mtime_op = 0;
		break;
	case RENAME_OVER:
		drop_name(m, o->dst);
		/* fall through */
	case RENAME:
		m->at[o->dst] = m->at[o->src];
		m->at[o->src] = -1;
		break;
	case RENAME_DIR:
		m->at[o->dst] = m->at[o->src];
		m->at[o->src] = -1;
		for (int f = 0; f < NSUB; f++) {
			m->at[child(o->dst, f)] = m->at[child(o->src, f)];
			m->at[child(o->src, f)] = -1;
		}
		break;
	case LINK:
		m->at[o->dst] = m->at[o->src];
		s->nlink++;
		break;
	case UNLINK:
	case RMDIR:
		drop_name(m, o->src);
		break;
	case SYMLINK:
		i = m->at[o->dst] = new_ino(m, 'l', 0777);
		snprintf(m->ino[i].target, sizeof(m->ino[i].target), "%s", o->target);
		m->ino[i].size = strlen(o->target);
		break;
	case CHMOD:
		s->mode = o->mode;
		break;
	case MKDIR:
		m->at[o->dst] = new_ino(m, 'd', 0755);
		break;
	case UTIMES:
		s->mtime_op = o->n;
		break;
	case SETXATTR:
		snprintf(s->xattr, sizeof(s->xattr), "v%" PRIu64, o->n);
		break;
	}
}

static void describe(const struct op *o, char *buf, size_t len)
{
	char a[16] = "", b[16] = "";

	if (o->src >= 0)
		pos_name(o->src, a, sizeof(a));
	if (o->dst >= 0)
		pos_name(o->dst, b, sizeof(b));
	snprintf(buf, len, "op %" PRIu64 " %s %s%s%s", o->n, kind_name[o->kind], a, *a && *b ? " " : "", b);
	if (o->kind == CREATE || o->kind == APPEND)
		snprintf(buf + strlen(buf), len - strlen(buf), " (%u bytes)", o->len);
	else if (o->kind == SYMLINK)
		snprintf(buf + strlen(buf), len - strlen(buf), " -> %s", o->target);
	else if (o->kind == CHMOD)
		snprintf(buf + strlen(buf), len - strlen(buf), " %04o", o->mode);
}

/* O on the real tree in DIR; 0 or -1 with errno. */
static int perform(const struct model *m, const char *dir, const struct op *o)
{
	char a[4096], b[4096], n[16], data[MAX_FSIZE];
	struct timespec t[2];
	ssize_t w;
	int fd;

	if (o->src >= 0)
		snprintf(a, sizeof(a), "%s/%s", dir, pos_name(o->src, n, sizeof(n)));
	if (o->dst >= 0)
		snprintf(b, sizeof(b), "%s/%s", dir, pos_name(o->dst, n, sizeof(n)));
	switch (o->kind) {
	case CREATE:
	case APPEND:
		for (unsigned int i = 0; i < o->len; i++)
			data[i] = byte_of(m, o->n, i);
		fd = o->kind == CREATE ? open(b, O_WRONLY | O_CREAT | O_EXCL, 0644) :
					 open(a, O_WRONLY | O_APPEND);
		if (fd < 0)
			return -1;
		w = write(fd, data, o->len);
		if (w >= 0 && w != (ssize_t)o->len)
			errno = EIO;	/* short */
		close(fd);
		return w == (ssize_t)o->len ? 0 : -1;
	case RENAME:
	case RENAME_OVER:
	case RENAME_DIR:
		return rename(a, b);
	case LINK:
		return link(a, b);
	case UNLINK:
		return unlink(a);
	case SYMLINK:
		return symlink(o->target, b);
	case CHMOD:
		return chmod(a, o->mode);
	case MKDIR:
		return mkdir(b, 0755);
	case RMDIR:
		return rmdir(a);
	case UTIMES:
		op_mtime(o->n, &t[0]);
		t[1] = t[0];
		return utimensat(AT_FDCWD, a, t, AT_SYMLINK_NOFOLLOW);
	case SETXATTR:
		snprintf(n, sizeof(n), "v%" PRIu64, o->n);
		return lsetxattr(a, "user.k", n, strlen(n), 0);
	}
	errno = EINVAL;
	return -1;
}

/*
 * An acknowledgement: orthros-writer's report (file, end) as it sends it,
 * which `orthros-writer log` records as the line "FILE END": here the kind
 * and the operation's number.
 */
struct nsack {
	uint32_t kind;
	uint32_t pad;
	uint64_t n;
};
_Static_assert(sizeof(struct nsack) == 16, "orthros-writer log takes 16-byte reports only");

static int nsops(const char *dir, uint32_t port, const char *acks_file, uint64_t seed,
		 uint64_t max_ops, unsigned int pace_us, int verbose)
{
	struct model m;
	struct op o;
	uint32_t me = 0;
	int cfd = -1, afd = -1;
	DIR *d;
	struct dirent *e;
	char what[128];

	umask(0);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "orthros-fstree: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	d = opendir(dir);
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			fprintf(stderr, "orthros-fstree: %s is not empty\n", dir);
			return 1;
		}
	if (!d) {
		fprintf(stderr, "orthros-fstree: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	closedir(d);
	if (acks_file)
		afd = open(acks_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
	else
		cfd = chan_open(&me);
	if (afd < 0 && cfd < 0) {
		fprintf(stderr, "orthros-fstree: %s: %s\n", acks_file ? acks_file : "channel",
			strerror(errno));
		return 1;
	}
	model_init(&m, seed);
	printf("ready\n");
	fflush(stdout);
	while (!max_ops || m.ops < max_ops) {
		struct nsack a;
		char line[64];
		int len;

		next_op(&m, &o);
		describe(&o, what, sizeof(what));
		if (perform(&m, dir, &o)) {
			fprintf(stderr, "orthros-fstree: %s: %s\n", what, strerror(errno));
			return 1;
		}
		apply(&m, &o, 0);
		a = (struct nsack){ .kind = (uint32_t)o.kind, .n = o.n };
		if (afd >= 0) {
			/* the line orthros-writer log would record */
			len = snprintf(line, sizeof(line), "%u %llu\n", a.kind, (unsigned long long)a.n);
			if (write(afd, line, (size_t)len) != len) {
				fprintf(stderr, "orthros-fstree: %s: %s\n", acks_file, strerror(errno));
				return 1;
			}
		} else if (chan_send(cfd, port, 0, &a, sizeof(a))) {
			fprintf(stderr, "orthros-fstree: report: %s\n", strerror(errno));
			return 1;
		}
		if (verbose) {
			printf("%s\n", what);
			fflush(stdout);
		}
		if (pace_us)
			usleep(pace_us);
	}
	printf("%" PRIu64 " operations\n", m.ops);
	return 0;
}

/* What nsverify sees of the real tree: position by position. */
struct rent {
	int present;
	char type;
	unsigned int mode;
	unsigned long nlink;
	uint64_t size, hash;
	struct timespec mtime;
	dev_t dev;
	ino_t ino;
	char target[64], xattr[128];
};

static struct real {
	struct rent at[NPOS];
	char extra[8][288];		/* entries not among the names nsops uses */
	int nr_extra;
	char error[160];		/* DIR itself could not be read */
} real;

static void read_entry(const char *path, struct rent *r)
{
	struct stat st;
	char names[4096], val[64], *n;
	ssize_t sz;

	if (lstat(path, &st))
		return;
	r->present = 1;
	r->type = S_ISREG(st.st_mode) ? 'f' : S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'o';
	r->mode = st.st_mode & 07777;
	r->nlink = (unsigned long)st.st_nlink;
	r->size = (uint64_t)st.st_size;
	r->mtime = st.st_mtim;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->hash = FNV_BASIS;
	if (r->type == 'l') {
		sz = readlink(path, r->target, sizeof(r->target) - 1);
		r->target[sz < 0 ? 0 : sz] = '\0';
	} else if (r->type == 'f') {
		unsigned char buf[4096];
		int fd = open(path, O_RDONLY | O_NOFOLLOW);
		ssize_t got;

		while (fd >= 0 && (got = read(fd, buf, sizeof(buf))) > 0)
			for (ssize_t i = 0; i < got; i++)
				r->hash = (r->hash ^ buf[i]) * 0x100000001b3ULL;
		if (fd >= 0)
			close(fd);
		else
			r->hash = 0;	/* unreadable: differs */
	}
	/* the user xattrs only (the system may add its own) */
	sz = llistxattr(path, names, sizeof(names));
	for (n = names; sz > 0 && n < names + sz; n += strlen(n) + 1) {
		ssize_t v;

		if (strncmp(n, "user.", 5))
			continue;
		v = lgetxattr(path, n, val, sizeof(val) - 1);
		val[v < 0 ? 0 : v] = '\0';
		snprintf(r->xattr + strlen(r->xattr), sizeof(r->xattr) - strlen(r->xattr), "%s%s=%s",
			 *r->xattr ? "," : "", n, val);
	}
}

static void read_dir(const char *top, int d)
{
	char path[4096], dn[16] = "", n[16];
	struct dirent *e;
	DIR *dd;

	if (d >= 0)
		pos_name(d, dn, sizeof(dn));
	snprintf(path, sizeof(path), "%s%s%s", top, d < 0 ? "" : "/", dn);
	dd = opendir(path);
	if (!dd) {
		if (d < 0)
			snprintf(real.error, sizeof(real.error), "%s: %s", top, strerror(errno));
		return;
	}
	while ((e = readdir(dd))) {
		int p = name_pos(e->d_name, d);

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (p < 0) {
			if (real.nr_extra < 8)
				snprintf(real.extra[real.nr_extra], sizeof(real.extra[0]), "%s%s%s", dn,
					 *dn ? "/" : "", e->d_name);
			real.nr_extra++;
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", top, pos_name(p, n, sizeof(n)));
		read_entry(path, &real.at[p]);
		if (is_dirpos(p) && real.at[p].type == 'd')
			read_dir(top, p);
	}
	closedir(dd);
}

static const char *type_name(char t)
{
	return t == 'f' ? "file" : t == 'd' ? "directory" : t == 'l' ? "symlink" : "other";
}

/*
 * The differences between the real tree and model M: their number; each said
 * on stdout when SAY, the first kept in FIRST.
 */
static int compare(const struct model *m, int say, char *first, size_t len)
{
	char d[512], n[16], q[16], q2[16];
	int nr = 0;

#define DIFF(...) do {							\
		snprintf(d, sizeof(d), __VA_ARGS__);			\
		if (say)						\
			printf("  %s\n", d);				\
		if (!nr++ && first)					\
			snprintf(first, len, "%s", d);			\
	} while (0)

	if (*real.error)
		DIFF("%s", real.error);
	for (int i = 0; i < real.nr_extra && i < 8; i++)
		DIFF("%s: present, not a name nsops uses", real.extra[i]);
	if (real.nr_extra > 8)
		DIFF("%d more entries that are not names nsops uses", real.nr_extra - 8);
	for (int p = 0; p < NPOS; p++) {
		const struct rent *r = &real.at[p];
		const struct mino *s = m->at[p] >= 0 ? &m->ino[m->at[p]] : NULL;

		pos_name(p, n, sizeof(n));
		if (!s && !r->present)
			continue;
		if (!s) {
			DIFF("%s: present (a %s), the model has no such name", n, type_name(r->type));
			continue;
		}
		if (!r->present) {
			if (s->type == 'f')
				DIFF("%s: missing, the model has a file of %" PRIu64 " bytes", n, s->size);
			else
				DIFF("%s: missing, the model has a %s", n, type_name(s->type));
			continue;
		}
		if (r->type != s->type) {
			DIFF("%s: a %s, the model has a %s", n, type_name(r->type), type_name(s->type));
			continue;
		}
		if (r->mode != s->mode)
			DIFF("%s: mode %04o, the model %04o", n, r->mode, s->mode);
		if (r->nlink != (unsigned long)s->nlink)
			DIFF("%s: %lu links, the model %d", n, r->nlink, s->nlink);
		if (s->type == 'l' && strcmp(r->target, s->target))
			DIFF("%s: symlink to '%s', the model to '%s'", n, r->target, s->target);
		if (s->type == 'f' && r->size != s->size)
			DIFF("%s: %" PRIu64 " bytes, the model %" PRIu64, n, r->size, s->size);
		else if (s->type == 'f' && r->hash != s->hash)
			DIFF("%s: content differs (FNV-1a %016" PRIx64 ", the model %016" PRIx64 ")", n,
			     r->hash, s->hash);
		if (s->type == 'f') {
			/* the hard-link group: the first position with the same inode */
			int rq = p, mq = p;

			for (int k = p - 1; k >= 0; k--) {
				if (real.at[k].present && real.at[k].dev == r->dev && real.at[k].ino == r->ino)
					rq = k;
				if (m->at[k] == m->at[p])
					mq = k;
			}
			if (rq != mq)
				DIFF("%s: the same inode as %s, the model as %s", n, pos_name(rq, q, sizeof(q)),
				     pos_name(mq, q2, sizeof(q2)));
		}
		if (s->mtime_op) {
			struct timespec t;

			op_mtime(s->mtime_op, &t);
			if (r->mtime.tv_sec != t.tv_sec || r->mtime.tv_nsec != t.tv_nsec)
				DIFF("%s: mtime %lld.%09ld, the model %lld.%09ld (op %" PRIu64 " utimes)", n,
				     (long long)r->mtime.tv_sec, r->mtime.tv_nsec, (long long)t.tv_sec,
				     t.tv_nsec, s->mtime_op);
		}
		snprintf(q, sizeof(q), "%s%s", *s->xattr ? "user.k=" : "", s->xattr);
		if (strcmp(r->xattr, q))
			DIFF("%s: xattrs '%s', the model '%s'", n, r->xattr, q);
	}
#undef DIFF
	return nr;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	putchar('"');
}

static int nsverify(const char *dir, uint64_t seed, const char *acks, int json)
{
	static struct model m, at_a, half;
	unsigned char *kind = NULL;	/* the kind each ack says, by number; 0xff: none */
	uint64_t acked = 0, cap = 0, k;
	int64_t tree_at = -1;
	const char *matched = NULL;
	char first[512] = "", bad_ack[160] = "", what[128];
	unsigned int ak;
	unsigned long long an;
	int nr_bad_acks = 0, diffs, half_create = 0;
	FILE *in = fopen(acks, "r");
	struct op o;

	if (!in) {
		perror(acks);
		return 1;
	}
	while (fscanf(in, "%u %llu", &ak, &an) == 2) {
		if (!an || an > (1ULL << 28))
			continue;
		if (an >= cap) {
			uint64_t c = cap ? cap : 4096;

			while (c <= an)
				c *= 2;
			kind = realloc(kind, c);
			if (!kind) {
				perror("orthros-fstree");
				return 1;
			}
			memset(kind + cap, 0xff, c - cap);
			cap = c;
		}
		kind[an] = (unsigned char)ak;
		if (an > acked)
			acked = an;
	}
	fclose(in);
	read_dir(dir, -1);
	model_init(&m, seed);
	for (k = 0; k <= acked + 1; k++) {
		if (k) {
			next_op(&m, &o);
			if (k <= acked && kind[k] != 0xff && kind[k] != o.kind && !nr_bad_acks++)
				snprintf(bad_ack, sizeof(bad_ack),
					 "acks: op %" PRIu64 " is %s with seed %" PRIu64 ", its ack says %s", k,
					 kind_name[o.kind], seed, kind[k] < NKINDS ? kind_name[kind[k]] : "?");
			if (k == acked + 1 && o.kind == CREATE) {
				/* the unacknowledged create: its empty file */
				half = m;
				apply(&half, &o, 1);
				if (!compare(&half, 0, NULL, 0))
					tree_at = (int64_t)k, matched = "A+1", half_create = 1;
			}
			describe(&o, what, sizeof(what));
			apply(&m, &o, 0);
		}
		if (k == acked)
			at_a = m;
		if (!compare(&m, 0, NULL, 0)) {
			tree_at = (int64_t)k;
			if (k >= acked && !matched)
				matched = k == acked ? "A" : "A+1";
		}
	}
	if (nr_bad_acks)
		matched = NULL;
	diffs = matched ? 0 : compare(&at_a, !json, first, sizeof(first)) + nr_bad_acks;
	if (nr_bad_acks) {
		if (!json)
			printf("  %s (%d such)\n", bad_ack, nr_bad_acks);
		snprintf(first, sizeof(first), "%s", bad_ack);
	}
	if (json) {
		printf("{\"acked\":%" PRIu64 ",\"matched\":", acked);
		if (matched)
			printf("\"%s\"", matched);
		else
			printf("null");
		printf(",\"differences\":%d,\"tree_at\":", diffs);
		if (tree_at >= 0)
			printf("%" PRId64, tree_at);
		else
			printf("null");
		printf(",\"first\":");
		json_str(first);
		printf("}\n");
	} else if (matched) {
		printf("%" PRIu64 " operations acknowledged (seed %" PRIu64 "): the tree is as after %s%s%s\n",
		       acked, seed, matched[1] ? "the next one, " : "them", matched[1] ? what : "",
		       !matched[1] ? "" : half_create ? ", its file created, still empty (its write not done)" :
		       ", done before its acknowledgement left");
	} else {
		printf("%" PRIu64 " operations acknowledged (seed %" PRIu64 "): %d differences with the model after them; ",
		       acked, seed, diffs);
		if (tree_at >= 0)
			printf("the tree is as after %" PRId64 " operations (%" PRIu64 " acknowledged ones lost)\n",
			       tree_at, acked - (uint64_t)tree_at);
		else
			printf("the tree is as after none of 0..%" PRIu64 "\n", acked + 1);
	}
	free(kind);
	return matched ? 0 : 1;
}

/* orthros-fstree nsops|nsverify DIR [OPTIONS] */
static int ns_main(int argc, char **argv)
{
	const char *acks = NULL, *acks_file = NULL;
	uint64_t seed = 1, ops = 0;
	uint32_t port = 0;
	unsigned int pace_us = 0;
	int json = 0, verbose = 0, have_seed = 0;

	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
			continue;
		}
		if (!strcmp(argv[i], "--verbose")) {
			verbose = 1;
			continue;
		}
		if (i + 1 >= argc)
			goto bad;
		if (!strcmp(argv[i], "--port"))
			port = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[++i], NULL, 0), have_seed = 1;
		else if (!strcmp(argv[i], "--ops"))
			ops = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--pace-us"))
			pace_us = (unsigned int)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--acks"))
			acks = argv[++i];
		else if (!strcmp(argv[i], "--acks-file"))
			acks_file = argv[++i];
		else
			goto bad;
	}
	if (!strcmp(argv[1], "nsops") && (port || acks_file) && !json && !acks)
		return nsops(argv[2], port, acks_file, seed, ops, pace_us, verbose);
	if (!strcmp(argv[1], "nsverify") && acks && have_seed && !port && !acks_file && !ops &&
	    !pace_us && !verbose)
		return nsverify(argv[2], seed, acks, json);
bad:
	usage(stderr);
	return 2;
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
	if (argc >= 3 && (!strcmp(argv[1], "nsops") || !strcmp(argv[1], "nsverify")))
		return ns_main(argc, argv);
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
