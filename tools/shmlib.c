// SPDX-License-Identifier: GPL-2.0
#include "shmlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

uint32_t shm_crc32(const void *p, size_t len)
{
	static uint32_t table[256];
	const unsigned char *b = p;
	uint32_t c = ~0U;

	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t v = i;

			for (int k = 0; k < 8; k++)
				v = v & 1 ? 0xedb88320U ^ (v >> 1) : v >> 1;
			table[i] = v;
		}
	while (len--)
		c = table[(c ^ *b++) & 0xff] ^ (c >> 8);
	return ~c;
}

int shm_map(struct shm_map *m, int writable, char *err, size_t errlen)
{
	int fd = open(ORTHROS_SHM_DEVICE, writable ? O_RDWR : O_RDONLY);

	memset(m, 0, sizeof(*m));
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", ORTHROS_SHM_DEVICE, strerror(errno));
		return -1;
	}
	if (ioctl(fd, ORTHROS_SHM_INFO, &m->info) || !m->info.mapped) {
		snprintf(err, errlen, "this OS has no shared memory (orthros_shm= missing?)");
		close(fd);
		return -1;
	}
	m->size = m->info.size;
	m->base = mmap(NULL, m->size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	close(fd);
	if (m->base == MAP_FAILED) {
		snprintf(err, errlen, "mmap %s: %s", ORTHROS_SHM_DEVICE, strerror(errno));
		m->base = NULL;
		return -1;
	}
	return 0;
}

void shm_unmap(struct shm_map *m)
{
	if (m->base)
		munmap(m->base, m->size);
	m->base = NULL;
}

int shm_check(const struct shm_map *m, char *why, size_t len)
{
	struct orthros_shm_header h;
	uint32_t c;

	memcpy(&h, m->base, sizeof(h));
	c = shm_crc32(&h, sizeof(h) - 4);
	if (h.magic != ORTHROS_SHM_MAGIC)
		snprintf(why, len, "bad magic %#llx (want %#llx)", (unsigned long long)h.magic,
			 (unsigned long long)ORTHROS_SHM_MAGIC);
	else if (h.version != ORTHROS_SHM_VERSION)
		snprintf(why, len, "version %u, this kernel speaks %u", h.version,
			 ORTHROS_SHM_VERSION);
	else if (h.checksum != c)
		snprintf(why, len, "header checksum %#x does not match its content (%#x)",
			 h.checksum, c);
	else if (h.header_size != sizeof(h) || h.size != m->info.size || h.phys != m->info.phys ||
		 h.os_off != ORTHROS_SHM_OS_OFF || h.ring_off[1] != ORTHROS_SHM_RING1_OFF)
		snprintf(why, len, "layout differs from this kernel's");
	else
		return 0;
	return -1;
}

int shm_rec_read(void *dst, const void *src, size_t size)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t s1 = __atomic_load_n((const uint32_t *)src, __ATOMIC_ACQUIRE);

		memcpy(dst, src, size);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if ((s1 & 1) || __atomic_load_n((const uint32_t *)src, __ATOMIC_RELAXED) != s1)
			continue;
		return shm_crc32((const char *)dst + 4, size - 8) ==
			*(const uint32_t *)((const char *)dst + size - 4) ? 0 : -1;
	}
	return -1;
}

double shm_tsc_us(const struct shm_map *m, uint64_t tsc)
{
	return m->info.tsc_khz ? (double)tsc * 1000.0 / m->info.tsc_khz : 0;
}

int chan_open(uint32_t *port)
{
	int fd = open(ORTHROS_CHAN_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ioctl(fd, ORTHROS_CHAN_BIND, port)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int chan_send(int fd, uint32_t port, uint32_t flags, const void *data, size_t len)
{
	struct orthros_msg m;
	const char *p = data;

	do {
		size_t n = len > ORTHROS_MSG_DATA ? ORTHROS_MSG_DATA : len;

		memset(&m, 0, offsetof(struct orthros_msg, data));
		m.port = port;
		m.flags = flags | (len > n ? ORTHROS_MSG_MORE : 0);
		m.len = (uint32_t)n;
		memcpy(m.data, p, n);
		if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
			return -1;
		p += n;
		len -= n;
	} while (len);
	return 0;
}

/* --- the registry of protected processes ------------------------------------ */

int shm_reg_read(const struct shm_map *m, unsigned int slot, struct orthros_shm_reg_entry *e)
{
	const void *src = (const char *)m->base + ORTHROS_SHM_REG_OFF + slot * sizeof(*e);
	static const struct orthros_shm_reg_entry zero;

	if (!shm_rec_read(e, src, sizeof(*e)))
		return e->pid ? 1 : 0;
	memcpy(e, src, sizeof(*e));
	return memcmp(e, &zero, sizeof(*e)) ? -1 : 0;	/* never written: free */
}

static unsigned int self_ordinal(void)
{
	unsigned int n = 0;
	FILE *f = fopen("/sys/kernel/orthros/ordinal", "r");

	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

/* Its start time in clock ticks after boot (/proc/PID/stat field 22), or -1. */
static long long proc_start_ticks(unsigned int pid)
{
	char path[64], buf[1024], *p;
	long long ticks = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
		/* after the name: field 3 (state) ... field 22 (starttime) */
		for (int field = 2; p && field < 22; field++)
			p = strchr(p + 1, ' ');
		if (p)
			ticks = strtoll(p + 1, NULL, 10);
	}
	fclose(f);
	return ticks;
}

const char *shm_reg_state(const struct orthros_shm_reg_entry *e)
{
	long long ticks, want;
	long hz = sysconf(_SC_CLK_TCK);

	if (e->owner_ordinal != self_ordinal())
		return "other-os";
	ticks = proc_start_ticks(e->pid);
	want = (long long)(e->start_time / (1000000000ULL / (unsigned long long)(hz > 0 ? hz : 100)));
	return ticks >= 0 && ticks - want <= 1 && want - ticks <= 1 ? "running" : "exited";
}

static void json_string(FILE *f, const char *s, size_t max)
{
	fputc('"', f);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int shm_reg_print(FILE *f, const struct shm_map *m, int json)
{
	struct orthros_shm_reg_entry e;
	int n = 0;

	if (json)
		fputc('[', f);
	for (unsigned int i = 0; i < ORTHROS_SHM_REG_SLOTS; i++) {
		int r = shm_reg_read(m, i, &e);

		if (!r)
			continue;
		if (json) {
			fprintf(f, "%s{\"slot\":%u", n ? "," : "", i);
			if (r < 0) {
				fprintf(f, ",\"state\":\"corrupt\"}");
			} else {
				fprintf(f, ",\"pid\":%u,\"comm\":", e.pid);
				json_string(f, e.comm, sizeof(e.comm));
				fprintf(f, ",\"owner\":%u,\"tree\":%s,\"forced\":%s,\"uid\":%u,"
					"\"rss_bytes\":%llu,\"added_us\":%.0f,\"start_time_ns\":%llu,"
					"\"generation\":%u,\"state\":\"%s\"}", e.owner_ordinal,
					e.flags & ORTHROS_REG_TREE ? "true" : "false",
					e.flags & ORTHROS_PROTECT_FORCE ? "true" : "false", e.uid,
					(unsigned long long)e.rss_bytes, shm_tsc_us(m, e.added_tsc),
					(unsigned long long)e.start_time, e.generation, shm_reg_state(&e));
			}
		} else if (r < 0) {
			fprintf(f, "  slot %2u: entry does not check (corrupt)\n", i);
		} else {
			const char *st = shm_reg_state(&e);
			char where[32];

			if (!strcmp(st, "other-os"))
				snprintf(where, sizeof(where), "owned by OS %u", e.owner_ordinal);
			else
				snprintf(where, sizeof(where), "%s", !strcmp(st, "running") ?
					 "running here" : st);
			fprintf(f, "  slot %2u: PID %-7u %-16.16s %s; uid %u, %llu KiB%s%s\n", i,
				e.pid, e.comm, where, e.uid, (unsigned long long)e.rss_bytes >> 10,
				e.flags & ORTHROS_REG_TREE ? ", with its descendants" : "",
				e.flags & ORTHROS_PROTECT_FORCE ? ", forced" : "");
		}
		n++;
	}
	if (json)
		fputc(']', f);
	return n;
}

uint64_t shm_rescue_capacity(const struct shm_map *m, unsigned int *backup)
{
	struct orthros_shm_roles roles;
	struct orthros_shm_facts facts;

	*backup = 0;
	if (shm_rec_read(&roles, (const char *)m->base + ORTHROS_SHM_ROLES_OFF, sizeof(roles)) ||
	    !roles.backup)
		return 0;
	*backup = roles.backup;
	if (shm_rec_read(&facts, (const char *)m->base + ORTHROS_SHM_FACTS_OFF +
			 (roles.backup % ORTHROS_SHM_OS_SLOTS) * ORTHROS_SHM_FACTS_SIZE, sizeof(facts)) ||
	    facts.ordinal != roles.backup)
		return 0;
	return facts.rescue_capacity;
}
