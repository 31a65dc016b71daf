// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-journal: finish the dead kernel's jbd2 journal (issue 25;
 * docs/failover.md, "The namespace: finishing the dead kernel's journal";
 * the format and the recovery rules: docs/jbd2.md).
 *
 * The kernel hands over the dead kernel's committing (C) and running (R)
 * transactions (ORTHROS_FAILOVER_JOURNAL, kernel/orthros_journal_abi.h); this
 * tool appends them to the on-disk log of the unmounted ext3 file system as
 * committed transactions, so that the mount's replay applies them.  Every
 * check is made before the first write; C's commit block is written last, so
 * the pair becomes durable at once or not at all.
 *
 * Supported: ext2/3/4 with 32-bit block numbers and no meta_bg, an inode
 * journal mapped by direct/indirect blocks, a jbd2 log without checksums
 * (v1, or v2 with at most the revoke feature): what build/data.ext3 is.
 */
#include "kernel/orthros_journal_abi.h"
#include "orthros_shm_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JBD2_MAGIC		0xC03B3998U
#define JBD2_DESCRIPTOR_BLOCK	1
#define JBD2_COMMIT_BLOCK	2
#define JBD2_SUPERBLOCK_V1	3
#define JBD2_SUPERBLOCK_V2	4
#define JBD2_REVOKE_BLOCK	5
#define JBD2_FLAG_ESCAPE	1
#define JBD2_FLAG_SAME_UUID	2
#define JBD2_FLAG_LAST_TAG	8
#define JBD2_COMPAT_CHECKSUM	0x1
#define JBD2_INCOMPAT_REVOKE	0x1
#define JBD2_HDR		12	/* journal_header_t */
#define JBD2_TAG		8	/* tag without 64bit or csum */
#define JBD2_REVOKE_HDR		16	/* journal header + be32 r_count */

#define EXT2_MAGIC		0xEF53
#define EXT3_COMPAT_HAS_JOURNAL	0x4
#define EXT3_INCOMPAT_RECOVER	0x4
#define EXT3_INCOMPAT_JOURNAL_DEV 0x8
#define EXT4_INCOMPAT_META_BG	0x10
#define EXT4_INCOMPAT_64BIT	0x80
#define EXT4_EXTENTS_FL		0x80000
#define EXT4_INLINE_DATA_FL	0x10000000
#define EXT2_GD_SIZE		32

#define MAX_RECORDS		(1ULL << 30)	/* no buffer or file above 1 GiB */
#define MAX_JOURNAL_BLOCKS	(1U << 24)

static int json;
static char errmsg[512];	/* the refusal, for --json */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros-journal finish DEVICE [--records FILE] [--dry-run] [--json]\n"
		"       orthros-journal records FILE\n"
		"       orthros-journal scan DEVICE [--json]\n"
		"\n"
		"Finish the dead kernel's jbd2 journal on the unmounted user-data file\n"
		"system (ext3, journal inode): its committing and running transactions,\n"
		"read out of the dead memory by the kernel (ORTHROS_FAILOVER_JOURNAL on\n"
		ORTHROS_FAILOVER_DEVICE "), are appended to the on-disk log as committed\n"
		"transactions; the mount's journal replay then applies them.\n"
		"\n"
		"  finish DEVICE   check the records and the disk, then append; a refusal\n"
		"                  says why and writes nothing\n"
		"    --records FILE  the records from FILE (saved by `records`), not the ioctl\n"
		"    --dry-run       every check and the plan, nothing written\n"
		"  records FILE    save the ioctl's buffer to FILE (debugging, tests)\n"
		"  scan DEVICE     read-only: the journal superblock, each committed\n"
		"                  transaction in the log, its end and the next tid\n"
		"  --json          the result as one JSON object on stdout\n"
		"\n"
		"Write order: the dead kernel's partial blocks of the committing transaction\n"
		"zeroed, flush; every block but the first transaction's commit block (and\n"
		"the journal superblock when the log was empty), flush; that commit block,\n"
		"flush.  The file system's needs_recovery flag must be set (else the mount\n"
		"wipes the log).  See docs/jbd2.md and docs/failover.md.\n"
		"exit status: 0 ok (or nothing to do), 1 refused or failed, 2 usage error\n");
}

/* --- messages ----------------------------------------------------------- */

static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "orthros-journal: %s\n", errmsg);
	return -1;
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "orthros-journal: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* What the text output says; with --json it goes to stderr (stdout is the JSON). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	FILE *f = json ? stderr : stdout;
	va_list ap;

	fprintf(f, "orthros-journal: ");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

static void json_str(const char *s, size_t max)
{
	size_t i;

	putchar('"');
	for (i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* The end of a --json object: the error (null when rc is 0). */
static void json_end(int rc, const char *errmsg, size_t size)
{
	printf(",\"error\":");
	if (rc)
		json_str(errmsg, size);
	else
		printf("null");
	printf("}\n");
}

/* --- byte order --------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[1] << 8 | p[0]);
}

/* tids wrap: a is before b */
static int tid_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* --- the device: ext2/3 superblock, the journal inode's block map -------- */

struct fsinfo {
	int fd;
	const char *path;
	uint64_t size;			/* the device's bytes */
	uint32_t bs;
	uint32_t inodes_count, blocks_count, first_data_block;
	uint32_t blocks_per_group, inodes_per_group, inode_size, journal_inum;
	uint32_t compat, incompat, ro_compat;
	uint8_t uuid[16];
	uint32_t jlen;			/* the journal inode's blocks: i_size / bs */
	uint32_t *jmap;			/* log block -> fs block */
	uint32_t *owned;		/* its blocks, data and indirect, sorted */
	uint32_t nowned, owned_cap;
};

/* the journal superblock */
struct jsb {
	uint8_t raw[1024];		/* its first 1 KiB as read */
	uint32_t blocktype, blocksize, maxlen, first, sequence, start, errno_, nr_users;
	uint32_t compat, incompat, ro_compat;
};

/* All of len bytes at off, read or written (a short transfer is an error). */
static int pio_all(int fd, void *buf, size_t len, uint64_t off, bool write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(fd, (char *)buf + done, len - done, (off_t)(off + done)) :
				    pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	return pio_all(fd, buf, len, off, false);
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	return pio_all(fd, (void *)buf, len, off, true);
}

static int read_block(struct fsinfo *fs, uint32_t blk, uint8_t *buf)
{
	if (blk >= fs->blocks_count || ((uint64_t)blk + 1) * fs->bs > fs->size)
		return refuse("%s: block %u is outside the file system (%u blocks)", fs->path, blk,
			      fs->blocks_count);
	if (pread_all(fs->fd, buf, fs->bs, (uint64_t)blk * fs->bs))
		return refuse("%s: reading block %u: %s", fs->path, blk, strerror(errno));
	return 0;
}

static int open_device(struct fsinfo *fs, const char *path, int rw)
{
	struct stat st;
	int flags = (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC;

	memset(fs, 0, sizeof(*fs));
	fs->path = path;
	fs->fd = -1;
	if (stat(path, &st))
		return refuse("%s: %s", path, strerror(errno));
	/* a block device: exclusive, so that a mounted one is refused */
	if (rw && S_ISBLK(st.st_mode))
		flags |= O_EXCL;
	fs->fd = open(path, flags);
	if (fs->fd < 0)
		return refuse("%s: %s%s", path, strerror(errno),
			      errno == EBUSY ? " (mounted? it must not be)" : "");
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fs->fd, BLKGETSIZE64, &fs->size))
			return refuse("%s: BLKGETSIZE64: %s", path, strerror(errno));
	} else if (S_ISREG(st.st_mode)) {
		fs->size = (uint64_t)st.st_size;
	} else {
		return refuse("%s: neither a block device nor a file", path);
	}
	return 0;
}

static int own_add(struct fsinfo *fs, uint32_t blk)
{
	if (fs->nowned == fs->owned_cap) {
		uint32_t cap = fs->owned_cap ? fs->owned_cap * 2 : 1024;
		uint32_t *n = realloc(fs->owned, (size_t)cap * sizeof(*n));

		if (!n)
			return refuse("out of memory");
		fs->owned = n;
		fs->owned_cap = cap;
	}
	fs->owned[fs->nowned++] = blk;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int journal_owns(const struct fsinfo *fs, uint64_t blk)
{
	uint32_t key;

	if (blk > UINT32_MAX)
		return 0;
	key = (uint32_t)blk;
	return bsearch(&key, fs->owned, fs->nowned, sizeof(key), cmp_u32) != NULL;
}

/*
 * Map the journal inode's blocks below the pointer ptr at level (0: ptr is a
 * data block; 1: an indirect block; 2: double; 3: triple), filling jmap from
 * *n until jlen.
 */
static int map_tree(struct fsinfo *fs, uint32_t ptr, int level, uint32_t *n)
{
	uint32_t apb = fs->bs / 4, i;
	uint8_t *buf;
	int rc = 0;

	if (!ptr)
		return refuse("the journal inode %u has a hole at log block %u", fs->journal_inum, *n);
	if (ptr < fs->first_data_block || ptr >= fs->blocks_count)
		return refuse("the journal inode %u maps log block %u to block %u, outside the file system",
			      fs->journal_inum, *n, ptr);
	if (own_add(fs, ptr))
		return -1;
	if (!level) {
		fs->jmap[(*n)++] = ptr;
		return 0;
	}
	buf = malloc(fs->bs);
	if (!buf)
		return refuse("out of memory");
	if (read_block(fs, ptr, buf))
		rc = -1;
	for (i = 0; !rc && i < apb && *n < fs->jlen; i++)
		rc = map_tree(fs, le32(buf + 4 * i), level - 1, n);
	free(buf);
	return rc;
}

static int read_fs(struct fsinfo *fs)
{
	uint8_t sb[1024], *buf;
	uint32_t log_bs, rev, ngroups, group, index, itable, iblk, ioff, flags, mode, n, i;
	uint64_t isize;
	int rc = -1;

	if (fs->size < 2048 || pread_all(fs->fd, sb, sizeof(sb), 1024))
		return refuse("%s: cannot read the ext2/3 superblock at byte 1024: %s", fs->path,
			      fs->size < 2048 ? "too small" : strerror(errno));
	if (le16(sb + 0x38) != EXT2_MAGIC)
		return refuse("%s: no ext2/3 file system (magic 0x%04x, not 0xef53)", fs->path,
			      le16(sb + 0x38));
	log_bs = le32(sb + 0x18);
	if (log_bs > 6)
		return refuse("%s: s_log_block_size %u is not supported", fs->path, log_bs);
	fs->bs = 1024U << log_bs;
	fs->inodes_count = le32(sb + 0x00);
	fs->blocks_count = le32(sb + 0x04);
	fs->first_data_block = le32(sb + 0x14);
	fs->blocks_per_group = le32(sb + 0x20);
	fs->inodes_per_group = le32(sb + 0x28);
	rev = le32(sb + 0x4c);
	fs->inode_size = rev ? le16(sb + 0x58) : 128;
	fs->compat = le32(sb + 0x5c);
	fs->incompat = le32(sb + 0x60);
	fs->ro_compat = le32(sb + 0x64);
	memcpy(fs->uuid, sb + 0x68, 16);
	fs->journal_inum = rev ? le32(sb + 0xe0) : 0;

	if (fs->incompat & EXT4_INCOMPAT_64BIT)
		return refuse("%s: a 64bit file system is not supported: nothing written", fs->path);
	if (fs->incompat & EXT4_INCOMPAT_META_BG)
		return refuse("%s: meta_bg is not supported: nothing written", fs->path);
	if (fs->incompat & EXT3_INCOMPAT_JOURNAL_DEV)
		return refuse("%s: this is an external journal device, not a file system", fs->path);
	if (!(fs->compat & EXT3_COMPAT_HAS_JOURNAL) || !fs->journal_inum)
		return refuse("%s: the file system has no journal inode (an external journal is not supported)",
			      fs->path);
	if (!fs->blocks_count || fs->first_data_block >= fs->blocks_count || fs->first_data_block > 1 ||
	    !fs->blocks_per_group || !fs->inodes_per_group)
		return refuse("%s: implausible superblock (blocks %u, first data block %u, per group %u blocks, %u inodes)",
			      fs->path, fs->blocks_count, fs->first_data_block, fs->blocks_per_group,
			      fs->inodes_per_group);
	if (fs->inode_size < 128 || fs->inode_size > fs->bs || (fs->inode_size & (fs->inode_size - 1)))
		return refuse("%s: implausible inode size %u", fs->path, fs->inode_size);
	if ((uint64_t)fs->blocks_count * fs->bs > fs->size)
		return refuse("%s: %llu bytes, smaller than its file system (%u blocks of %u)", fs->path,
			      (unsigned long long)fs->size, fs->blocks_count, fs->bs);
	if (fs->journal_inum > fs->inodes_count)
		return refuse("%s: journal inode %u beyond the %u inodes", fs->path, fs->journal_inum,
			      fs->inodes_count);

	/* the journal inode, through its group descriptor */
	ngroups = (fs->blocks_count - fs->first_data_block + fs->blocks_per_group - 1) / fs->blocks_per_group;
	group = (fs->journal_inum - 1) / fs->inodes_per_group;
	index = (fs->journal_inum - 1) % fs->inodes_per_group;
	if (group >= ngroups)
		return refuse("%s: journal inode %u is in group %u of %u", fs->path, fs->journal_inum, group,
			      ngroups);
	buf = malloc(fs->bs);
	if (!buf)
		return refuse("out of memory");
	if (read_block(fs, fs->first_data_block + 1 + (uint32_t)((uint64_t)group * EXT2_GD_SIZE / fs->bs), buf))
		goto out;
	itable = le32(buf + (group * EXT2_GD_SIZE) % fs->bs + 8);
	iblk = itable + (uint32_t)((uint64_t)index * fs->inode_size / fs->bs);
	ioff = (uint32_t)((uint64_t)index * fs->inode_size % fs->bs);
	if (itable < fs->first_data_block || iblk < itable || iblk >= fs->blocks_count) {
		refuse("%s: group %u's inode table at block %u is outside the file system", fs->path, group, itable);
		goto out;
	}
	if (read_block(fs, iblk, buf))
		goto out;
	mode = le16(buf + ioff);
	flags = le32(buf + ioff + 32);
	isize = le32(buf + ioff + 4) | (uint64_t)le32(buf + ioff + 108) << 32;
	if ((mode & 0xf000) != 0x8000) {
		refuse("%s: the journal inode %u is not a regular file (mode 0%o)", fs->path, fs->journal_inum, mode);
		goto out;
	}
	if (flags & (EXT4_EXTENTS_FL | EXT4_INLINE_DATA_FL)) {
		refuse("%s: the journal inode %u is extent-mapped (i_flags 0x%x): not supported, nothing written",
		       fs->path, fs->journal_inum, flags);
		goto out;
	}
	if (isize / fs->bs < 2 || isize / fs->bs > MAX_JOURNAL_BLOCKS) {
		refuse("%s: implausible journal size %llu bytes", fs->path, (unsigned long long)isize);
		goto out;
	}
	fs->jlen = (uint32_t)(isize / fs->bs);
	fs->jmap = calloc(fs->jlen, sizeof(*fs->jmap));
	if (!fs->jmap) {
		refuse("out of memory");
		goto out;
	}
	/* i_block[0..11] direct, [12] IND, [13] DIND, [14] TIND */
	n = 0;
	for (i = 0; i < 15 && n < fs->jlen; i++)
		if (map_tree(fs, le32(buf + ioff + 40 + 4 * i), i < 12 ? 0 : (int)i - 11, &n))
			goto out;
	if (n < fs->jlen) {
		refuse("%s: the journal inode's %u blocks do not fit its block map", fs->path, fs->jlen);
		goto out;
	}
	qsort(fs->owned, fs->nowned, sizeof(*fs->owned), cmp_u32);
	for (i = 1; i < fs->nowned; i++)
		if (fs->owned[i] == fs->owned[i - 1]) {
			refuse("%s: the journal inode maps block %u twice", fs->path, fs->owned[i]);
			goto out;
		}
	rc = 0;
out:
	free(buf);
	return rc;
}

static void close_device(struct fsinfo *fs)
{
	if (fs->fd >= 0)
		close(fs->fd);
	fs->fd = -1;
	free(fs->jmap);
	free(fs->owned);
	fs->jmap = fs->owned = NULL;
}

/* log block -> its place on the device */
static uint64_t log_off(const struct fsinfo *fs, uint32_t lb)
{
	return (uint64_t)fs->jmap[lb] * fs->bs;
}

static int read_jsb(struct fsinfo *fs, struct jsb *j)
{
	uint8_t *buf = malloc(fs->bs);
	const uint8_t *r = j->raw;

	if (!buf)
		return refuse("out of memory");
	if (read_block(fs, fs->jmap[0], buf)) {
		free(buf);
		return -1;
	}
	memcpy(j->raw, buf, sizeof(j->raw));
	free(buf);
	if (be32(r) != JBD2_MAGIC)
		return refuse("%s: no jbd2 superblock at log block 0 (block %u): magic 0x%08x", fs->path,
			      fs->jmap[0], be32(r));
	j->blocktype = be32(r + 4);
	j->blocksize = be32(r + 0x0c);
	j->maxlen = be32(r + 0x10);
	j->first = be32(r + 0x14);
	j->sequence = be32(r + 0x18);
	j->start = be32(r + 0x1c);
	j->errno_ = be32(r + 0x20);
	if (j->blocktype == JBD2_SUPERBLOCK_V2) {
		j->compat = be32(r + 0x24);
		j->incompat = be32(r + 0x28);
		j->ro_compat = be32(r + 0x2c);
		j->nr_users = be32(r + 0x40);
	} else if (j->blocktype != JBD2_SUPERBLOCK_V1) {
		return refuse("%s: the journal superblock's type is %u, not 3 or 4", fs->path, j->blocktype);
	}
	if (j->blocksize != fs->bs)
		return refuse("%s: the journal's block size %u is not the file system's %u", fs->path,
			      j->blocksize, fs->bs);
	if (j->maxlen > fs->jlen)
		return refuse("%s: the journal's s_maxlen %u exceeds its inode's %u blocks", fs->path,
			      j->maxlen, fs->jlen);
	if (j->first < 1 || j->first >= j->maxlen)
		return refuse("%s: the journal's s_first %u is not within [1, s_maxlen %u)", fs->path, j->first,
			      j->maxlen);
	if (j->start && (j->start < j->first || j->start >= j->maxlen))
		return refuse("%s: the journal's s_start %u is not within [%u, %u)", fs->path, j->start,
			      j->first, j->maxlen);
	if ((j->compat & JBD2_COMPAT_CHECKSUM) || (j->incompat & ~JBD2_INCOMPAT_REVOKE) || j->ro_compat ||
	    (j->compat & ~JBD2_COMPAT_CHECKSUM))
		return refuse("%s: journal features compat 0x%x incompat 0x%x ro_compat 0x%x: journal checksums/64bit/fast-commit not supported: nothing written",
			      fs->path, j->compat, j->incompat, j->ro_compat);
	return 0;
}

/* --- the log as jbd2's PASS_SCAN sees it -------------------------------- */

struct jtx {
	uint32_t tid, start, end;	/* first log block, the block after its commit */
	uint32_t descs, data, revoke_blocks, revokes;
	int bad_revoke;			/* a revoke block's r_count beyond the block */
};

struct scan {
	int empty;			/* s_start 0 */
	uint32_t end, next_tid;
	struct jtx *tx;
	uint32_t ntx;
	const char *stop;		/* why the walk stopped */
	uint32_t stop_block;
	int capped;			/* it walked the whole log without stopping */
	int bad;			/* the mount's replay would fail on it */
	struct jtx tail;		/* what was found of next_tid, without a commit */
};

/* count_tags() (fs/jbd2/recovery.c) for 8-byte tags without block tails */
static uint32_t count_tags(const uint8_t *b, uint32_t bs)
{
	uint32_t off = JBD2_HDR, n = 0;

	while (off + JBD2_TAG <= bs) {
		uint16_t fl = be16(b + off + 6);

		n++;
		off += JBD2_TAG;
		if (!(fl & JBD2_FLAG_SAME_UUID))
			off += 16;
		if (fl & JBD2_FLAG_LAST_TAG)
			break;
	}
	return n;
}

static int scan_log(struct fsinfo *fs, const struct jsb *j, struct scan *s)
{
	uint32_t first = j->first, last = j->maxlen, len = last - first;
	uint32_t b = j->start, tid = j->sequence, walked = 0;
	uint8_t *buf;
	struct jtx cur;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->empty = !j->start;
	s->end = j->start;
	s->next_tid = j->sequence;
	if (s->empty)
		return 0;
	buf = malloc(fs->bs);
	s->tx = NULL;
	if (!buf)
		return refuse("out of memory");
	memset(&cur, 0, sizeof(cur));
	cur.tid = tid;
	cur.start = b;
	s->stop = "walked the whole log";
	for (;;) {
		uint32_t here = b, type;

		if (walked >= len) {
			s->capped = 1;
			s->stop = "walked the whole log";
			break;
		}
		s->stop_block = here;
		if (read_block(fs, fs->jmap[here], buf)) {
			s->stop = "read error";
			rc = -1;
			break;
		}
		walked++;
		if (++b >= last)
			b -= len;
		if (be32(buf) != JBD2_MAGIC) {
			s->stop = "no jbd2 magic";
			break;
		}
		if (be32(buf + 8) != tid) {
			s->stop = "another sequence";
			break;
		}
		type = be32(buf + 4);
		if (type == JBD2_DESCRIPTOR_BLOCK) {
			uint32_t n = count_tags(buf, fs->bs);

			cur.descs++;
			cur.data += n;
			if (n > len - walked) {
				s->stop = "a descriptor's tags overrun the log";
				s->bad = 1;
				break;
			}
			walked += n;
			b += n;
			if (b >= last)	/* the kernel's wrap(), once */
				b -= len;
			if (b >= last) {
				s->stop = "a descriptor's tags overrun the log";
				s->bad = 1;
				break;
			}
		} else if (type == JBD2_COMMIT_BLOCK) {
			struct jtx *n = realloc(s->tx, (s->ntx + 1) * sizeof(*n));

			if (!n) {
				rc = refuse("out of memory");
				break;
			}
			s->tx = n;
			if (cur.bad_revoke) {
				s->stop = "a committed transaction's revoke block has an r_count beyond the block (the replay would fail)";
				s->bad = 1;
			}
			cur.end = b;
			s->tx[s->ntx++] = cur;
			s->end = b;
			s->next_tid = ++tid;
			memset(&cur, 0, sizeof(cur));
			cur.tid = tid;
			cur.start = b;
			if (s->bad)
				break;
		} else if (type == JBD2_REVOKE_BLOCK) {
			uint32_t r = be32(buf + 12);

			cur.revoke_blocks++;
			/*
			 * PASS_SCAN skips it; PASS_REVOKE, in a committed
			 * transaction, fails the mount (-EINVAL) on this
			 */
			if (r > fs->bs)
				cur.bad_revoke = 1;
			else if (r > JBD2_REVOKE_HDR)
				cur.revokes += (r - JBD2_REVOKE_HDR) / 4;
		} else {
			s->stop = "unknown block type";
			break;
		}
	}
	if (cur.descs || cur.revoke_blocks) {
		s->tail = cur;
		s->tail.end = b;
	}
	free(buf);
	return rc;
}

/* --- the records -------------------------------------------------------- */

struct rtxn {
	struct orthros_journal_txn h;
	const uint8_t *rev;		/* nr_revokes x u64 */
	const uint8_t *blk;		/* nr_blocks x { u64 blocknr; data[bs] } */
};

struct records {
	struct orthros_journal_head head;
	struct rtxn tx[ORTHROS_JOURNAL_MAX_TXN];
	uint32_t ntx;
};

static uint64_t rec_rev(const struct rtxn *t, uint32_t i)
{
	uint64_t v;

	memcpy(&v, t->rev + 8 * (size_t)i, 8);
	return v;
}

static uint64_t rec_blknr(const struct rtxn *t, uint32_t bs, uint32_t i)
{
	uint64_t v;

	memcpy(&v, t->blk + (size_t)i * (8 + bs), 8);
	return v;
}

static const uint8_t *rec_data(const struct rtxn *t, uint32_t bs, uint32_t i)
{
	return t->blk + (size_t)i * (8 + bs) + 8;
}

/* the structure: sizes, counts, bounds; nothing about the disk yet */
static int parse_records(const uint8_t *buf, uint64_t len, struct records *r)
{
	const struct orthros_journal_head *h = &r->head;
	uint64_t off, need;
	uint32_t i;

	memset(r, 0, sizeof(*r));
	if (len < sizeof(r->head))
		return refuse("records: %llu bytes, shorter than their head (%zu)", (unsigned long long)len,
			      sizeof(r->head));
	memcpy(&r->head, buf, sizeof(r->head));
	r->head.why[sizeof(r->head.why) - 1] = '\0';
	if (h->magic != ORTHROS_JOURNAL_MAGIC)
		return refuse("records: magic 0x%08x, not 0x%08x", h->magic, ORTHROS_JOURNAL_MAGIC);
	if (h->version != ORTHROS_JOURNAL_VERSION)
		return refuse("records: version %u, this tool reads %u", h->version, ORTHROS_JOURNAL_VERSION);
	if (h->bytes != len)
		return refuse("records: the head says %llu bytes, there are %llu",
			      (unsigned long long)h->bytes, (unsigned long long)len);
	if (h->flags & ~(ORTHROS_JOURNAL_OFF | ORTHROS_JOURNAL_ABORTED | ORTHROS_JOURNAL_NONE))
		return refuse("records: unknown flags 0x%x", h->flags);
	if (h->nr_txn > ORTHROS_JOURNAL_MAX_TXN)
		return refuse("records: %u transactions, at most %u", h->nr_txn, ORTHROS_JOURNAL_MAX_TXN);
	if (h->blocksize < 1024 || h->blocksize > 65536 || (h->blocksize & (h->blocksize - 1)))
		return refuse("records: block size %u", h->blocksize);
	off = sizeof(r->head);
	for (i = 0; i < h->nr_txn; i++) {
		struct rtxn *t = &r->tx[i];

		if (len - off < sizeof(t->h))
			return refuse("records: transaction %u: its head is past the end (%llu bytes)", i,
				      (unsigned long long)len);
		memcpy(&t->h, buf + off, sizeof(t->h));
		off += sizeof(t->h);
		need = (uint64_t)t->h.nr_revokes * 8;
		if (need > len - off)
			return refuse("records: tid %u: %u revokes run past the end", t->h.tid, t->h.nr_revokes);
		t->rev = buf + off;
		off += need;
		need = (uint64_t)t->h.nr_blocks * (8 + (uint64_t)h->blocksize);
		if (need > len - off)
			return refuse("records: tid %u: %u blocks run past the end", t->h.tid, t->h.nr_blocks);
		t->blk = buf + off;
		off += need;
	}
	if (off != len)
		return refuse("records: %llu bytes after the last transaction", (unsigned long long)(len - off));
	r->ntx = h->nr_txn;
	return 0;
}

static const char *txn_kind(const struct rtxn *t)
{
	return t->h.flags & ORTHROS_JOURNAL_COMMITTING ? "committing" : "running";
}

/* the records against this file system and this journal */
static int check_records(const struct records *r, const struct fsinfo *fs, const struct jsb *j)
{
	const struct orthros_journal_head *h = &r->head;
	uint32_t i, k, bs = h->blocksize;
	uint64_t *sorted = NULL;
	int rc = -1;

	if (h->blocksize != fs->bs)
		return refuse("records: block size %u, the file system's is %u", h->blocksize, fs->bs);
	if (memcmp(h->uuid, fs->uuid, 16))
		return refuse("records: the file system uuid is not %s's: they are of another file system",
			      fs->path);
	if (h->first != j->first || h->last != j->maxlen)
		return refuse("records: the dead journal's log blocks are [%u, %u), the disk's [%u, %u)",
			      h->first, h->last, j->first, j->maxlen);
	if (h->head < j->first || h->head >= j->maxlen)
		return refuse("records: the dead j_head %u is not within [%u, %u)", h->head, j->first,
			      j->maxlen);
	if (h->total_len != j->maxlen && h->total_len != fs->jlen)
		warn("records: the dead j_total_len %u is neither s_maxlen %u nor the inode's %u blocks",
		     h->total_len, j->maxlen, fs->jlen);
	for (i = 0; i < r->ntx; i++) {
		const struct rtxn *t = &r->tx[i];

		if (t->h.flags & ~ORTHROS_JOURNAL_COMMITTING)
			return refuse("records: tid %u: unknown flags 0x%x", t->h.tid, t->h.flags);
		if (i && (t->h.flags & ORTHROS_JOURNAL_COMMITTING))
			return refuse("records: tid %u: a committing transaction after another", t->h.tid);
		if ((t->h.flags & ORTHROS_JOURNAL_COMMITTING) &&
		    (t->h.log_start < j->first || t->h.log_start >= j->maxlen))
			return refuse("records: committing tid %u: its log start %u is not within [%u, %u)",
				      t->h.tid, t->h.log_start, j->first, j->maxlen);
	}
	if (r->ntx == 2) {
		if (!(r->tx[0].h.flags & ORTHROS_JOURNAL_COMMITTING))
			return refuse("records: two transactions, the first (tid %u) not the committing one",
				      r->tx[0].h.tid);
		if (r->tx[1].h.tid != r->tx[0].h.tid + 1)
			return refuse("records: tids %u and %u do not follow each other", r->tx[0].h.tid,
				      r->tx[1].h.tid);
	}
	for (i = 0; i < r->ntx; i++) {
		const struct rtxn *t = &r->tx[i];
		uint32_t nb = t->h.nr_blocks, nr = t->h.nr_revokes;

		for (k = 0; k < nr; k++) {
			uint64_t b = rec_rev(t, k);

			if (b >= fs->blocks_count)
				return refuse("records: tid %u revokes block %llu, beyond the file system (%u blocks)",
					      t->h.tid, (unsigned long long)b, fs->blocks_count);
		}
		free(sorted);
		sorted = malloc(((size_t)nb + 1) * sizeof(*sorted));
		if (!sorted)
			return refuse("out of memory");
		for (k = 0; k < nb; k++) {
			uint64_t b = rec_blknr(t, bs, k);

			if (b < fs->first_data_block || b >= fs->blocks_count) {
				refuse("records: tid %u block %llu is outside the file system's blocks [%u, %u)",
				       t->h.tid, (unsigned long long)b, fs->first_data_block, fs->blocks_count);
				goto out;
			}
			if (journal_owns(fs, b)) {
				refuse("records: tid %u block %llu is one of the journal inode's own blocks",
				       t->h.tid, (unsigned long long)b);
				goto out;
			}
			sorted[k] = b;
		}
		qsort(sorted, nb, sizeof(*sorted), cmp_u64);
		for (k = 1; k < nb; k++)
			if (sorted[k] == sorted[k - 1]) {
				refuse("records: tid %u logs block %llu twice", t->h.tid,
				       (unsigned long long)sorted[k]);
				goto out;
			}
		/*
		 * A revoke hides the same transaction's copy (recovery.c: test_revoke,
		 * tid <= the revoking one); jbd2 cancels a revoke when the block is
		 * logged again, so both in one transaction are records that lie.
		 */
		for (k = 0; k < nr; k++) {
			uint64_t b = rec_rev(t, k);

			if (bsearch(&b, sorted, nb, sizeof(*sorted), cmp_u64)) {
				refuse("records: tid %u both revokes and logs block %llu (the replay would drop its copy)",
				       t->h.tid, (unsigned long long)b);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(sorted);
	return rc;
}

/* --- the plan ----------------------------------------------------------- */

struct wtxn {
	const struct rtxn *t;
	uint32_t start, nlog;		/* first log block, log blocks in all */
	uint32_t nrevblk, ndesc, commit;
};

struct plan {
	uint32_t ntx;
	struct wtxn w[ORTHROS_JOURNAL_MAX_TXN];
	int dropped_c;			/* C's commit was on the disk already */
	uint32_t dropped_c_tid;
	uint32_t start, total, free;
	uint32_t zero_from, zero_n;	/* the dead kernel's partial C */
	int sb_rewrite;			/* the journal superblock changes */
	uint32_t sb_start, sb_sequence, sb_incompat;
};

/* log block pos advanced by n, wrapping from last to first */
static uint32_t adv(const struct jsb *j, uint32_t pos, uint64_t n)
{
	uint64_t len = j->maxlen - j->first;

	return j->first + (uint32_t)(((uint64_t)(pos - j->first) + n) % len);
}

/* from a to b, wrapping */
static uint32_t dist(const struct jsb *j, uint32_t a, uint32_t b)
{
	uint32_t len = j->maxlen - j->first;

	return (b - j->first + len - (a - j->first)) % len;
}

/* tags in one descriptor: commit.c's loop, j_wbufsize = bs / 8 buffers with the descriptor */
static uint32_t tags_per_desc(uint32_t bs)
{
	uint32_t space = bs - JBD2_HDR, n = 0, wbuf = bs / 8;

	for (;;) {
		n++;
		space -= JBD2_TAG;
		if (n == 1)
			space -= 16;
		if (n + 1 == wbuf || space < JBD2_TAG + 16)
			return n;
	}
}

static uint32_t revokes_per_block(uint32_t bs)
{
	return (bs - JBD2_REVOKE_HDR) / 4;
}

static int make_plan(const struct records *r, const struct fsinfo *fs, const struct jsb *j,
		     const struct scan *s, struct plan *p)
{
	const struct orthros_journal_head *h = &r->head;
	uint32_t i = 0, pos, len = j->maxlen - j->first, tpd = tags_per_desc(fs->bs);
	uint32_t rpb = revokes_per_block(fs->bs);
	uint64_t total = 0;
	const struct rtxn *t0;
	int revokes = 0;

	memset(p, 0, sizeof(*p));
	t0 = &r->tx[0];
	if (!s->empty) {
		if (s->capped || s->bad)
			return refuse("the on-disk log does not end (%s at log block %u): nothing written",
				      s->stop, s->stop_block);
		if ((t0->h.flags & ORTHROS_JOURNAL_COMMITTING) && s->ntx && t0->h.tid == s->next_tid - 1) {
			if (s->tx[s->ntx - 1].start != t0->h.log_start)
				return refuse("committing tid %u is committed on the disk at log block %u, the records say it started at %u",
					      t0->h.tid, s->tx[s->ntx - 1].start, t0->h.log_start);
			say("committing tid %u is committed on the disk already (its commit block landed): left alone",
			    t0->h.tid);
			p->dropped_c = 1;
			p->dropped_c_tid = t0->h.tid;
			i = 1;
			if (r->ntx == 1) {
				p->ntx = 0;
				return 0;
			}
			t0 = &r->tx[1];
		}
		if (t0->h.tid != s->next_tid)
			return refuse("tid %u (%s) does not follow the log's last committed transaction: the log's next tid is %u",
				      t0->h.tid, txn_kind(t0), s->next_tid);
		if (t0->h.flags & ORTHROS_JOURNAL_COMMITTING) {
			if (t0->h.log_start != s->end)
				return refuse("committing tid %u started at log block %u, the log ends at %u",
					      t0->h.tid, t0->h.log_start, s->end);
		} else if (h->head != s->end) {
			return refuse("running tid %u: the dead j_head is %u, the log ends at %u", t0->h.tid,
				      h->head, s->end);
		}
		p->start = s->end;
		/* up to the on-disk tail; all of it if nothing is committed there */
		p->free = s->ntx ? dist(j, p->start, j->start) : len;
	} else {
		if (tid_lt(t0->h.tid, j->sequence))
			return refuse("tid %u (%s) is older than the empty journal's sequence %u", t0->h.tid,
				      txn_kind(t0), j->sequence);
		p->start = t0->h.flags & ORTHROS_JOURNAL_COMMITTING ? t0->h.log_start : h->head;
		p->free = len;
		p->sb_rewrite = 1;
		p->sb_start = p->start;
		p->sb_sequence = t0->h.tid;
	}
	if (t0->h.flags & ORTHROS_JOURNAL_COMMITTING) {
		p->zero_from = t0->h.log_start;
		p->zero_n = dist(j, t0->h.log_start, h->head);
		if (p->zero_n > p->free)
			return refuse("committing tid %u: the dead kernel's blocks [%u, %u) run past the free log (%u blocks)",
				      t0->h.tid, t0->h.log_start, h->head, p->free);
	}
	pos = p->start;
	for (; i < r->ntx; i++) {
		struct wtxn *w = &p->w[p->ntx++];

		w->t = &r->tx[i];
		w->start = pos;
		w->nrevblk = (w->t->h.nr_revokes + rpb - 1) / rpb;
		w->ndesc = (w->t->h.nr_blocks + tpd - 1) / tpd;
		total += (uint64_t)w->nrevblk + w->ndesc + w->t->h.nr_blocks + 1;
		if (total <= p->free) {
			w->nlog = w->nrevblk + w->ndesc + w->t->h.nr_blocks + 1;
			w->commit = adv(j, pos, w->nlog - 1);
			pos = adv(j, pos, w->nlog);
		}
		if (w->t->h.nr_revokes)
			revokes = 1;
	}
	if (total > p->free)
		return refuse("the transactions need %llu log blocks, the free log has %u: nothing written",
			      (unsigned long long)total, p->free);
	p->total = (uint32_t)total;
	p->sb_incompat = j->incompat;
	if (revokes && !(j->incompat & JBD2_INCOMPAT_REVOKE)) {
		if (j->blocktype != JBD2_SUPERBLOCK_V2)
			return refuse("a v1 journal cannot carry revokes: nothing written");
		p->sb_incompat |= JBD2_INCOMPAT_REVOKE;
		p->sb_rewrite = 1;
		if (!p->sb_start) {
			p->sb_start = j->start;
			p->sb_sequence = j->sequence;
		}
	}
	return 0;
}

/* --- writing ------------------------------------------------------------ */

static int put_block(struct fsinfo *fs, uint32_t lb, const uint8_t *buf)
{
	if (pwrite_all(fs->fd, buf, fs->bs, log_off(fs, lb)))
		return refuse("%s: writing log block %u (block %u): %s: the log may be partly written",
			      fs->path, lb, fs->jmap[lb], strerror(errno));
	return 0;
}

static int sync_dev(struct fsinfo *fs, const char *stage)
{
	if (fsync(fs->fd))
		return refuse("%s: fsync after %s: %s", fs->path, stage, strerror(errno));
	return 0;
}

static void header(uint8_t *buf, uint32_t bs, uint32_t type, uint32_t tid)
{
	memset(buf, 0, bs);
	put_be32(buf, JBD2_MAGIC);
	put_be32(buf + 4, type);
	put_be32(buf + 8, tid);
}

static void commit_block(uint8_t *buf, uint32_t bs, uint32_t tid)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	header(buf, bs, JBD2_COMMIT_BLOCK, tid);
	put_be64(buf + 48, (uint64_t)ts.tv_sec);
	put_be32(buf + 56, (uint32_t)ts.tv_nsec);
}

/* every block of one transaction, its commit block only if with_commit */
static int write_txn(struct fsinfo *fs, const struct jsb *j, const struct wtxn *w, int with_commit,
		     uint8_t *buf, uint8_t *data)
{
	const struct rtxn *t = w->t;
	uint32_t bs = fs->bs, tid = t->h.tid, pos = w->start, rpb = revokes_per_block(bs);
	uint32_t tpd = tags_per_desc(bs), i, k, done;

	for (i = 0, done = 0; i < w->nrevblk; i++) {
		uint32_t n = t->h.nr_revokes - done < rpb ? t->h.nr_revokes - done : rpb;

		header(buf, bs, JBD2_REVOKE_BLOCK, tid);
		for (k = 0; k < n; k++)
			put_be32(buf + JBD2_REVOKE_HDR + 4 * k, (uint32_t)rec_rev(t, done + k));
		put_be32(buf + 12, JBD2_REVOKE_HDR + 4 * n);
		if (put_block(fs, pos, buf))
			return -1;
		pos = adv(j, pos, 1);
		done += n;
	}
	for (i = 0, done = 0; i < w->ndesc; i++) {
		uint32_t n = t->h.nr_blocks - done < tpd ? t->h.nr_blocks - done : tpd, off = JBD2_HDR;

		header(buf, bs, JBD2_DESCRIPTOR_BLOCK, tid);
		for (k = 0; k < n; k++) {
			uint16_t fl = 0;

			if (be32(rec_data(t, bs, done + k)) == JBD2_MAGIC)
				fl |= JBD2_FLAG_ESCAPE;
			if (k)
				fl |= JBD2_FLAG_SAME_UUID;
			if (k == n - 1)
				fl |= JBD2_FLAG_LAST_TAG;
			put_be32(buf + off, (uint32_t)rec_blknr(t, bs, done + k));
			put_be16(buf + off + 4, 0);
			put_be16(buf + off + 6, fl);
			off += JBD2_TAG;
			if (!k)
				off += 16;	/* the dead j_uuid: zeros */
		}
		if (put_block(fs, pos, buf))
			return -1;
		pos = adv(j, pos, 1);
		for (k = 0; k < n; k++) {
			memcpy(data, rec_data(t, bs, done + k), bs);
			if (be32(data) == JBD2_MAGIC)
				memset(data, 0, 4);	/* escaped: the replay puts the magic back */
			if (put_block(fs, pos, data))
				return -1;
			pos = adv(j, pos, 1);
		}
		done += n;
	}
	if (pos != w->commit)
		return refuse("internal error: tid %u's layout ends at %u, planned %u", tid, pos, w->commit);
	if (with_commit) {
		commit_block(buf, bs, tid);
		if (put_block(fs, pos, buf))
			return -1;
	}
	return 0;
}

static int write_plan(struct fsinfo *fs, const struct jsb *j, const struct plan *p)
{
	uint8_t *buf = calloc(2, fs->bs), *data;
	uint32_t i;
	int rc = -1;

	if (!buf)
		return refuse("out of memory");
	data = buf + fs->bs;
	/* (a) the dead kernel's partial blocks of the same tid */
	if (p->zero_n) {
		memset(buf, 0, fs->bs);
		for (i = 0; i < p->zero_n; i++)
			if (put_block(fs, adv(j, p->zero_from, i), buf))
				goto out;
		if (sync_dev(fs, "zeroing the dead kernel's partial commit"))
			goto out;
	}
	/* (b) everything but the first transaction's commit block */
	for (i = 0; i < p->ntx; i++)
		if (write_txn(fs, j, &p->w[i], i > 0, buf, data))
			goto out;
	if (p->sb_rewrite) {
		uint8_t *sb = malloc(fs->bs);

		if (!sb) {
			refuse("out of memory");
			goto out;
		}
		if (read_block(fs, fs->jmap[0], sb) || memcmp(sb, j->raw, sizeof(j->raw))) {
			if (!errmsg[0])
				refuse("%s: the journal superblock changed under us", fs->path);
			free(sb);
			goto out;
		}
		put_be32(sb + 0x18, p->sb_sequence);
		put_be32(sb + 0x1c, p->sb_start);
		if (j->blocktype == JBD2_SUPERBLOCK_V2)
			put_be32(sb + 0x28, p->sb_incompat);
		if (put_block(fs, 0, sb)) {
			free(sb);
			goto out;
		}
		free(sb);
	}
	if (sync_dev(fs, "writing the transactions"))
		goto out;
	/* (c) the first commit block: all of it becomes durable at once */
	commit_block(buf, fs->bs, p->w[0].t->h.tid);
	if (put_block(fs, p->w[0].commit, buf) || sync_dev(fs, "the commit block"))
		goto out;
	rc = 0;
out:
	free(buf);
	return rc;
}

/* --- getting the records ------------------------------------------------ */

static int load_file(const char *path, uint8_t **bufp, uint64_t *lenp)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return refuse("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_RECORDS) {
		close(fd);
		return refuse("%s: not a regular file of at most 1 GiB", path);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return refuse("out of memory");
	}
	if (pread_all(fd, buf, (size_t)st.st_size, 0)) {
		refuse("%s: %s", path, strerror(errno));
		free(buf);
		close(fd);
		return -1;
	}
	close(fd);
	*bufp = buf;
	*lenp = (uint64_t)st.st_size;
	return 0;
}

static int load_ioctl(uint8_t **bufp, uint64_t *lenp)
{
	struct orthros_journal_req req;
	uint64_t len = 1 << 20;
	uint8_t *buf = NULL, *n;
	int fd, tries;

	fd = open(ORTHROS_FAILOVER_DEVICE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return refuse("%s: %s", ORTHROS_FAILOVER_DEVICE, strerror(errno));
	for (tries = 0;; tries++) {
		n = realloc(buf, len);
		if (!n) {
			refuse("out of memory (%llu bytes)", (unsigned long long)len);
			break;
		}
		buf = n;
		memset(&req, 0, sizeof(req));
		req.buf = (uintptr_t)buf;
		req.len = len;
		if (!ioctl(fd, ORTHROS_FAILOVER_JOURNAL, &req)) {
			if (req.needed > len) {
				refuse("ORTHROS_FAILOVER_JOURNAL: says %llu bytes written into %llu",
				       (unsigned long long)req.needed, (unsigned long long)len);
				break;
			}
			close(fd);
			*bufp = buf;
			*lenp = req.needed;
			return 0;
		}
		if (errno == ENOSPC && !tries && req.needed > len && req.needed <= MAX_RECORDS) {
			len = req.needed;
			continue;
		}
		refuse("ORTHROS_FAILOVER_JOURNAL: %s%s", strerror(errno),
		       errno == ENOTTY ? " (this kernel does not carry the journal)" :
		       errno == ENOSPC ? " (the records grew, or are above 1 GiB)" : "");
		break;
	}
	free(buf);
	close(fd);
	return -1;
}

/* --- JSON --------------------------------------------------------------- */

static void json_jsb(const struct fsinfo *fs, const struct jsb *j)
{
	printf("\"journal\":{\"inode\":%u,\"inode_blocks\":%u,\"version\":%u,\"blocksize\":%u,\"maxlen\":%u,"
	       "\"first\":%u,\"sequence\":%u,\"start\":%u,\"errno\":%d,\"feature_compat\":%u,"
	       "\"feature_incompat\":%u,\"feature_ro_compat\":%u}",
	       fs->journal_inum, fs->jlen, j->blocktype == JBD2_SUPERBLOCK_V2 ? 2 : 1, j->blocksize,
	       j->maxlen, j->first, j->sequence, j->start, (int32_t)j->errno_, j->compat, j->incompat,
	       j->ro_compat);
}

static void json_scan(const struct scan *s)
{
	if (s->empty) {
		printf("\"empty\":true,\"end\":null,\"next_tid\":null");
		return;
	}
	printf("\"empty\":false,\"end\":%u,\"next_tid\":%u,\"stopped\":", s->end, s->next_tid);
	json_str(s->stop, 200);
	printf(",\"stop_block\":%u,\"replay_would_fail\":%s", s->stop_block, s->bad ? "true" : "false");
}

static void json_tx(const struct jtx *t)
{
	printf("{\"tid\":%u,\"log_start\":%u,\"log_end\":%u,\"descriptors\":%u,\"data_blocks\":%u,"
	       "\"revoke_blocks\":%u,\"revokes\":%u}",
	       t->tid, t->start, t->end, t->descs, t->data, t->revoke_blocks, t->revokes);
}

static void json_head(const struct records *r)
{
	const struct orthros_journal_head *h = &r->head;
	uint32_t i;

	printf("\"records\":{\"flags\":%u,\"blocksize\":%u,\"nr_txn\":%u,\"first\":%u,\"last\":%u,"
	       "\"head\":%u,\"commit_seq\":%u,\"total_len\":%u,\"bytes\":%llu,\"dropped_tid\":%u,"
	       "\"dropped_blocks\":%u,\"open_handles\":%u,\"why\":",
	       h->flags, h->blocksize, h->nr_txn, h->first, h->last, h->head, h->commit_seq,
	       h->total_len, (unsigned long long)h->bytes, h->dropped_tid, h->dropped_blocks,
	       h->open_handles);
	json_str(h->why, sizeof(h->why));
	printf(",\"transactions\":[");
	for (i = 0; i < r->ntx; i++)
		printf("%s{\"tid\":%u,\"state\":%u,\"log_start\":%u,\"committing\":%s,\"blocks\":%u,\"revokes\":%u}",
		       i ? "," : "", r->tx[i].h.tid, r->tx[i].h.state, r->tx[i].h.log_start,
		       r->tx[i].h.flags & ORTHROS_JOURNAL_COMMITTING ? "true" : "false",
		       r->tx[i].h.nr_blocks, r->tx[i].h.nr_revokes);
	printf("]}");
}

/* --- commands ----------------------------------------------------------- */

static int cmd_scan(const char *dev)
{
	struct fsinfo fs;
	struct jsb j;
	struct scan s;
	int have_jsb = 0, rc = 1;
	uint32_t i;

	memset(&s, 0, sizeof(s));
	memset(&fs, 0, sizeof(fs));
	fs.fd = -1;
	if (open_device(&fs, dev, 0) || read_fs(&fs) || read_jsb(&fs, &j))
		goto out;
	have_jsb = 1;
	if (scan_log(&fs, &j, &s))
		goto out;
	rc = 0;
	if (json)
		goto out;
	printf("journal: inode %u (%u blocks), v%d, block size %u, s_maxlen %u, s_first %u, s_sequence %u, s_start %u, s_errno %d, features compat 0x%x incompat 0x%x ro_compat 0x%x\n",
	       fs.journal_inum, fs.jlen, j.blocktype == JBD2_SUPERBLOCK_V2 ? 2 : 1, j.blocksize, j.maxlen,
	       j.first, j.sequence, j.start, (int32_t)j.errno_, j.compat, j.incompat, j.ro_compat);
	printf("file system: needs_recovery %s\n", fs.incompat & EXT3_INCOMPAT_RECOVER ? "set" : "not set");
	if (s.empty) {
		printf("log: empty (s_start 0): nothing to replay\n");
		goto out;
	}
	for (i = 0; i < s.ntx; i++)
		printf("tid %u: log blocks %u-%u, %u data blocks in %u descriptors, %u revokes in %u blocks\n",
		       s.tx[i].tid, s.tx[i].start, adv(&j, s.tx[i].end, (uint64_t)j.maxlen - j.first - 1),
		       s.tx[i].data, s.tx[i].descs, s.tx[i].revokes, s.tx[i].revoke_blocks);
	if (s.tail.descs || s.tail.revoke_blocks)
		printf("tid %u: from log block %u, %u data blocks, %u revokes, no commit block (not replayed)\n",
		       s.tail.tid, s.tail.start, s.tail.data, s.tail.revokes);
	printf("log: %u committed transactions, end %u, next tid %u (stopped at log block %u: %s)%s\n",
	       s.ntx, s.end, s.next_tid, s.stop_block, s.stop,
	       s.bad ? ": the mount's replay would fail here" : "");
out:
	if (json) {
		printf("{\"device\":");
		json_str(dev, 4096);
		if (have_jsb) {
			printf(",");
			json_jsb(&fs, &j);
			printf(",\"needs_recovery\":%s,", fs.incompat & EXT3_INCOMPAT_RECOVER ? "true" : "false");
			json_scan(&s);
			printf(",\"transactions\":[");
			for (i = 0; i < s.ntx; i++) {
				if (i)
					putchar(',');
				json_tx(&s.tx[i]);
			}
			printf("],\"uncommitted\":");
			if (s.tail.descs || s.tail.revoke_blocks)
				json_tx(&s.tail);
			else
				printf("null");
		}
		json_end(rc, errmsg, sizeof(errmsg));
	}
	close_device(&fs);
	free(s.tx);
	return rc;
}

static const char *flags_meaning(uint32_t f)
{
	if (f & ORTHROS_JOURNAL_OFF)
		return "the journal is not carried (orthros_migrate=no-journal)";
	if (f & ORTHROS_JOURNAL_ABORTED)
		return "the dead journal was aborted: its transactions are not carried (jbd2 would not commit them)";
	return "the dead kernel had no journal to finish (no file system, or none on it)";
}

static int cmd_finish(const char *dev, const char *recfile, int dry)
{
	struct fsinfo fs;
	struct records r;
	struct jsb j;
	struct scan s;
	struct plan p;
	uint8_t *buf = NULL;
	uint64_t len = 0;
	int have_rec = 0, have_jsb = 0, have_scan = 0, have_plan = 0, rc = 1;
	const char *result = "refused";
	uint32_t i;

	memset(&s, 0, sizeof(s));
	memset(&p, 0, sizeof(p));
	memset(&fs, 0, sizeof(fs));
	fs.fd = -1;
	if (recfile ? load_file(recfile, &buf, &len) : load_ioctl(&buf, &len))
		goto out;
	if (parse_records(buf, len, &r))
		goto out;
	have_rec = 1;
	if (r.head.why[0])
		warn("the kernel left out: %s (tid %u, %u blocks, %u open handles)", r.head.why,
		     r.head.dropped_tid, r.head.dropped_blocks, r.head.open_handles);
	if (r.head.flags) {
		say("%s: nothing written", flags_meaning(r.head.flags));
		result = "nothing";
		rc = 0;
		goto out;
	}
	if (!r.ntx) {
		say("nothing to finish (no transaction in the records)");
		result = "nothing";
		rc = 0;
		goto out;
	}
	if (open_device(&fs, dev, !dry) || read_fs(&fs) || read_jsb(&fs, &j))
		goto out;
	have_jsb = 1;
	if (!(fs.incompat & EXT3_INCOMPAT_RECOVER)) {
		refuse("%s: needs_recovery is not set: the mount would wipe the log instead of replaying it; nothing written",
		       dev);
		goto out;
	}
	if (check_records(&r, &fs, &j))
		goto out;
	if (scan_log(&fs, &j, &s))
		goto out;
	have_scan = 1;
	if (r.tx[0].h.tid != r.head.commit_seq + 1)
		warn("the first transaction's tid %u is not the dead j_commit_sequence %u + 1", r.tx[0].h.tid,
		     r.head.commit_seq);
	if (s.empty)
		say("journal: log blocks %u-%u, empty (s_start 0, s_sequence %u)", j.first, j.maxlen - 1,
		    j.sequence);
	else
		say("journal: log blocks %u-%u, s_start %u, s_sequence %u: %u committed transactions, end %u, next tid %u",
		    j.first, j.maxlen - 1, j.start, j.sequence, s.ntx, s.end, s.next_tid);
	if (make_plan(&r, &fs, &j, &s, &p))
		goto out;
	have_plan = 1;
	if (!p.ntx) {
		say("nothing to finish");
		result = "nothing";
		rc = 0;
		goto out;
	}
	if (p.zero_n)
		say("%s the dead kernel's %u partial blocks of tid %u (log blocks %u-%u)", dry ? "would zero" : "zeroing",
		    p.zero_n, p.w[0].t->h.tid, p.zero_from, adv(&j, p.zero_from, p.zero_n - 1));
	if (!dry && write_plan(&fs, &j, &p)) {
		result = "failed";
		goto out;
	}
	for (i = 0; i < p.ntx; i++)
		say("tid %u (%s): %u blocks, %u revokes, log blocks %u-%u%s", p.w[i].t->h.tid,
		    txn_kind(p.w[i].t), p.w[i].t->h.nr_blocks, p.w[i].t->h.nr_revokes, p.w[i].start,
		    p.w[i].commit, dry ? " (dry run: not written)" : "");
	say("%s %u transaction%s, %u log blocks from %u (%u free)%s", dry ? "dry run: would append" : "appended",
	    p.ntx, p.ntx == 1 ? "" : "s", p.total, p.start, p.free, dry ? "" : "; the mount's replay applies them");
	if (p.sb_rewrite)
		say("journal superblock %s: s_start %u, s_sequence %u, incompat 0x%x", dry ? "would be" : "rewritten",
		    p.sb_start, p.sb_sequence, p.sb_incompat);
	result = dry ? "dry-run" : "written";
	rc = 0;
out:
	if (json) {
		printf("{\"device\":");
		json_str(dev, 4096);
		printf(",\"result\":\"%s\",\"dry_run\":%s", result, dry ? "true" : "false");
		if (have_rec) {
			printf(",");
			json_head(&r);
		}
		if (have_jsb) {
			printf(",");
			json_jsb(&fs, &j);
		}
		if (have_scan) {
			printf(",\"committed_on_disk\":%u,", s.ntx);
			json_scan(&s);
		}
		if (have_plan) {
			printf(",\"dropped_committing\":");
			if (p.dropped_c)
				printf("%u", p.dropped_c_tid);
			else
				printf("null");
			printf(",\"start\":%u,\"log_blocks\":%u,\"free\":%u,\"zeroed\":%u,\"superblock\":",
			       p.start, p.total, p.free, p.zero_n);
			if (p.sb_rewrite)
				printf("{\"start\":%u,\"sequence\":%u,\"incompat\":%u}", p.sb_start, p.sb_sequence,
				       p.sb_incompat);
			else
				printf("null");
			printf(",\"written\":[");
			for (i = 0; i < p.ntx; i++)
				printf("%s{\"tid\":%u,\"committing\":%s,\"blocks\":%u,\"revokes\":%u,\"descriptors\":%u,"
				       "\"revoke_blocks\":%u,\"log_first\":%u,\"log_last\":%u,\"log_blocks\":%u}",
				       i ? "," : "", p.w[i].t->h.tid,
				       p.w[i].t->h.flags & ORTHROS_JOURNAL_COMMITTING ? "true" : "false",
				       p.w[i].t->h.nr_blocks, p.w[i].t->h.nr_revokes, p.w[i].ndesc, p.w[i].nrevblk,
				       p.w[i].start, p.w[i].commit, p.w[i].nlog);
			printf("]");
		}
		json_end(rc, errmsg, sizeof(errmsg));
	}
	close_device(&fs);
	free(s.tx);
	free(buf);
	return rc;
}

static int cmd_records(const char *path)
{
	uint8_t *buf;
	uint64_t len;
	struct records r;
	int fd, rc = 0;

	if (load_ioctl(&buf, &len))
		return 1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite_all(fd, buf, len, 0) || fsync(fd) || close(fd)) {
		refuse("%s: %s", path, strerror(errno));
		free(buf);
		return 1;
	}
	if (!parse_records(buf, len, &r))
		say("%llu bytes saved to %s: flags 0x%x, %u transactions%s%s", (unsigned long long)len, path,
		    r.head.flags, r.ntx, r.head.why[0] ? "; left out: " : "", r.head.why);
	else
		rc = 1;	/* saved anyway: that is what the file is for */
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *arg = NULL, *recfile = NULL;
	int i, dry = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--dry-run")) {
			dry = 1;
		} else if (!strcmp(a, "--records")) {
			if (++i >= argc) {
				fprintf(stderr, "orthros-journal: --records needs a FILE\n");
				return 2;
			}
			recfile = argv[i];
		} else if (a[0] == '-') {
			fprintf(stderr, "orthros-journal: unknown option %s\n", a);
			usage(stderr);
			return 2;
		} else if (!cmd) {
			cmd = a;
		} else if (!arg) {
			arg = a;
		} else {
			fprintf(stderr, "orthros-journal: one argument too many: %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!cmd || !arg) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "finish"))
		return cmd_finish(arg, recfile, dry);
	if (recfile || dry) {
		fprintf(stderr, "orthros-journal: --records and --dry-run are for finish\n");
		return 2;
	}
	if (!strcmp(cmd, "scan"))
		return cmd_scan(arg);
	if (!strcmp(cmd, "records")) {
		if (json) {
			fprintf(stderr, "orthros-journal: records has no --json\n");
			return 2;
		}
		return cmd_records(arg);
	}
	fprintf(stderr, "orthros-journal: unknown command %s\n", cmd);
	usage(stderr);
	return 2;
}
