// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-boot: start a later OS beside the running one (see bootloader/README.md).
 */
#include "profile.h"
#include "orthros_boot_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros-boot [options]\n"
		"\n"
		"Load a kernel, an initramfs and a command line into a backup area of the\n"
		"machine profile and start them on an AP named by local APIC ID, beside\n"
		"the running OS.  The loaded image stays in the running kernel, so a later\n"
		"start (--start-only) reads no file and makes one system call.\n"
		"\n"
		"  --ordinal N     the OS to start (default 2); its area follows: even N in\n"
		"                  backup_a, odd N in backup_b\n"
		"  --apic ID       the core, by local APIC ID (default: the profile's backup_apics)\n"
		"  --kernel FILE   bzImage (default /boot/bzImage)\n"
		"  --initrd FILE   initramfs (default /boot/initramfs.cpio.gz)\n"
		"  --append STR    added to the command line the profile gives that OS\n"
		"  --load-only     keep the image in the kernel, start nothing\n"
		"  --start-only    start the image kept by an earlier load\n"
		"  --adopt N       load no file: take the image OS N kept (the OS this one took\n"
		"                  over: it started this OS from it), with the command line of\n"
		"                  --ordinal; must run before N's memory is given to this OS,\n"
		"                  or after it if --hold ran before\n"
		"  --hold          with --adopt N: only find the pages of N's kept image and\n"
		"                  hold them when N's memory is given to this OS, for a later\n"
		"                  --adopt N (which frees them, taken or not)\n"
		"  --unhold        give back what --hold kept, if no --adopt will take it\n"
		"  --replace       start even if an OS was started in that area (it is stopped)\n"
		"  --profile FILE  the machine profile (default $ORTHROS_PROFILE or "
		ORTH_DEFAULT_PROFILE ")\n"
		"\n"
		"exit status: 0 started (or loaded), 1 refused or failed, 2 usage error\n");
}

static void *read_file(const char *path, size_t *size)
{
	struct stat st;
	void *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "orthros-boot: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf || read(fd, buf, st.st_size) != st.st_size) {
		fprintf(stderr, "orthros-boot: %s: cannot read\n", path);
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*size = st.st_size;
	return buf;
}

/* Refuse, with a clear word, a core that cannot carry a new OS. */
static int check_apic(const struct orth_profile *p, unsigned int apic)
{
	char line[256];
	int known = 0, id;
	FILE *f;

	if ((int)apic == p->bsp_apic) {
		fprintf(stderr, "orthros-boot: APIC %u is the BSP: a STARTUP IPI cannot start it\n", apic);
		return -1;
	}
	for (int i = 0; i < p->apics.n; i++)
		known |= p->apics.id[i] == (int)apic;
	if (!known) {
		fprintf(stderr, "orthros-boot: no core with APIC ID %u on this machine (%s)\n",
			apic, orth_get(p, "apic_ids"));
		return -1;
	}
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "apicid : %d", &id) == 1 && id == (int)apic) {
			fclose(f);
			fprintf(stderr, "orthros-boot: APIC %u is an online core of the running OS, "
				"which it cannot give up\n", apic);
			return -1;
		}
	}
	if (f)
		fclose(f);
	return 0;
}

static int parse_uint(const char *s, unsigned int *v)
{
	char *end;
	unsigned long x = strtoul(s, &end, 0);

	if (end == s || *end || x > 0xffff)
		return -1;
	*v = (unsigned int)x;
	return 0;
}

int main(int argc, char **argv)
{
	const char *profile_path = getenv("ORTHROS_PROFILE");
	const char *kernel = "/boot/bzImage", *initrd = "/boot/initramfs.cpio.gz";
	const char *append = "";
	static struct orth_profile p;
	struct orthros_boot_start st = { 0 };
	struct orthros_boot_load ld = { 0 };
	unsigned int ordinal = 2, apic = ~0U, adopt = 0;
	int load = 1, start = 1, replace = 0, hold = 0, unhold = 0, fd, i;
	char err[512], cmdline[ORTHROS_BOOT_MAX_CMDLINE];
	enum orth_area_id area;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--load-only")) {
			start = 0;
		} else if (!strcmp(a, "--start-only")) {
			load = 0;
		} else if (!strcmp(a, "--replace")) {
			replace = 1;
		} else if (!strcmp(a, "--hold")) {
			hold = 1;
		} else if (!strcmp(a, "--unhold")) {
			unhold = 1;
		} else if (v && !strcmp(a, "--ordinal")) {
			if (parse_uint(v, &ordinal) || ordinal < 2)
				return fprintf(stderr, "orthros-boot: bad ordinal '%s' (want 2 or more)\n", v), 2;
			i++;
		} else if (v && !strcmp(a, "--adopt")) {
			if (parse_uint(v, &adopt) || !adopt)
				return fprintf(stderr, "orthros-boot: bad ordinal '%s' to adopt\n", v), 2;
			i++;
		} else if (v && !strcmp(a, "--apic")) {
			if (parse_uint(v, &apic) || apic > 255)
				return fprintf(stderr, "orthros-boot: bad APIC ID '%s'\n", v), 2;
			i++;
		} else if (v && !strcmp(a, "--kernel")) {
			kernel = argv[++i];
		} else if (v && !strcmp(a, "--initrd")) {
			initrd = argv[++i];
		} else if (v && !strcmp(a, "--append")) {
			append = argv[++i];
		} else if (v && !strcmp(a, "--profile")) {
			profile_path = argv[++i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if ((!load && !start) || (hold && !adopt) || (unhold && (hold || adopt))) {
		usage(stderr);
		return 2;
	}
	if (!profile_path || !*profile_path)
		profile_path = ORTH_DEFAULT_PROFILE;
	if (orth_profile_load(profile_path, &p, err, sizeof(err))) {
		fprintf(stderr, "orthros-boot: %s\n", err);
		return 1;
	}

	fd = open(ORTHROS_BOOT_DEVICE, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "orthros-boot: %s: %s (is this an Orthros kernel?)\n",
			ORTHROS_BOOT_DEVICE, strerror(errno));
		return 1;
	}
	if (unhold) {
		struct orthros_boot_adopt ad = { .flags = ORTHROS_BOOT_ADOPT_UNHOLD };

		if (ioctl(fd, ORTHROS_BOOT_ADOPT, &ad)) {
			fprintf(stderr, "orthros-boot: giving back the held image refused: %s\n",
				strerror(errno));
			return 1;
		}
		return 0;
	}

	if (load) {
		size_t ksize = 0, isize = 0;
		void *k, *ird;

		if (orth_cmdline(&p, ordinal, cmdline, sizeof(cmdline), err, sizeof(err))) {
			fprintf(stderr, "orthros-boot: %s\n", err);
			return 1;
		}
		if (*append && strlen(cmdline) + strlen(append) + 2 < sizeof(cmdline)) {
			strcat(cmdline, " ");
			strcat(cmdline, append);
		}
		if (adopt) {
			struct orthros_boot_adopt ad = { .from = adopt, .cmdline = (uintptr_t)cmdline,
							 .flags = hold ? ORTHROS_BOOT_ADOPT_HOLD : 0 };

			if (ioctl(fd, ORTHROS_BOOT_ADOPT, &ad)) {
				int e = errno;

				fprintf(stderr, "orthros-boot: %s OS %u's kept image refused: %s%s\n",
					hold ? "holding" : "taking", adopt, strerror(e),
					e == ENOENT ? " (it kept none, or left no facts)" :
					e == EBADMSG ? " (its copy does not match its checksum)" :
					e == EFAULT ? " (it is not in that OS's memory any more)" :
					e == EBUSY ? " (its memory is this OS's already)" :
					e == EINVAL ? " (not another OS)" : "");
				return 1;
			}
			if (hold) {
				printf("holding OS %u's kept image\n", adopt);
				return 0;
			}
			printf("took OS %u's kept image for OS %u\n", adopt, ordinal);
			goto loaded;
		}
		k = read_file(kernel, &ksize);
		ird = k ? read_file(initrd, &isize) : NULL;
		if (!k || !ird)
			return 1;
		ld.kernel = (uintptr_t)k;
		ld.kernel_size = ksize;
		ld.initrd = (uintptr_t)ird;
		ld.initrd_size = isize;
		ld.cmdline = (uintptr_t)cmdline;
		if (ioctl(fd, ORTHROS_BOOT_LOAD, &ld)) {
			fprintf(stderr, "orthros-boot: %s refused: %s%s\n", kernel, strerror(errno),
				errno == ENOEXEC ? " (not a 64-bit relocatable bzImage)" :
				errno == EFBIG ? " (an image is larger than the 64 MiB the loader keeps)" : "");
			return 1;
		}
		printf("loaded %s (%zu bytes), %s (%zu bytes)\n", kernel, ksize, initrd, isize);
		free(k);
		free(ird);
	}
loaded:
	if (!start)
		return 0;

	area = orth_area_of(ordinal);
	if (apic == ~0U)
		apic = (unsigned int)p.backup_apics.id[0];
	if (check_apic(&p, apic))
		return 1;
	st.apic_id = apic;
	st.ordinal = ordinal;
	st.flags = replace ? ORTHROS_BOOT_REPLACE : 0;
	st.nr_ranges = (unsigned int)p.area[area].n;
	for (i = 0; i < p.area[area].n; i++) {
		st.ranges[i].start = p.area[area].r[i].start;
		st.ranges[i].end = p.area[area].r[i].end;
	}
	st.shmem.start = p.area[AREA_SHMEM].r[0].start;
	st.shmem.end = p.area[AREA_SHMEM].r[0].end;
	/* the area's PCI functions: the loader stops their DMA before placing the image */
	for (int i = 0; i < p.ndevices && st.nr_pci < ORTHROS_BOOT_MAX_PCI; i++) {
		unsigned int bus, dev, fn;

		if (strcmp(p.dev[i].owner, orth_area_name(area)) ||
		    sscanf(p.dev[i].pci, "%x:%x.%x", &bus, &dev, &fn) != 3)
			continue;
		st.pci[st.nr_pci++] = (uint16_t)(bus << 8 | dev << 3 | fn);
	}
	if (ioctl(fd, ORTHROS_BOOT_START, &st)) {
		int e = errno;

		fprintf(stderr, "orthros-boot: starting OS %u on APIC %u in area %s refused: %s\n",
			ordinal, apic, orth_area_name(area), strerror(e));
		fprintf(stderr, "orthros-boot: %s\n",
			e == EBUSY ? "the core is in use, or an OS already runs in that area (--replace)" :
			e == EINVAL ? "the kernel found the request inconsistent (see dmesg)" :
			e == ENODEV ? "no core has that APIC ID" :
			e == EADDRINUSE ? "the area overlaps the running OS's memory" :
			e == EFBIG ? "the image does not fit in the area" :
			e == ENOENT ? "nothing loaded (run without --start-only)" :
			e == EPERM ? "only the active OS, as root, starts a backup" :
			"see the kernel log (dmesg)");
		return 1;
	}
	printf("started OS %u on APIC %u in area %s\n", ordinal, apic, orth_area_name(area));
	return 0;
}
