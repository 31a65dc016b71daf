// SPDX-License-Identifier: GPL-2.0
#include "shmlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
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
