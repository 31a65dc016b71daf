// SPDX-License-Identifier: GPL-2.0
/*
 * orthros: the user's view of this OS in the Orthros pair.
 *
 *   orthros status [--json]   role, ordinal, cores, memory and devices, as
 *                             this kernel sees them (/sys, /proc), next to
 *                             what the machine profile gives it; the peer's
 *                             liveness and the last failure detected.
 *   orthros status --log      the failed peer's last kernel log lines, as its
 *                             panic path left them in the shared memory.
 *   orthros exec, agent, msg  the channel to the other OS (peer.c).
 *   orthros shm show|corrupt  the shared memory's header and records; corrupt
 *                             one of them on purpose (tests).
 */
#include "profile.h"
#include "orthros_boot_abi.h"
#include "shmlib.h"
#include "peer.h"
#include "watchdog.h"
#include "timeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../migrate/kernel/orthros_journal_abi.h"

#define MAX_RAM 64

struct state {
	char role[16];
	unsigned int ordinal;
	struct orth_apics online;
	int nram;
	struct orth_range ram[MAX_RAM];
	unsigned long long memtotal_kb;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros status [--json]\n"
		"       orthros status --log | --losses | --svg FILE\n"
		"       orthros exec --peer [--timeout S] CMD...\n"
		"       orthros agent\n"
		"       orthros msg send|recv --port P --count N [--ready FILE] [--json]\n"
		"       orthros msg ping --count N [--json]\n"
		"       orthros shm show [--json]\n"
		"       orthros shm corrupt magic|version|checksum|roles|os:N\n"
		"       orthros failover register|migrate PATH\n"
		"       orthros failover mark begin|end NAME | done | status | next-apic\n"
		"       orthros failover memory | netunlock\n"
		"       orthros watchdog --interval MS [--misses K] [--timeout S] -- CHECK...\n"
		"\n"
		"status: this OS's role, ordinal, cores (by local APIC ID), memory and\n"
		"devices as the running kernel sees them, which devices the machine\n"
		"profile ($ORTHROS_PROFILE or " ORTH_DEFAULT_PROFILE ") gives it, the\n"
		"peer OS's liveness (heartbeat) and the last failure this OS detected.\n"
		"--log prints the log lines the failed peer left in its failure notice;\n"
		"--losses the byte ranges the last failover's migration could not\n"
		"carry, one per line: FILE START END WHY. --svg FILE draws the last\n"
		"failover's timeline as a Gantt chart (FILE -: standard output): its\n"
		"phases, the critical path to \"service back\" and the moments \"service\n"
		"back\" and \"protected again\" (a new backup watching).\n"
		"exec: run CMD with sh -c on the other OS, print its output, exit with\n"
		"its status (124: no answer in time). agent: serve exec requests.\n"
		"msg: numbered messages over the channel, checked on arrival; ping:\n"
		"round trips through the other OS's echo port (the agent's).\n"
		"shm: the shared memory; corrupt damages one part on purpose (tests).\n"
		"failover: register the file system mounted at PATH for takeover (the\n"
		"active, at boot); during a takeover, migrate the dead OS's dirty page\n"
		"cache into PATH, and mark the failover script's phases; memory: hot-add\n"
		"the general area the dead OS had (once its memory is no longer read);\n"
		"netunlock: let packets in again (held back from the failure notice on,\n"
		"so that no protected connection is answered before it is restored).\n"
		"watchdog: run CHECK every MS (killed after S seconds, default MS/1000\n"
		"+ 1); each success is a beat of this OS's user-space watchdog, and the\n"
		"peer fails this OS over when K (default 5) periods pass without one.\n"
		"Stopping the watchdog (SIGTERM, SIGINT, or its death) unregisters it.\n"
		"\n"
		"exit status: 0 ok, 1 error, 2 usage error; exec: the command's\n");
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void read_state(struct state *s)
{
	char line[256];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (read_line("/sys/kernel/orthros/role", s->role, sizeof(s->role)))
		snprintf(s->role, sizeof(s->role), "none");
	if (!read_line("/sys/kernel/orthros/ordinal", line, sizeof(line)))
		s->ordinal = (unsigned int)strtoul(line, NULL, 10);

	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		int id;

		if (sscanf(line, "apicid : %d", &id) == 1 && s->online.n < ORTH_MAX_APICS)
			s->online.id[s->online.n++] = id;
	}
	if (f)
		fclose(f);

	f = fopen("/proc/iomem", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		int off = 0;

		/* top-level entries only: no leading blanks */
		if (line[0] == ' ' || sscanf(line, "%llx-%llx : %n", &a, &b, &off) != 2 || !off)
			continue;
		if (!strncmp(line + off, "System RAM", 10) && s->nram < MAX_RAM)
			s->ram[s->nram++] = (struct orth_range){ a, b + 1 };
	}
	if (f)
		fclose(f);

	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &s->memtotal_kb) == 1)
			break;
	if (f)
		fclose(f);
}

/*
 * The other OS, as far as this one knows: its liveness from this kernel's
 * heartbeat (/dev/orthros-heartbeat), else what the loader did ("started").
 */
struct peer {
	const char *role;
	const char *state;
	unsigned int ordinal, apic;
	double since_s;
	int have_hb;
	struct orthros_hb_status hb;
};

static const char *peer_state_name(unsigned int st)
{
	static const char *const names[] = { "none", "booting", "alive", "failed", "stopped",
					     "refused" };

	return st < sizeof(names) / sizeof(names[0]) ? names[st] : "invalid";
}

static void read_peer(const struct state *s, struct peer *pr)
{
	struct orthros_boot_status bs;
	int fd;

	memset(pr, 0, sizeof(*pr));
	pr->apic = ~0U;
	pr->state = "none";
	pr->role = "none";
	fd = open(ORTHROS_HB_DEVICE, O_RDONLY);
	if (fd >= 0) {
		if (!ioctl(fd, ORTHROS_HB_STATUS, &pr->hb))
			pr->have_hb = pr->hb.enabled;
		close(fd);
	}
	if (pr->have_hb && pr->hb.peer) {
		pr->role = !strcmp(s->role, "active") ? "backup" : "active";
		pr->state = peer_state_name(pr->hb.peer_state);
		pr->ordinal = pr->hb.peer;
		pr->apic = pr->hb.peer_apic;
	} else if (!strcmp(s->role, "backup")) {
		pr->role = "active";
		pr->state = "unknown";
	}
	fd = open(ORTHROS_BOOT_DEVICE, O_RDONLY);
	if (fd < 0)
		return;
	if (!ioctl(fd, ORTHROS_BOOT_STATUS, &bs) && bs.started_apic != ~0U) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		pr->since_s = (double)now.tv_sec + now.tv_nsec / 1e9 - bs.start_ns / 1e9;
		if (!pr->have_hb || !pr->hb.peer) {
			pr->role = "backup";
			pr->state = "started";
			pr->ordinal = bs.started_ordinal;
			pr->apic = bs.started_apic;
		}
	}
	close(fd);
}

static double tsc_us(const struct orthros_hb_status *h, uint64_t tsc)
{
	return h->tsc_khz ? (double)tsc * 1000.0 / h->tsc_khz : 0;
}

static const char *failure_kind(unsigned int k)
{
	return k == ORTHROS_FAIL_PANIC ? "panic" : k == ORTHROS_FAIL_HEARTBEAT ?
		"heartbeat timeout" : k == ORTHROS_FAIL_NO_BOOT ? "no boot" :
		k == ORTHROS_FAIL_CORE_STALL ? "core stall" :
		k == ORTHROS_FAIL_WATCHDOG ? "watchdog" : "none";
}

static const char *latency_from(unsigned int k)
{
	return k == 1 ? "panic notice" : k == 2 ? "injected fault" : "last beat";
}

static void print_shm_json(void)
{
	struct shm_map m;
	char err[256];

	if (shm_map(&m, 0, err, sizeof(err))) {
		printf(",\"shm\":{\"valid\":false,\"error\":");
		orth_json_str(err);
		printf("}");
		return;
	}
	printf(",\"shm\":{\"phys\":%llu,\"size\":%llu,", (unsigned long long)m.info.phys,
	       (unsigned long long)m.info.size);
	if (shm_check(&m, err, sizeof(err))) {
		printf("\"valid\":false,\"error\":");
		orth_json_str(err);
		printf("}");
	} else {
		printf("\"valid\":true}");
	}
	shm_unmap(&m);
}

/* The OS states of the shared memory's records, by enum orthros_os_state. */
static const char *const states[] = { "none", "booting", "up", "failed", "stopped",
				       "taken-over" };

/*
 * The generations: every OS the shared memory remembers (its last
 * ORTHROS_SHM_OS_SLOTS), in order, with what became of it: the history of
 * the failovers.
 */
static void print_history(int json)
{
	struct orthros_shm_os os[ORTHROS_SHM_OS_SLOTS];
	unsigned int n = 0, done = 0;
	struct shm_map m;
	char err[256];

	if (shm_map(&m, 0, err, sizeof(err)))
		return;
	if (!shm_check(&m, err, sizeof(err))) {
		for (int i = 0; i < ORTHROS_SHM_OS_SLOTS; i++)
			if (!shm_rec_read(&os[n], (char *)m.base + ORTHROS_SHM_OS_OFF +
					  i * sizeof(os[0]), sizeof(os[0])) &&
			    os[n].ordinal && os[n].state < ORTHROS_OS_NR_STATES)
				n++;
	}
	shm_unmap(&m);
	/* by ordinal */
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && os[j - 1].ordinal > os[j].ordinal; j--) {
			struct orthros_shm_os t = os[j];

			os[j] = os[j - 1];
			os[j - 1] = t;
		}
	for (unsigned int i = 0; i < n; i++)
		done += os[i].state == ORTHROS_OS_TAKEN_OVER;
	printf(json ? ",\"history\":{\"failovers\":%u,\"os\":[" : "history:  %u failovers;", done);
	for (unsigned int i = 0; i < n; i++)
		printf(json ? "%s{\"ordinal\":%u,\"state\":\"%s\"}" : "%s OS %u %s",
		       i ? "," : "", os[i].ordinal, states[os[i].state]);
	printf(json ? "]}" : "\n");
}

/* The registry of protected processes, when the shared memory checks. */
static void print_protected(int json)
{
	struct shm_map m;
	char err[256];

	if (shm_map(&m, 0, err, sizeof(err)))
		return;
	if (shm_check(&m, err, sizeof(err))) {
		shm_unmap(&m);
		return;
	}
	if (json) {
		printf(",\"protected\":");
		shm_reg_print(stdout, &m, 1);
	} else {
		printf("protected processes:\n");
		if (!shm_reg_print(stdout, &m, 0))
			printf("  none\n");
	}
	shm_unmap(&m);
}

static void print_hb_json(const struct peer *pr)
{
	const struct orthros_hb_status *h = &pr->hb;
	const struct orthros_shm_failure *f = &h->failure;

	if (!pr->have_hb) {
		printf(",\"heartbeat\":{\"enabled\":false}");
		return;
	}
	printf(",\"heartbeat\":{\"enabled\":true,\"period_ms\":%u,\"misses\":%u,"
	       "\"beats_sent\":%llu,\"beats_seen\":%llu,\"max_gap_us\":%llu",
	       h->period_ms, h->misses, (unsigned long long)h->beats_sent,
	       (unsigned long long)h->beats_seen, (unsigned long long)h->max_gap_us);
	printf(",\"probes\":{\"sent\":%llu,\"answered\":%llu,\"irqs_off\":%llu}",
	       (unsigned long long)h->probes_sent, (unsigned long long)h->probes_answered,
	       (unsigned long long)h->probes_irqs_off);
	if (h->last_beat_tsc)
		printf(",\"last_beat_ago_ms\":%.1f",
		       (tsc_us(h, h->now_tsc) - tsc_us(h, h->last_beat_tsc)) / 1000);
	if (h->refused[0]) {
		printf(",\"refused\":");
		orth_json_str(h->refused);
	}
	printf("}");
	printf(",\"liveness\":{\"core_stall_ms\":%u,\"watchdog\":", h->core_stall_ms);
	if (h->wd_period_ms)
		printf("{\"period_ms\":%u,\"misses\":%u,\"pid\":%u,\"beats\":%llu}}",
		       h->wd_period_ms, h->wd_misses, h->wd_pid, (unsigned long long)h->wd_count);
	else
		printf("null}");
	if (!h->failure_valid)
		return;
	printf(",\"failure\":{\"ordinal\":%u,\"detected_by\":%u,\"kind\":\"%s\",\"cause\":",
	       f->ordinal, f->detected_by, failure_kind(f->kind));
	orth_json_str(f->cause);
	if (f->fault_tsc)
		printf(",\"since_fault_us\":%.0f", tsc_us(h, f->detect_tsc) - tsc_us(h, f->fault_tsc));
	printf(",\"last_beat\":%.0f,\"last_beat_count\":%llu,\"detected\":%.0f,"
	       "\"detect_latency_us\":%.0f,\"latency_from\":\"%s\"}",
	       f->last_beat_tsc ? tsc_us(h, f->last_beat_tsc) : 0.0,
	       (unsigned long long)f->last_beat_count, tsc_us(h, f->detect_tsc),
	       tsc_us(h, f->detect_tsc) - tsc_us(h, f->ref_tsc), latency_from(f->ref_kind));
}

static void print_hb_text(const struct peer *pr)
{
	const struct orthros_hb_status *h = &pr->hb;
	const struct orthros_shm_failure *f = &h->failure;

	if (!pr->have_hb) {
		printf("heartbeat: off\n");
		return;
	}
	printf("heartbeat: every %u ms, failed after %u misses; %llu beats sent, %llu seen",
	       h->period_ms, h->misses, (unsigned long long)h->beats_sent,
	       (unsigned long long)h->beats_seen);
	if (h->last_beat_tsc)
		printf(", last %.1f ms ago, longest gap %.1f ms",
		       (tsc_us(h, h->now_tsc) - tsc_us(h, h->last_beat_tsc)) / 1000,
		       h->max_gap_us / 1000.0);
	if (h->probes_sent)
		printf("; %llu NMI probes of late beats, %llu answered, %llu with interrupts off",
		       (unsigned long long)h->probes_sent, (unsigned long long)h->probes_answered,
		       (unsigned long long)h->probes_irqs_off);
	printf("\n");
	printf("liveness: ");
	if (h->core_stall_ms)
		printf("each core beats; silent %u ms fails this OS", h->core_stall_ms);
	else
		printf("cores not checked");
	if (h->wd_period_ms)
		printf("; watchdog pid %u every %u ms, %llu beats, %u missed fail this OS",
		       h->wd_pid, h->wd_period_ms, (unsigned long long)h->wd_count, h->wd_misses);
	printf("\n");
	if (h->refused[0])
		printf("refused:  %s\n", h->refused);
	if (h->failure_valid)
		printf("failure:  OS %u, %s\n          last beat #%llu at %.6f s machine time; "
		       "detected at %.6f s, %.0f us after the %s\n", f->ordinal, f->cause,
		       (unsigned long long)f->last_beat_count, tsc_us(h, f->last_beat_tsc) / 1e6,
		       tsc_us(h, f->detect_tsc) / 1e6,
		       tsc_us(h, f->detect_tsc) - tsc_us(h, f->ref_tsc), latency_from(f->ref_kind));
}

static const char *fo_state(unsigned int st)
{
	static const char *const names[] = { "none", "running", "done", "failed" };

	return st < 4 ? names[st] : "invalid";
}

static int read_failover(struct orthros_failover_status *fo)
{
	int fd = open(ORTHROS_FAILOVER_DEVICE, O_RDONLY), r;

	memset(fo, 0, sizeof(*fo));
	if (fd < 0)
		return -1;
	r = ioctl(fd, ORTHROS_FAILOVER_STATUS, fo);
	close(fd);
	return r;
}

static const char *repart_state(unsigned int st)
{
	static const char *const names[] = { "none", "done", "partial", "off", "refused" };

	return st < 5 ? names[st] : "invalid";
}

/* The memory repartition of this failover (phase "memory"), JSON. */
static void print_repart_json(const struct orthros_repart_mem *m)
{
	printf(",\"memory\":{\"state\":\"%s\",\"blocks\":%u,\"failed\":%u,\"block_size\":%llu,"
	       "\"bytes\":%llu,\"ranges\":[", repart_state(m->state), m->blocks, m->failed,
	       (unsigned long long)m->block_size, (unsigned long long)m->bytes);
	for (unsigned int i = 0; i < m->nr_ranges && i < ORTHROS_REPART_MAX_RANGES; i++)
		printf("%s{\"start\":%llu,\"end\":%llu}", i ? "," : "",
		       (unsigned long long)m->ranges[i].start, (unsigned long long)m->ranges[i].end);
	printf("],\"total_before_kb\":%llu,\"total_after_kb\":%llu,\"avail_before_kb\":%llu,"
	       "\"avail_after_kb\":%llu,\"add_us\":%llu,\"online_us\":%llu,\"held_pages\":%llu,"
	       "\"why\":",
	       (unsigned long long)m->total_before_kb, (unsigned long long)m->total_after_kb,
	       (unsigned long long)m->avail_before_kb, (unsigned long long)m->avail_after_kb,
	       (unsigned long long)m->add_us, (unsigned long long)m->online_us,
	       (unsigned long long)m->held_pages);
	orth_json_str(m->why);
	printf("}");
}

static void print_repart_text(const struct orthros_repart_mem *m)
{
	if (m->state == ORTHROS_REPART_NONE)
		return;
	if (m->state == ORTHROS_REPART_OFF) {
		printf("  memory repartition: off (orthros_repartition=off)\n");
		return;
	}
	if (m->state == ORTHROS_REPART_REFUSED) {
		printf("  memory repartition: nothing added: %s\n", m->why);
		return;
	}
	printf("  memory: hot-added %u blocks of %llu MiB", m->blocks,
	       (unsigned long long)m->block_size >> 20);
	for (unsigned int i = 0; i < m->nr_ranges && i < ORTHROS_REPART_MAX_RANGES; i++)
		printf(" %#llx-%#llx", (unsigned long long)m->ranges[i].start,
		       (unsigned long long)m->ranges[i].end);
	printf(" (%.3f ms adding, %.3f ms onlining)", m->add_us / 1000.0, m->online_us / 1000.0);
	if (m->held_pages)
		printf("; %llu pages held for the rescue", (unsigned long long)m->held_pages);
	if (m->failed)
		printf("; %u failed, last: %s", m->failed, m->why);
	printf("\n  memory: MemTotal %llu -> %llu kB, MemAvailable %llu -> %llu kB\n",
	       (unsigned long long)m->total_before_kb, (unsigned long long)m->total_after_kb,
	       (unsigned long long)m->avail_before_kb, (unsigned long long)m->avail_after_kb);
}

static void print_failover_json(void)
{
	struct orthros_failover_status fo;
	const struct orthros_migrate_stats *m = &fo.migrate;
	struct timeline t;

	if (read_failover(&fo) || fo.state == ORTHROS_FO_NONE)
		return;
	printf(",\"failover\":{\"state\":\"%s\",\"from_ordinal\":%u,\"migration\":%s",
	       fo_state(fo.state), fo.failed_ordinal, fo.migrate_off ? "false" : "true");
	timeline_build(&fo, &t);
	timeline_json(&t);
	printf(",\"migrate\":{\"inodes\":%llu,\"files\":%llu,\"created\":%llu,\"resized\":%llu,"
	       "\"pages\":%llu,\"bytes\":%llu,\"skipped\":%llu,\"first_skip\":",
	       (unsigned long long)m->inodes, (unsigned long long)m->files,
	       (unsigned long long)m->created, (unsigned long long)m->resized,
	       (unsigned long long)m->pages, (unsigned long long)m->bytes,
	       (unsigned long long)m->skipped);
	orth_json_str(m->first_skip);
	printf(",\"read_us\":%llu,\"write_us\":%llu,\"sync_us\":%llu,\"committed\":%llu,\"times_kept\":%llu",
	       (unsigned long long)m->read_us, (unsigned long long)m->write_us,
	       (unsigned long long)m->sync_us, (unsigned long long)m->committed,
	       (unsigned long long)m->times_kept);
	printf(",\"journal\":{\"read\":%s,\"off\":%s,\"transactions\":%u,\"blocks\":%u,\"revokes\":%u,"
	       "\"dropped_tid\":%u,\"dropped_blocks\":%u,\"open_handles\":%u,"
	       "\"undone_handles\":%u,\"undone_blocks\":%u,\"merged_blocks\":%u,\"why\":",
	       fo.journal.read ? "true" : "false", fo.journal.flags & ORTHROS_JOURNAL_OFF ? "true" : "false",
	       fo.journal.nr_txn, fo.journal.blocks, fo.journal.revokes, fo.journal.dropped_tid,
	       fo.journal.dropped_blocks, fo.journal.open_handles, fo.journal.undone_handles,
	       fo.journal.undone_blocks, fo.journal.merged_blocks);
	orth_json_str(fo.journal.why);
	printf("}");
	printf(",\"memmap\":%s,\"memmap_scanned\":%llu,\"memmap_us\":%llu,\"tree_pages\":%llu,"
	       "\"memmap_pages\":%llu,\"disagreements\":%llu,\"first_disagreement\":",
	       m->memmap_off ? "false" : "true", (unsigned long long)m->memmap_scanned,
	       (unsigned long long)m->memmap_us, (unsigned long long)m->tree_pages,
	       (unsigned long long)m->memmap_pages, (unsigned long long)m->disagreements);
	orth_json_str(m->first_disagreement);
	printf(",\"lost_bytes\":%llu,\"nr_losses\":%u,\"losses\":[",
	       (unsigned long long)m->lost_bytes, m->nr_losses);
	for (unsigned int i = 0; i < m->nr_losses && i < ORTHROS_MIGRATE_MAX_LOSSES; i++) {
		printf("%s{\"file\":", i ? "," : "");
		orth_json_str(m->losses[i].file);
		printf(",\"start\":%llu,\"end\":%llu,\"why\":", (unsigned long long)m->losses[i].start,
		       (unsigned long long)m->losses[i].end);
		orth_json_str(m->losses[i].why);
		printf("}");
	}
	printf("]");
	printf("},\"rescue\":%s,\"processes\":[", fo.rescue_off ? "false" : "true");
	for (unsigned int i = 0; i < fo.nr_rescued && i < ORTHROS_MAX_RESCUED; i++) {
		const struct orthros_rescued *r = &fo.rescued[i];

		printf("%s{\"pid\":%u,\"outcome\":\"%s\",\"procs\":%u,\"threads\":%u,"
		       "\"extract_us\":%llu,\"images_us\":%llu,\"restore_us\":%llu,"
		       "\"running_us\":%llu,\"bytes\":%llu,\"why\":",
		       i ? "," : "", r->pid,
		       r->outcome == ORTHROS_RESCUE_RESTORED ? "restored" : "skipped",
		       r->nr_procs, r->nr_threads, (unsigned long long)r->extract_us,
		       (unsigned long long)r->images_us, (unsigned long long)r->restore_us,
		       (unsigned long long)r->running_us, (unsigned long long)r->bytes);
		orth_json_str(r->why);
		printf("}");
	}
	printf("]");
	print_repart_json(&fo.mem);
	printf(",\"netlock\":{\"engaged\":%s,\"held\":%llu,\"delivered\":%llu,\"dropped\":%llu,"
	       "\"released_us\":%llu}", fo.netlock ? "true" : "false",
	       (unsigned long long)fo.netlock_held, (unsigned long long)fo.netlock_delivered,
	       (unsigned long long)fo.netlock_dropped, (unsigned long long)fo.netlock_us);
	printf(",\"error\":");
	orth_json_str(fo.error);
	printf("}");
}

/*
 * The last failover's named losses, one per line: FILE START END WHY (what
 * `orthros-writer verify --named` reads).  Exit 1 if more were named than
 * the status keeps: a verify cannot tell those from silent ones.
 */
static int print_losses(void)
{
	struct orthros_failover_status fo;
	const struct orthros_migrate_stats *m = &fo.migrate;

	if (read_failover(&fo))
		return 1;
	if (fo.state == ORTHROS_FO_NONE)
		return 0;
	for (unsigned int i = 0; i < m->nr_losses && i < ORTHROS_MIGRATE_MAX_LOSSES; i++)
		printf("%s %llu %llu %s\n", m->losses[i].file,
		       (unsigned long long)m->losses[i].start,
		       (unsigned long long)m->losses[i].end, m->losses[i].why);
	if (m->nr_losses > ORTHROS_MIGRATE_MAX_LOSSES) {
		fprintf(stderr, "orthros: %u losses named, %u kept\n", m->nr_losses,
			ORTHROS_MIGRATE_MAX_LOSSES);
		return 1;
	}
	return 0;
}

/* orthros status --svg FILE: the last failover's timeline as a Gantt chart */
static int print_svg(const char *path)
{
	struct orthros_failover_status fo;
	struct timeline t;

	if (read_failover(&fo) || fo.state == ORTHROS_FO_NONE) {
		fprintf(stderr, "orthros status --svg: no failover took place here\n");
		return 1;
	}
	timeline_build(&fo, &t);
	return timeline_svg(&t, fo.failed_ordinal, path);
}

static void print_failover_text(void)
{
	struct orthros_failover_status fo;
	struct timeline t;

	if (read_failover(&fo) || fo.state == ORTHROS_FO_NONE)
		return;
	printf("failover: %s, from OS %u%s%s\n", fo_state(fo.state), fo.failed_ordinal,
	       fo.error[0] ? ": " : "", fo.error);
	timeline_build(&fo, &t);
	timeline_text(&t);
	if (fo.migrate.inodes || fo.migrate.skipped)
		printf("  migrated: %llu files (%llu created, %llu resized), %llu pages, %llu bytes; %llu committed, left alone; %llu skipped%s%s\n",
		       (unsigned long long)fo.migrate.files, (unsigned long long)fo.migrate.created,
		       (unsigned long long)fo.migrate.resized, (unsigned long long)fo.migrate.pages,
		       (unsigned long long)fo.migrate.bytes, (unsigned long long)fo.migrate.committed,
		       (unsigned long long)fo.migrate.skipped,
		       fo.migrate.skipped ? ", first: " : "", fo.migrate.first_skip);
	if (fo.journal.read) {
		printf("  journal: %s%u transactions, %u blocks, %u revokes handed to orthros-journal%s%s\n",
		       fo.journal.flags & ORTHROS_JOURNAL_OFF ? "off (orthros_migrate=no-journal): " : "",
		       fo.journal.nr_txn, fo.journal.blocks, fo.journal.revokes,
		       fo.journal.why[0] ? "; left out: " : "", fo.journal.why);
		if (fo.journal.undone_handles)
			printf("  journal: %u handles open at the death taken back out, %u blocks put back as they were before them, %u of them with the changes of handles that finished since\n",
			       fo.journal.undone_handles, fo.journal.undone_blocks,
			       fo.journal.merged_blocks);
	}
	if (fo.migrate.inodes)
		printf("  witnesses: %s; %llu pages named by the trees, %llu by the memmap; %llu disagreements%s%s\n",
		       fo.migrate.memmap_off ? "the page-cache trees alone (orthros_migrate=tree-only)" :
		       "the page-cache trees and the memmap",
		       (unsigned long long)fo.migrate.tree_pages,
		       (unsigned long long)fo.migrate.memmap_pages,
		       (unsigned long long)fo.migrate.disagreements,
		       fo.migrate.disagreements ? ", first: " : "", fo.migrate.first_disagreement);
	for (unsigned int i = 0; i < fo.migrate.nr_losses && i < ORTHROS_MIGRATE_MAX_LOSSES; i++)
		printf("  lost: %s bytes %llu-%llu: %s\n", fo.migrate.losses[i].file,
		       (unsigned long long)fo.migrate.losses[i].start,
		       (unsigned long long)fo.migrate.losses[i].end, fo.migrate.losses[i].why);
	if (fo.migrate.nr_losses > ORTHROS_MIGRATE_MAX_LOSSES)
		printf("  lost: %u more ranges (%llu bytes in all)\n",
		       fo.migrate.nr_losses - ORTHROS_MIGRATE_MAX_LOSSES,
		       (unsigned long long)fo.migrate.lost_bytes);
	if (fo.migrate.files)
		printf("  migration time: %.3f ms copying from the dead memory, %.3f ms writing, %.3f ms in fsync\n",
		       fo.migrate.read_us / 1000.0, fo.migrate.write_us / 1000.0,
		       fo.migrate.sync_us / 1000.0);
	if (fo.rescue_off)
		printf("  process rescue: off (orthros_rescue=off)\n");
	for (unsigned int i = 0; i < fo.nr_rescued && i < ORTHROS_MAX_RESCUED; i++) {
		const struct orthros_rescued *r = &fo.rescued[i];

		printf("  process %u: %s", r->pid,
		       r->outcome == ORTHROS_RESCUE_RESTORED ? "restored" : "skipped");
		if (r->outcome == ORTHROS_RESCUE_RESTORED)
			printf(" (%u processes, %u threads, %llu bytes), running at %.3f ms; extract %.3f ms, images %.3f ms, criu restore %.3f ms",
			       r->nr_procs, r->nr_threads, (unsigned long long)r->bytes,
			       r->running_us / 1000.0, r->extract_us / 1000.0, r->images_us / 1000.0,
			       r->restore_us / 1000.0);
		printf("%s%s\n", r->why[0] ? ": " : "", r->why);
	}
	print_repart_text(&fo.mem);
	if (fo.netlock)
		printf("  network: inbound packets held until the processes are restored (%llu so far, %llu dropped)\n",
		       (unsigned long long)fo.netlock_held, (unsigned long long)fo.netlock_dropped);
	else if (fo.netlock_held || fo.netlock_dropped)
		printf("  network: %llu inbound packets held during the restore, %llu of them delivered at %.1f ms; %llu dropped\n",
		       (unsigned long long)fo.netlock_held, (unsigned long long)fo.netlock_delivered,
		       fo.netlock_us / 1000.0, (unsigned long long)fo.netlock_dropped);
}

/*
 * orthros failover next-apic: the core for the next backup, once this OS
 * took over: the highest APIC ID of the dead OS that is not the machine's
 * BSP (a STARTUP IPI cannot start it) and not online here.
 */
static int next_apic(void)
{
	struct orthros_failover_status fo;
	struct orthros_shm_os os;
	struct shm_map m;
	char err[256], line[256];
	int best = -1, id;

	if (read_failover(&fo) || fo.state == ORTHROS_FO_NONE || !fo.failed_ordinal) {
		fprintf(stderr, "orthros failover next-apic: this OS took over from none\n");
		return 1;
	}
	if (shm_map(&m, 0, err, sizeof(err))) {
		fprintf(stderr, "orthros failover next-apic: %s\n", err);
		return 1;
	}
	if (shm_rec_read(&os, (char *)m.base + ORTHROS_SHM_OS_OFF +
			 (fo.failed_ordinal % ORTHROS_SHM_OS_SLOTS) * sizeof(os), sizeof(os)) ||
	    os.ordinal != fo.failed_ordinal || os.nr_apics > ORTHROS_SHM_MAX_APICS) {
		fprintf(stderr, "orthros failover next-apic: OS %u's record does not check\n",
			fo.failed_ordinal);
		shm_unmap(&m);
		return 1;
	}
	shm_unmap(&m);
	for (unsigned int i = 0; i < os.nr_apics; i++) {
		int online = 0;
		FILE *f = fopen("/proc/cpuinfo", "r");

		while (f && fgets(line, sizeof(line), f))
			online |= sscanf(line, "apicid : %d", &id) == 1 && id == (int)os.apic_ids[i];
		if (f)
			fclose(f);
		if (os.apic_ids[i] != os.bsp_apic && !online && (int)os.apic_ids[i] > best)
			best = (int)os.apic_ids[i];
	}
	if (best < 0) {
		fprintf(stderr, "orthros failover next-apic: OS %u left no core a backup can start on\n",
			fo.failed_ordinal);
		return 1;
	}
	printf("%d\n", best);
	return 0;
}

/* orthros failover mark begin|end NAME | done | migrate PATH | register PATH | memory |
 * netunlock | next-apic */
static int failover_cmd(int argc, char **argv)
{
	struct orthros_failover_mark mk = { 0 };
	struct orthros_migrate_req rq = { 0 };
	unsigned long cmd;
	void *arg;
	int fd, r;

	if (argc == 3 && !strcmp(argv[0], "mark") &&
	    (!strcmp(argv[1], "begin") || !strcmp(argv[1], "end"))) {
		snprintf(mk.name, sizeof(mk.name), "%s", argv[2]);
		mk.end = !strcmp(argv[1], "end");
		cmd = ORTHROS_FAILOVER_MARK;
		arg = &mk;
	} else if (argc == 1 && !strcmp(argv[0], "done")) {
		mk.end = 2;
		cmd = ORTHROS_FAILOVER_MARK;
		arg = &mk;
	} else if (argc == 2 && (!strcmp(argv[0], "migrate") || !strcmp(argv[0], "register"))) {
		if (snprintf(rq.path, sizeof(rq.path), "%s", argv[1]) >= (int)sizeof(rq.path)) {
			fprintf(stderr, "orthros failover: path too long\n");
			return 2;
		}
		cmd = !strcmp(argv[0], "migrate") ? ORTHROS_FAILOVER_MIGRATE : ORTHROS_MIGRATE_REGISTER;
		arg = &rq;
	} else if (argc == 1 && !strcmp(argv[0], "memory")) {
		cmd = ORTHROS_FAILOVER_MEMORY;
		arg = NULL;
	} else if (argc == 1 && !strcmp(argv[0], "netunlock")) {
		cmd = ORTHROS_FAILOVER_NETUNLOCK;
		arg = NULL;
	} else if (argc == 1 && !strcmp(argv[0], "status")) {
		print_failover_text();
		return 0;
	} else if (argc == 1 && !strcmp(argv[0], "next-apic")) {
		return next_apic();
	} else {
		return 2;
	}
	fd = open(ORTHROS_FAILOVER_DEVICE, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "orthros failover: %s: %s\n", ORTHROS_FAILOVER_DEVICE, strerror(errno));
		return 1;
	}
	r = ioctl(fd, cmd, arg);
	if (r && cmd == ORTHROS_FAILOVER_MEMORY && errno != ESRCH && errno != EPERM) {
		struct orthros_failover_status fo;
		int e = errno;

		close(fd);
		read_failover(&fo);
		fprintf(stderr, "orthros failover memory: %s\n",
			fo.mem.why[0] ? fo.mem.why : strerror(e));
		return 1;
	}
	if (r) {
		int e = errno;

		fprintf(stderr, "orthros failover %s: %s\n", argv[0],
			e == ESRCH ? "no failover is running" :
			e == EPROTO ? "the dead OS runs another kernel build" :
			e == EXDEV ? "not the dead OS's file system" :
			e == EINVAL ? "not a mount point" : strerror(e));
		close(fd);
		return 1;
	}
	close(fd);
	if (cmd == ORTHROS_FAILOVER_MIGRATE || cmd == ORTHROS_FAILOVER_MEMORY)
		print_failover_text();
	return 0;
}

/* The failure notice's log tail, as the dying kernel left it. */
static int print_notice_log(void)
{
	static struct orthros_shm_notice n;
	struct shm_map m;
	char err[256];

	if (shm_map(&m, 0, err, sizeof(err))) {
		fprintf(stderr, "orthros: %s\n", err);
		return 1;
	}
	if (shm_check(&m, err, sizeof(err))) {
		fprintf(stderr, "orthros: the shared memory is not valid: %s\n", err);
		return 1;
	}
	if (shm_rec_read(&n, (char *)m.base + ORTHROS_SHM_NOTICE_OFF, sizeof(n)) || !n.ordinal) {
		fprintf(stderr, "orthros: no failure notice in the shared memory\n");
		return 1;
	}
	n.cause[sizeof(n.cause) - 1] = '\0';
	n.log[sizeof(n.log) - 1] = '\0';
	printf("failure notice of OS %u at %.6f s machine time: %s\n", n.ordinal,
	       shm_tsc_us(&m, n.tsc) / 1e6, n.cause);
	fputs(n.log, stdout);
	shm_unmap(&m);
	return 0;
}

/* The driver bound to a PCI function here, or "" when none or not present. */
static const char *pci_driver(const char *pci, char *buf, size_t len, int *present)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/0000:%s", pci);
	*present = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/0000:%s/driver", pci);
	n = readlink(path, target, sizeof(target) - 1);
	buf[0] = '\0';
	if (n > 0) {
		target[n] = '\0';
		snprintf(buf, len, "%.63s", strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
	}
	return buf;
}

/* Does the OS of this ordinal and role own a device with this owner? */
static int owns(const char *owner, const char *role, unsigned int ordinal)
{
	if (!strcmp(owner, "active"))
		return !strcmp(role, "active");
	return !strcmp(owner, orth_area_name(orth_area_of(ordinal)));
}

/*
 * What the failover did with the dead OS's cores (failover/kernel/cores.c):
 * APIC IDs brought online, the one kept for the next backup, refusals.
 */
#define CORES_PARAMS "/sys/module/orthros_cores/parameters/"

static void print_cores(int json)
{
	char added[128] = "", refused[256] = "", kept[16] = "-1", possible[64] = "";

	read_line(CORES_PARAMS "added", added, sizeof(added));
	read_line(CORES_PARAMS "refused", refused, sizeof(refused));
	read_line(CORES_PARAMS "kept", kept, sizeof(kept));
	read_line("/sys/devices/system/cpu/possible", possible, sizeof(possible));
	if (json) {
		char *tok, *save;
		int n = 0;

		printf(",\"cores\":{\"possible_cpus\":");
		orth_json_str(possible);
		printf(",\"added\":[");
		for (tok = strtok_r(added, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			printf("%s%d", n++ ? "," : "", atoi(tok));
		printf("],\"kept\":%d,\"refused\":[", atoi(kept));
		n = 0;
		for (tok = strtok_r(refused, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
			printf("%s", n++ ? "," : "");
			orth_json_str(tok);
		}
		printf("]}");
		return;
	}
	if (*added || atoi(kept) >= 0 || *refused)
		printf("          at failover: added APIC %s; APIC %s kept for the next backup%s%s\n",
		       *added ? added : "none", kept, *refused ? "; refused " : "", refused);
}

static int status(const struct orth_profile *p, int json)
{
	struct state s;
	struct peer pr;
	const char *area;
	char drv[64];
	int present;

	read_state(&s);
	read_peer(&s, &pr);
	area = s.ordinal ? orth_area_name(orth_area_of(s.ordinal)) : "none";
	if (json) {
		printf("{\"role\":\"%s\",\"ordinal\":%u,\"area\":\"%s\",\"apic_ids\":[",
		       s.role, s.ordinal, area);
		for (int i = 0; i < s.online.n; i++)
			printf("%s%d", i ? "," : "", s.online.id[i]);
		printf("]");
		print_cores(1);
		printf(",\"memory\":{\"total_kb\":%llu,\"ram\":[", s.memtotal_kb);
		for (int i = 0; i < s.nram; i++)
			printf("%s{\"start\":%llu,\"end\":%llu}", i ? "," : "",
			       (unsigned long long)s.ram[i].start, (unsigned long long)s.ram[i].end);
		printf("]},\"devices\":[");
		for (int i = 0; i < p->ndevices; i++) {
			const struct orth_device *d = &p->dev[i];

			pci_driver(d->pci, drv, sizeof(drv), &present);
			printf("%s{\"name\":\"%s\",\"pci\":\"%s\",\"owner\":\"%s\",\"mine\":%s,"
			       "\"present\":%s,\"driver\":\"%s\"}", i ? "," : "", d->name, d->pci,
			       d->owner, owns(d->owner, s.role, s.ordinal) ? "true" : "false",
			       present ? "true" : "false", drv);
		}
		printf("],\"peer\":{\"role\":\"%s\",\"state\":\"%s\"", pr.role, pr.state);
		if (pr.apic != ~0U)
			printf(",\"ordinal\":%u,\"apic_id\":%u", pr.ordinal, pr.apic);
		if (pr.since_s > 0)
			printf(",\"since_s\":%.1f", pr.since_s);
		printf("}");
		print_hb_json(&pr);
		print_failover_json();
		print_shm_json();
		print_history(1);
		print_protected(1);
		printf("}\n");
		return 0;
	}
	printf("role:     %s\nordinal:  %u (area %s)\ncores:    APIC",
	       s.role, s.ordinal, area);
	for (int i = 0; i < s.online.n; i++)
		printf(" %d", s.online.id[i]);
	printf("\n");
	print_cores(0);
	printf("memory:   %llu MiB in", s.memtotal_kb / 1024);
	for (int i = 0; i < s.nram; i++)
		printf(" %#llx-%#llx", (unsigned long long)s.ram[i].start,
		       (unsigned long long)s.ram[i].end);
	printf("\ndevices:\n");
	for (int i = 0; i < p->ndevices; i++) {
		const struct orth_device *d = &p->dev[i];

		pci_driver(d->pci, drv, sizeof(drv), &present);
		printf("  %-8s %s  owner %-8s %-4s %s\n", d->name, d->pci, d->owner,
		       owns(d->owner, s.role, s.ordinal) ? "mine" : "",
		       !present ? "(not seen here)" : *drv ? drv : "(no driver)");
	}
	printf("peer:     %s, %s", pr.role, pr.state);
	if (pr.apic != ~0U)
		printf(" (OS %u on APIC %u)", pr.ordinal, pr.apic);
	printf("\n");
	print_hb_text(&pr);
	print_failover_text();
	print_history(0);
	print_protected(0);
	return 0;
}

static int shm_show(int json)
{
	struct orthros_shm_roles roles;
	struct shm_map m;
	char err[256];
	int valid, first = 1;

	if (shm_map(&m, 0, err, sizeof(err))) {
		fprintf(stderr, "orthros: %s\n", err);
		return 1;
	}
	valid = !shm_check(&m, err, sizeof(err));
	if (json) {
		printf("{\"phys\":%llu,\"size\":%llu,\"valid\":%s", (unsigned long long)m.info.phys,
		       (unsigned long long)m.info.size, valid ? "true" : "false");
		if (!valid) {
			printf(",\"error\":");
			orth_json_str(err);
		}
	} else {
		printf("shared memory %#llx-%#llx: %s%s\n", (unsigned long long)m.info.phys,
		       (unsigned long long)(m.info.phys + m.info.size), valid ? "valid" : "NOT valid: ",
		       valid ? "" : err);
	}
	if (valid && !shm_rec_read(&roles, (char *)m.base + ORTHROS_SHM_ROLES_OFF, sizeof(roles))) {
		if (json)
			printf(",\"roles\":{\"active\":%u,\"backup\":%u,\"generation\":%u}",
			       roles.active, roles.backup, roles.generation);
		else
			printf("roles: active OS %u, backup OS %u (generation %u)\n", roles.active,
			       roles.backup, roles.generation);
	}
	if (json)
		printf(",\"os\":[");
	for (int i = 0; valid && i < ORTHROS_SHM_OS_SLOTS; i++) {
		struct orthros_shm_os os;
		const struct orthros_shm_beat *b = (const void *)((char *)m.base +
			ORTHROS_SHM_BEAT_OFF + i * sizeof(*b));
		const void *rec = (char *)m.base + ORTHROS_SHM_OS_OFF + i * sizeof(os);
		int ok = !shm_rec_read(&os, rec, sizeof(os));

		if (!*(const uint32_t *)rec || (ok && !os.ordinal))
			continue;	/* never written: a free slot */
		if (json) {
			printf("%s{\"slot\":%d,\"valid\":%s", first ? "" : ",", i, ok ? "true" : "false");
			if (ok)
				printf(",\"ordinal\":%u,\"state\":\"%s\",\"ipi_apic\":%u,\"beats\":%llu",
				       os.ordinal, os.state < 6 ? states[os.state] : "invalid",
				       os.ipi_apic, (unsigned long long)b->count);
			if (ok) {
				printf(",\"ranges\":[");
				for (unsigned int r = 0; r < os.nr_ranges && r < ORTHROS_SHM_MAX_RANGES; r++)
					printf("%s{\"start\":%llu,\"end\":%llu}", r ? "," : "",
					       (unsigned long long)os.ranges[r].start,
					       (unsigned long long)os.ranges[r].end);
				printf("]");
			}
			printf("}");
		} else if (ok) {
			printf("OS %u: %s, IPIs to APIC %u, %llu beats; RAM", os.ordinal,
			       os.state < 6 ? states[os.state] : "invalid", os.ipi_apic,
			       (unsigned long long)b->count);
			for (unsigned int r = 0; r < os.nr_ranges && r < ORTHROS_SHM_MAX_RANGES; r++)
				printf(" %#llx-%#llx", (unsigned long long)os.ranges[r].start,
				       (unsigned long long)os.ranges[r].end);
			printf("\n");
		} else {
			printf("slot %d: record does not check\n", i);
		}
		first = 0;
	}
	if (json) {
		printf("],\"rings\":[");
		for (int i = 0; i < 2; i++) {
			const struct orthros_shm_ring *r = (const void *)((char *)m.base +
				(i ? ORTHROS_SHM_RING1_OFF : ORTHROS_SHM_RING0_OFF));

			printf("%s{\"head\":%llu,\"tail\":%llu,\"doorbells\":%llu}", i ? "," : "",
			       (unsigned long long)r->head, (unsigned long long)r->tail,
			       (unsigned long long)r->doorbells);
		}
		printf("]}\n");
	}
	shm_unmap(&m);
	return 0;
}

/* Damage one part of the shared memory on purpose, for the tests. */
static int shm_corrupt(const char *what)
{
	struct orthros_shm_header *h;
	struct shm_map m;
	char err[256];
	unsigned int n;

	if (shm_map(&m, 1, err, sizeof(err))) {
		fprintf(stderr, "orthros: %s\n", err);
		return 1;
	}
	h = m.base;
	if (!strcmp(what, "magic")) {
		h->magic ^= 0xff;
	} else if (!strcmp(what, "version")) {
		h->version = 99;
		h->checksum = shm_crc32(h, sizeof(*h) - 4);
	} else if (!strcmp(what, "checksum")) {
		h->created_tsc ^= 1;
	} else if (!strcmp(what, "roles")) {
		((struct orthros_shm_roles *)((char *)m.base + ORTHROS_SHM_ROLES_OFF))->active ^= 0x40;
	} else if (sscanf(what, "os:%u", &n) == 1 && n) {
		((struct orthros_shm_os *)((char *)m.base + ORTHROS_SHM_OS_OFF) +
		 n % ORTHROS_SHM_OS_SLOTS)->boot_tsc ^= 1;
	} else {
		fprintf(stderr, "orthros shm corrupt: magic, version, checksum, roles or os:N\n");
		shm_unmap(&m);
		return 2;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	printf("corrupted the shared memory's %s\n", what);
	shm_unmap(&m);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("ORTHROS_PROFILE");
	static struct orth_profile p;
	char err[512];
	int json = 0, log = 0, r;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "exec")) {
		r = peer_exec(argc - 2, argv + 2);
		if (r == 2 && argc < 3)
			usage(stderr);
		return r;
	}
	if (argc >= 3 && !strcmp(argv[1], "failover")) {
		r = failover_cmd(argc - 2, argv + 2);
		if (r == 2)
			usage(stderr);
		return r;
	}
	if (argc == 2 && !strcmp(argv[1], "agent"))
		return peer_agent();
	if (argc >= 2 && !strcmp(argv[1], "watchdog")) {
		r = watchdog_cmd(argc - 2, argv + 2);
		if (r == 2)
			usage(stderr);
		return r;
	}
	if (argc >= 2 && !strcmp(argv[1], "msg")) {
		r = peer_msg(argc - 2, argv + 2);
		if (r == 2)
			usage(stderr);
		return r;
	}
	if (argc >= 3 && !strcmp(argv[1], "shm")) {
		if (!strcmp(argv[2], "show") && argc <= 4)
			return shm_show(argc == 4 && !strcmp(argv[3], "--json"));
		if (!strcmp(argv[2], "corrupt") && argc == 4)
			return shm_corrupt(argv[3]);
		usage(stderr);
		return 2;
	}
	if (argc < 2 || strcmp(argv[1], "status")) {
		usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else if (!strcmp(argv[i], "--log")) {
			log = 1;
		} else if (!strcmp(argv[i], "--losses")) {
			return print_losses();
		} else if (!strcmp(argv[i], "--svg") && i + 1 < argc) {
			return print_svg(argv[i + 1]);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (log)
		return print_notice_log();
	if (!path || !*path)
		path = ORTH_DEFAULT_PROFILE;
	if (orth_profile_load(path, &p, err, sizeof(err))) {
		fprintf(stderr, "orthros: %s\n", err);
		return 1;
	}
	return status(&p, json);
}
