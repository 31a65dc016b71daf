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

TOOLS := orthros orthros-profile
TOOL_DEPS := tools/profile.c tools/profile.h
HOST_TOOLS := $(addprefix $(B)/host/,$(TOOLS))
GUEST_TOOLS := $(addprefix $(B)/guest/,$(TOOLS))
GUEST_FILES := $(shell find guest -type f)

.PHONY: all deps kernel tools images run test demo clean distclean help

all: images

help:
	@sed -n '1,4p' Makefile | sed 's/^# \{0,1\}//'
	@echo "other targets: deps kernel tools images run clean distclean"

deps:
	@scripts/deps.sh

kernel: | deps
	@scripts/build-kernel.sh

$(B)/host/%: tools/%.c $(TOOL_DEPS) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< tools/profile.c

$(B)/guest/%: tools/%.c $(TOOL_DEPS) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -static -o $@ $< tools/profile.c

tools: $(HOST_TOOLS) $(GUEST_TOOLS)

$(B)/initramfs.cpio.gz: $(GUEST_TOOLS) $(GUEST_FILES) $(PROFILE) scripts/build-initramfs.sh | deps
	@scripts/build-initramfs.sh $@ $(GUEST_TOOLS)

$(B)/data.ext3: $(B)/host/orthros-profile $(PROFILE) scripts/build-disk.sh | deps
	@scripts/build-disk.sh $@

images: kernel tools $(B)/initramfs.cpio.gz $(B)/data.ext3
	@$(B)/host/orthros-profile --profile $(PROFILE) check

# An interactive shell on the 1st OS; the machine powers off when you leave (Ctrl-]).
run: images
	@tests/vm --name run up && tests/vm --name run console active; tests/vm --name run down

test: images
	@tests/run $(T)

demo: images
	@tests/demo

clean:
	rm -rf $(B)/host $(B)/guest $(B)/vm $(B)/initramfs.cpio.gz $(B)/data.ext3* $(B)/.rootfs.* $(B)/.datafs.*

# Also the kernel tree and objects (the kernel cache outside the repo stays).
distclean:
	rm -rf $(B)
