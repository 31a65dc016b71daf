// SPDX-License-Identifier: GPL-2.0
/*
 * DEVELOPMENT AID ONLY (not a test, not built by make): make the records
 * buffer the kernel extractor would return, from a live process on this
 * host, so that `orthros-rescue write` can be exercised on realistic data
 * without a dead kernel.
 *
 *   gcc -O2 -Wall -o live-records live-records.c
 *   live-records PID RECORDS DEADMEM
 *
 * Attaches with ptrace to every thread of PID (and so stops it), reads
 * /proc/PID/{stat,status,maps,smaps,pagemap,mem,auxv,fd,fdinfo,limits} and
 * the registers (PTRACE_GETREGS, PTRACE_GETREGSET NT_X86_XSTATE), and writes
 * RECORDS plus DEADMEM, a sparse file whose offsets play the physical
 * addresses the records name.  Detaches at the end.  Not carried by this
 * aid (the kernel has them, /proc does not): sigaction handlers,
 * clear_child_tid, sigaltstack, queued siginfo.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kernel/orthros_rescue_abi.h"

#define PAGE 4096UL

static FILE *rec;
static int memfd, deadfd;
static uint64_t next_phys = 1 << 20;
static int pid;

static void die(const char *m)
{
	perror(m);
	exit(1);
}

static void put(uint32_t type, const void *p, uint32_t len)
{
	struct orthros_rx_hdr h = { type, (len + 7) & ~7U };
	static const char zero[8];

	fwrite(&h, sizeof(h), 1, rec);
	fwrite(p, len, 1, rec);
	fwrite(zero, h.len - len, 1, rec);
}

/* Put data into the fake dead memory; return its "physical address". */
static uint64_t stash(const void *p, size_t n)
{
	uint64_t at = next_phys;

	if (pwrite(deadfd, p, n, at) != (ssize_t)n)
		die("pwrite deadmem");
	next_phys += (n + PAGE - 1) & ~(PAGE - 1);
	return at;
}

static char *slurp(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	buf[n < 0 ? 0 : n] = 0;
	return buf;
}

static uint64_t field(const char *txt, const char *key, int base)
{
	const char *p = strstr(txt, key);

	return p ? strtoull(p + strlen(key), NULL, base) : 0;
}

static void proc_record(int nr_threads, int nr_vmas, int nr_fds)
{
	struct orthros_rx_proc *p = calloc(1, sizeof(*p));
	char path[64], *s;
	unsigned long long v[52] = { 0 };
	struct timespec ts;
	int i, fd, n;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	s = slurp(path);
	p->pid = pid;
	p->ppid = 0;
	p->nr_threads = nr_threads;
	p->flags = ORTHROS_RXP_LEADER;
	sscanf(strstr(s, "Uid:"), "Uid: %u %u %u %u", &p->uid, &p->euid, &p->suid, &p->fsuid);
	sscanf(strstr(s, "Gid:"), "Gid: %u %u %u %u", &p->gid, &p->egid, &p->sgid, &p->fsgid);
	p->cap_inh = field(s, "CapInh:", 16);
	p->cap_prm = field(s, "CapPrm:", 16);
	p->cap_eff = field(s, "CapEff:", 16);
	p->cap_bnd = field(s, "CapBnd:", 16);
	p->cap_amb = field(s, "CapAmb:", 16);
	p->umask = field(s, "Umask:", 8);
	p->shared_pending = field(s, "ShdPnd:", 16);
	s = strstr(s, "Groups:") + 7;
	for (char *e; p->ngroups < ORTHROS_RX_NGROUPS; s = e) {
		n = strtoul(s, &e, 10);
		if (e == s)
			break;
		p->groups[p->ngroups++] = n;
	}
	p->exit_signal = SIGCHLD;
	p->personality = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	s = strrchr(slurp(path), ')') + 2;
	/* fields from 3 (state) on: v[k] is field k+3 */
	for (i = 1; i < 50; i++) {
		s = strchr(s, ' ') + 1;
		v[i] = strtoull(s, NULL, 10);
	}
	p->ppid = 0;
	p->pgid = v[2];
	p->sid = v[3];
	p->start_code = v[23];
	p->end_code = v[24];
	p->start_stack = v[25];
	p->start_data = v[42];
	p->end_data = v[43];
	p->start_brk = v[44];
	p->arg_start = v[45];
	p->arg_end = v[46];
	p->env_start = v[47];
	p->env_end = v[48];
	p->brk = p->start_brk;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	strncpy(p->comm, slurp(path), 15);
	p->comm[strcspn(p->comm, "\n")] = 0;
	snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
	readlink(path, p->cwd, sizeof(p->cwd) - 1);
	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	readlink(path, p->root, sizeof(p->root) - 1);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	readlink(path, p->exe, sizeof(p->exe) - 1);
	for (i = 0; i < ORTHROS_RX_NRLIM; i++) {
		struct rlimit r;

		prlimit(pid, i, NULL, &r);
		p->rlim_cur[i] = r.rlim_cur;
		p->rlim_max[i] = r.rlim_max;
	}
	for (i = 0; i < ORTHROS_RX_NSIG; i++)
		p->sigaction[i].handler = 0;	/* SIG_DFL: not readable from /proc */
	snprintf(path, sizeof(path), "/proc/%d/auxv", pid);
	fd = open(path, O_RDONLY);
	n = read(fd, p->auxv, sizeof(p->auxv));
	close(fd);
	p->auxv_words = n / 8;
	p->nr_vmas = nr_vmas;
	p->nr_fds = nr_fds;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p->mono_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	p->boot_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	p->start_time_ns = v[19] * (1000000000ULL / sysconf(_SC_CLK_TCK));
	p->vdso = 0;
	put(ORTHROS_RX_PROC, p, sizeof(*p));
	free(p);
}

static void thread_record(int tid)
{
	struct orthros_rx_thread *t = calloc(1, sizeof(*t));
	struct user_regs_struct r;
	struct iovec iov = { t->xsave, sizeof(t->xsave) };
	char path[64], *s;
	struct { uint64_t ptr; uint32_t size, sig, flags, pad; } rseq = { 0 };
	long head = 0, len = 0;

	if (ptrace(PTRACE_GETREGS, tid, 0, &r))
		die("PTRACE_GETREGS");
	memcpy(&t->regs, &r, sizeof(t->regs));	/* same order up to ss */
	t->fs_base = r.fs_base;
	t->gs_base = r.gs_base;
	t->ds = r.ds;
	t->es = r.es;
	t->fs = r.fs;
	t->gs = r.gs;
	t->tid = tid;
	if ((long)r.orig_rax >= 0)
		t->flags |= ORTHROS_RXT_IN_SYSCALL;
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) == 0) {
		t->xsave_len = iov.iov_len;
		memcpy(&t->xfeatures, t->xsave + 464, 8);	/* xstate_fx_sw_bytes: XCR0 */
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", pid, tid);
	s = slurp(path);
	t->blocked = field(s, "SigBlk:", 16);
	t->pending = field(s, "SigPnd:", 16);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	strncpy(t->comm, slurp(path), 15);
	t->comm[strcspn(t->comm, "\n")] = 0;
	if (!syscall(SYS_get_robust_list, tid, &head, &len)) {
		t->robust_list = head;
		t->robust_len = len;
	}
	if (ptrace(0x420f /* PTRACE_GET_RSEQ_CONFIGURATION */, tid, sizeof(rseq), &rseq) > 0) {
		t->rseq = rseq.ptr;
		t->rseq_len = rseq.size;
		t->rseq_sig = rseq.sig;
	}
	put(ORTHROS_RX_THREAD, t, sizeof(*t));
	free(t);
}

struct vma {
	uint64_t start, end, pgoff, ino;
	unsigned int dev_maj, dev_min;
	char perms[5], path[ORTHROS_RX_PATH];
	uint64_t vm_flags;
};

static uint64_t smaps_flags(uint64_t start)
{
	static const struct { const char *n; uint64_t f; } tab[] = {
		{ "rd", 0x1 }, { "wr", 0x2 }, { "ex", 0x4 }, { "sh", 0x8 }, { "mr", 0x10 },
		{ "mw", 0x20 }, { "me", 0x40 }, { "ms", 0x80 }, { "gd", 0x100 },
		{ "sr", 0x8000 }, { "rr", 0x10000 }, { "dc", 0x20000 }, { "nr", 0x200000 },
		{ "dd", 0x4000000 }, { "hg", 0x20000000 }, { "nh", 0x40000000 },
		{ "mg", 0x80000000 },
	};
	char path[64], key[32], *s, *e;
	uint64_t f = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	s = slurp(path);
	snprintf(key, sizeof(key), "%llx-", (unsigned long long)start);
	for (s = strstr(s, key); s && (s = strstr(s, "VmFlags:")); s = NULL) {
		e = strchr(s, '\n');
		for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
			char *q = strstr(s, tab[i].n);

			if (q && q < e && q[-1] == ' ')
				f |= tab[i].f;
		}
	}
	return f;
}

static void vma_record(struct vma *m, int pmfd)
{
	struct orthros_rx_vma *v = calloc(1, sizeof(*v));
	uint64_t n = (m->end - m->start) / PAGE, cnt = 0;
	struct orthros_rx_pages *pg = calloc(1, sizeof(*pg) + n * sizeof(pg->page[0]));
	bool shared = m->perms[3] == 's';
	static uint8_t page[PAGE];
	struct stat sb;

	v->start = m->start;
	v->end = m->end;
	v->pgoff = m->pgoff / PAGE;
	v->vm_flags = smaps_flags(m->start);
	v->prot = (m->perms[0] == 'r' ? PROT_READ : 0) | (m->perms[1] == 'w' ? PROT_WRITE : 0) |
		  (m->perms[2] == 'x' ? PROT_EXEC : 0);
	v->map_flags = (shared ? MAP_SHARED : MAP_PRIVATE) |
		       (v->vm_flags & 0x100 ? MAP_GROWSDOWN : 0);
	v->ino = m->ino;
	v->dev = makedev(m->dev_maj, m->dev_min);
	strcpy(v->path, m->path);
	if (!strcmp(m->path, "[vdso]"))
		v->kind = ORTHROS_RXV_VDSO;
	else if (!strncmp(m->path, "[vvar", 5))
		v->kind = ORTHROS_RXV_VVAR;
	else if (!m->path[0] || m->path[0] == '[' || strstr(m->path, "/dev/zero") ||
		 !strncmp(m->path, "/SYSV", 5))
		v->kind = shared ? ORTHROS_RXV_ANON_SHARED : ORTHROS_RXV_ANON_PRIVATE;
	else
		v->kind = shared ? ORTHROS_RXV_FILE_SHARED : ORTHROS_RXV_FILE_PRIVATE;
	if (v->kind <= ORTHROS_RXV_ANON_SHARED || v->kind >= ORTHROS_RXV_VDSO)
		v->path[0] = 0;
	if (v->kind == ORTHROS_RXV_ANON_SHARED)
		v->map_flags |= MAP_ANONYMOUS;
	if (v->kind == ORTHROS_RXV_ANON_PRIVATE)
		v->map_flags |= MAP_ANONYMOUS;
	if (!strcmp(m->path, "[heap]"))
		v->status |= ORTHROS_RXV_HEAP;
	if (!strcmp(m->path, "[stack]"))
		v->status |= ORTHROS_RXV_STACK;
	if (v->path[0] && !stat(v->path, &sb)) {
		v->mode = sb.st_mode;
		v->size = sb.st_size;
	}

	for (uint64_t i = 0; i < n && v->kind != ORTHROS_RXV_VVAR &&
	     v->kind != ORTHROS_RXV_FILE_SHARED; i++) {
		uint64_t addr = m->start + i * PAGE, pme;

		if (pread(pmfd, &pme, 8, addr / PAGE * 8) != 8)
			die("pagemap");
		if (!(pme >> 63 & 1) && !(pme >> 62 & 1))
			continue;		/* neither present nor swapped */
		if (v->kind == ORTHROS_RXV_FILE_PRIVATE && (pme >> 61 & 1))
			continue;		/* still the file's page, not COW'd */
		if (pread(memfd, page, PAGE, addr) != PAGE)
			continue;
		pg->page[cnt].vaddr = addr;
		pg->page[cnt].phys = stash(page, PAGE);
		cnt++;
	}
	pg->count = cnt;
	v->nr_pages = cnt;
	put(ORTHROS_RX_VMA, v, sizeof(*v));
	if (cnt)
		put(ORTHROS_RX_PAGES, pg, sizeof(*pg) + cnt * sizeof(pg->page[0]));
	free(v);
	free(pg);
}

static void fd_record(int fdn)
{
	struct orthros_rx_fd *f = calloc(1, sizeof(*f));
	char path[64], *s;
	struct stat sb;

	f->fd = fdn;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fdn);
	readlink(path, f->path, sizeof(f->path) - 1);
	if (stat(path, &sb))
		die("stat fd");
	f->ino = sb.st_ino;
	f->dev = sb.st_dev;
	f->mode = sb.st_mode;
	f->size = sb.st_size;
	f->rdev = sb.st_rdev;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fdn);
	s = slurp(path);
	f->pos = field(s, "pos:", 10);
	f->flags = field(s, "flags:", 8);
	f->cloexec = !!(f->flags & O_CLOEXEC);
	f->flags &= ~O_CLOEXEC;
	f->file_id = (uint64_t)sb.st_dev << 32 ^ sb.st_ino ^ (uint64_t)f->flags << 48;
	if (S_ISFIFO(sb.st_mode) && !strncmp(f->path, "pipe:", 5))
		f->kind = ORTHROS_RXF_PIPE;
	else if (S_ISFIFO(sb.st_mode))
		f->kind = ORTHROS_RXF_FIFO;
	else if (S_ISCHR(sb.st_mode))
		f->kind = ORTHROS_RXF_CHR;
	else if (S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode))
		f->kind = ORTHROS_RXF_REG;
	else
		f->kind = ORTHROS_RXF_OTHER;

	if (f->kind == ORTHROS_RXF_PIPE || f->kind == ORTHROS_RXF_FIFO) {
		/* tee the queued bytes out without consuming them */
		int in, p[2];
		static char data[1 << 20];
		ssize_t n = 0;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fdn);
		in = open(path, O_RDONLY | O_NONBLOCK);
		f->pipe_size = in >= 0 ? fcntl(in, F_GETPIPE_SZ) : 0;
		if (in >= 0 && !pipe(p)) {
			fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
			n = tee(in, p[1], sizeof(data), SPLICE_F_NONBLOCK);
			if (n > 0)
				n = read(p[0], data, n);
			close(p[0]);
			close(p[1]);
		}
		if (in >= 0)
			close(in);
		if (n > 0) {
			struct orthros_rx_pipebuf b = { f->ino, stash(data, n), 0, n };

			f->pipe_bytes = n;
			f->nr_bufs = 1;
			put(ORTHROS_RX_FD, f, sizeof(*f));
			put(ORTHROS_RX_PIPEBUF, &b, sizeof(b));
			free(f);
			return;
		}
	}
	put(ORTHROS_RX_FD, f, sizeof(*f));
	free(f);
}

int main(int argc, char **argv)
{
	int tids[256], nt = 0, fds[1024], nf = 0, pmfd;
	struct vma vmas[1024];
	int nv = 0;
	char path[64], line[1024];
	struct dirent *de;
	DIR *d;
	FILE *maps;

	if (argc != 4) {
		fprintf(stderr, "usage: live-records PID RECORDS DEADMEM  (development aid)\n");
		return 2;
	}
	pid = atoi(argv[1]);
	rec = fopen(argv[2], "w");
	deadfd = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (!rec || deadfd < 0)
		die("output");

	/* the leader first, then the other threads */
	tids[nt++] = pid;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != pid && nt < 256)
			tids[nt++] = atoi(de->d_name);
	closedir(d);
	for (int i = 0; i < nt; i++) {
		if (ptrace(PTRACE_ATTACH, tids[i], 0, 0))
			die("PTRACE_ATTACH");
		if (waitpid(tids[i], NULL, __WALL) < 0)
			die("waitpid");
	}

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	while (nv < 1024 && fgets(line, sizeof(line), maps)) {
		struct vma *m = &vmas[nv];
		int off = 0;

		memset(m, 0, sizeof(*m));
		sscanf(line, "%lx-%lx %4s %lx %x:%x %lu %n", &m->start, &m->end, m->perms,
		       &m->pgoff, &m->dev_maj, &m->dev_min, &m->ino, &off);
		snprintf(m->path, sizeof(m->path), "%s", line + off);
		m->path[strcspn(m->path, "\n")] = 0;
		if (strcmp(m->path, "[vsyscall]"))
			nv++;
	}
	fclose(maps);
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && nf < 1024)
			fds[nf++] = atoi(de->d_name);
	closedir(d);

	proc_record(nt, nv, nf);
	for (int i = 0; i < nt; i++)
		thread_record(tids[i]);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	memfd = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pmfd = open(path, O_RDONLY);
	if (memfd < 0 || pmfd < 0)
		die("mem/pagemap");
	for (int i = 0; i < nv; i++)
		vma_record(&vmas[i], pmfd);
	for (int i = 0; i < nf; i++)
		fd_record(fds[i]);
	put(ORTHROS_RX_END, NULL, 0);
	fclose(rec);
	for (int i = 0; i < nt; i++)
		ptrace(PTRACE_DETACH, tids[i], 0, 0);
	fprintf(stderr, "live-records: pid %d: %d threads, %d vmas, %d fds\n", pid, nt, nv, nf);
	return 0;
}
