# Orthros for Linux.  The two commands a newcomer needs:
#   make demo    build everything, boot the machine, show the partition, shut down
#   make test    build everything and run every test (make test T=PATTERN: a subset)
# Both install what they need from Debian first (make deps).

SHELL := /bin/bash
B := build
PROFILE := machine.conf
CC := gcc
CFLAGS := -O2 -g -Wall -Wextra -std=gnu11
T ?=

# C tools: each lives in tools/ or in its component folder; all link the profile parser.
TOOLS := orthros orthros-profile orthros-boot orthros-protect orthros-rescue orthros-journal
TOOL_DIRS := tools bootloader workloads migrate
TOOL_LIBS := tools/profile.c tools/shmlib.c tools/peer.c
TOOL_DEPS := $(TOOL_LIBS) tools/profile.h tools/shmlib.h tools/peer.h \
	bootloader/kernel/orthros_boot_abi.h shmem/kernel/orthros_shm_abi.h migrate/kernel/orthros_journal_abi.h \
	workloads/splitmix.h
CPPFLAGS := -Itools -Ibootloader/kernel -Ishmem/kernel
# Programs to protect and to crash: guest only.
WORKLOADS := orthros-crash orthros-load orthros-writer orthros-fstree
# Self-checking workloads to protect: ordinary dynamically linked Debian programs
# (glibc, pthreads), as criu will meet them; build-initramfs.sh ships their libraries.
DYN_WORKLOADS := orthros-filecheck orthros-threads orthros-pipes orthros-fpu orthros-net orthros-aio
LIBS_orthros-aio := -laio
HOST_TOOLS := $(addprefix $(B)/host/,$(TOOLS))
DYN_GUEST := $(addprefix $(B)/guest/,$(DYN_WORKLOADS))
GUEST_TOOLS := $(addprefix $(B)/guest/,$(TOOLS) $(WORKLOADS)) $(DYN_GUEST)
vpath %.c $(TOOL_DIRS)
# orthros-rescue also links its CRIU image writer; orthros its watchdog and timeline.
EXTRA_orthros-rescue := migrate/criu-img.c migrate/rescue-run.c
EXTRA_orthros := tools/watchdog.c tools/timeline.c
$(B)/host/orthros $(B)/guest/orthros: tools/watchdog.c tools/watchdog.h tools/timeline.c tools/timeline.h
$(B)/host/orthros-rescue $(B)/guest/orthros-rescue: migrate/criu-img.c migrate/criu-img.h migrate/rescue-run.c migrate/rescue-run.h \
	migrate/kernel/orthros_rescue_abi.h
GUEST_FILES := $(shell find guest -type f)

.PHONY: all deps kernel tools images run test demo bench soak clean distclean help

all: images

help:
	@sed -n '1,4p' Makefile | sed 's/^# \{0,1\}//'
	@echo "other targets: deps kernel tools images run bench soak clean distclean"

deps:
	@scripts/deps.sh

kernel: | deps
	@scripts/build-kernel.sh

$(B)/host/%: %.c $(TOOL_DEPS) | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(EXTRA_$*) $(TOOL_LIBS)

$(B)/guest/%: %.c $(TOOL_DEPS) | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -static -o $@ $< $(EXTRA_$*) $(TOOL_LIBS) -lpthread

$(DYN_GUEST): $(B)/guest/%: workloads/%.c workloads/wlreport.c workloads/wlreport.h workloads/wlstream.c workloads/wlstream.h workloads/splitmix.h | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -pthread -o $@ $< workloads/wlreport.c workloads/wlstream.c $(LIBS_$*)

tools: $(HOST_TOOLS) $(GUEST_TOOLS)

# The initramfs carries the kernel and a backup initramfs in /boot, so that the
# active OS can start its backup (orthros-boot) with no disk.
$(B)/initramfs.cpio.gz: $(GUEST_TOOLS) $(GUEST_FILES) $(PROFILE) scripts/build-initramfs.sh $(B)/bzImage | deps
	@scripts/build-initramfs.sh $@ $(B)/bzImage $(GUEST_TOOLS)

$(B)/data.ext3: $(B)/host/orthros-profile $(PROFILE) scripts/build-disk.sh | deps
	@scripts/build-disk.sh $@

$(B)/bzImage: kernel

images: kernel tools $(B)/initramfs.cpio.gz $(B)/data.ext3
	@$(B)/host/orthros-profile --profile $(PROFILE) check

# An interactive shell on the 1st OS; the machine powers off when you leave (Ctrl-]).
run: images
	@tests/vm --name run up && tests/vm --name run console active; tests/vm --name run down

test: images
	@tests/run "$$T"

demo: images
	@tests/demo

# Measurements, side by side in one run (docs/boot.md, docs/liveness.md).
bench: images
	@tests/bench

# Long runs: an hour of heavy load on the active without a false failure
# detection, then SOAK_COUNT failovers in a row (tests/failover.sh).
SOAK_SECONDS ?= 3600
SOAK_COUNT ?= 100
soak: images
	@ORTHROS_LOAD_SECONDS=$(SOAK_SECONDS) ORTHROS_FILE_TIMEOUT=$$(( $(SOAK_SECONDS) + 1800 )) \
		tests/run heartbeat-no-false-detection
	@tests/failover.sh --count $(SOAK_COUNT)

clean:
	rm -rf $(B)/host $(B)/guest $(B)/vm $(B)/initramfs.cpio.gz $(B)/data.ext3* $(B)/.rootfs.* $(B)/.datafs.*

# Also the kernel tree and objects (the kernel cache outside the repo stays).
distclean:
	rm -rf $(B)
