#!/usr/bin/env bash
# Every way the active can die is detected (docs/liveness.md).  The kernel's
# own crash injector, LKDTM (/sys/kernel/debug/provoke-crash/DIRECT), on the
# active of a fresh machine while the writer's acknowledged data sits unsynced
# in its page cache: the backup fails over within the bound for that kind of
# failure, names the cause, and every acknowledged byte is on its disk.  A
# WARNING leaves the kernel healthy and must not fail over.  The user-space
# watchdog fails the active over when its check (a request to the service)
# stops passing, and not when the watchdog itself is stopped.
. "$(dirname "$0")/lib.sh"

TMPD=$(mktemp -d)

teardown() {
	vm kill
	rm -rf "$TMPD"
}

LKDTM=/sys/kernel/debug/provoke-crash/DIRECT

# the failure the backup recorded, as "KIND|CAUSE|MS since the trigger"
failure_of() {
	python3 -c 'import json,sys
f = json.load(open(sys.argv[1]))["failure"]
print("%s|%s|%.0f" % (f["kind"], f["cause"], f.get("since_fault_us", -1000) / 1000))' "$1"
}

# lkdtm TYPE KIND_RE CAUSE_RE BOUND_MS: LKDTM's TYPE on the active (marked
# first: the latency counts from there); a failover whose kind and cause match,
# within BOUND_MS; every acknowledged write on the disk
lkdtm() {
	local type=$1 kind cause ms trigger
	pair || return 1
	hold_cache || return 1
	run_writer || return 1
	vm exec active "grep -qx $type $LKDTM" || fail "LKDTM on the active does not offer $type ($LKDTM)" || return 1
	trigger="echo $type > $LKDTM"
	# HARDLOCKUP on CPU 2: not the heartbeat's core (CPU 0, whose silence
	# heartbeat-detects-hard-hang covers), so only the core beat can see it
	[ "$type" != HARDLOCKUP ] || trigger="taskset -c 2 sh -c '$trigger'"
	# SPINLOCKUP takes the lock on its first write and spins on it on the second
	[ "$type" != SPINLOCKUP ] || trigger="$trigger; $trigger"
	crash_and_fail_over "echo mark > /sys/kernel/orthros_inject; $trigger" "$TMPD/st.json" || return 1
	IFS='|' read -r kind cause ms < <(failure_of "$TMPD/st.json")
	echo "figure: $type: detected as $kind, $ms ms after the trigger: $cause"
	[[ $kind =~ ^($2)$ ]] || fail "$type: detected as '$kind', want $2" || return 1
	[[ $cause =~ $3 ]] || fail "$type: cause '$cause' does not match '$3'" || return 1
	[ "$ms" -ge 0 ] && [ "$ms" -le "$4" ] || fail "$type: detected $ms ms after the trigger, bound $4 ms" || return 1
	verify
}

prof() { "$TOP/build/host/orthros-profile" --profile "$TOP/machine.conf" get "$1"; }

# The bounds (docs/liveness.md): a panic is noticed at once (1 s for the
# failover to be declared under TCG); a lockup in core_stall_ms (2 s) or, on
# the heartbeat's own core with interrupts off, in 5 beats (0.5 s); a hung
# task in hung_task_s plus one check interval; each plus 1.5 s of slack.
PANIC_MS=1500
stall_ms() { echo $(($(prof core_stall_ms) + 1500)); }
# the hung-task limit and check interval as the command line has them (tools/profile.c derives the interval)
param() { "$PROFILE_TOOL" --profile "$PROFILE_FILE" cmdline 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
hung_ms() { echo $(( ($(param sysctl.kernel.hung_task_timeout_secs) + $(param sysctl.kernel.hung_task_check_interval_secs)) * 1000 + 1500 )); }

t_panic() { lkdtm PANIC panic 'panic: dumptest' $PANIC_MS; }
t_bug() { lkdtm BUG panic 'panic: Fatal exception' $PANIC_MS; }
t_exception() { lkdtm EXCEPTION panic 'panic: Fatal exception' $PANIC_MS; }
# the failure notice carries the dead kernel's last log: the oops in it
t_access_null() {
	lkdtm ACCESS_NULL panic 'panic: Fatal exception' $PANIC_MS &&
	vm exec backup 'orthros status --log' | grep -q "NULL pointer dereference" ||
		fail "the notice's log lacks the oops"
}
t_corrupt_list_add() { lkdtm CORRUPT_LIST_ADD panic 'panic: Fatal exception' $PANIC_MS; }
# the recursion runs into its stack's guard page (CONFIG_VMAP_STACK): a fault
# at once, nothing below the stack written over
t_exhaust_stack() {
	local g
	lkdtm EXHAUST_STACK panic 'panic: ' $PANIC_MS || return 1
	g=$(vm exec backup 'orthros status --log' | grep 'stack guard page was hit') ||
		fail "the notice's log does not say the stack's guard page was hit" || return 1
	echo "figure: $g"
}
t_softlockup() { lkdtm SOFTLOCKUP 'core stall' 'core stall: CPU [0-9]+ \(APIC [0-9]+\)' "$(stall_ms)"; }
t_hardlockup() { lkdtm HARDLOCKUP 'core stall' 'core stall: CPU 2 \(APIC 2\)' "$(stall_ms)"; }
t_spinlockup() { lkdtm SPINLOCKUP 'core stall' 'core stall: CPU [0-9]+ \(APIC [0-9]+\)' "$(stall_ms)"; }
t_hung_task() { lkdtm HUNG_TASK panic 'panic: hung_task: blocked tasks' "$(hung_ms)"; }
t_write_after_free() { lkdtm WRITE_AFTER_FREE 'panic|core stall|heartbeat timeout' '.' "$(hung_ms)"; }

beats_seen() { status_json backup | python3 -c 'import json,sys; print(json.load(sys.stdin)["heartbeat"]["beats_seen"])'; }
seen_more_than() { [ "$(beats_seen)" -gt "$1" ]; }
no_failure() { # WHAT: the backup watches a live active and declared nothing
	status_json backup >"$TMPD/b.json" || return 1
	python3 - "$TMPD/b.json" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if "failure" in s or s["peer"]["state"] != "alive":
    print("FAIL: %s: the backup declared the active failed: %s" % (sys.argv[2], s.get("failure", s["peer"])))
    sys.exit(1)
PY
}

# A WARNING leaves the kernel working: no failover, while the backup sees 3 s of
# beats (more than core_stall_ms), and the active is tainted W.
t_warning_is_not_a_failure() {
	local n
	pair || return 1
	n=$(beats_seen) || return 1
	vm exec active "echo mark > /sys/kernel/orthros_inject; echo WARNING > $LKDTM" || return 1
	wait_for 30 "3 s more of the active's beats" seen_more_than $((n + 30)) || return 1
	no_failure "after a WARNING" || return 1
	[ $(( $(vm exec active 'cat /proc/sys/kernel/tainted') & 512 )) -ne 0 ] ||
		fail "the active is not tainted W: the WARNING did not happen" || return 1
	echo "figure: WARNING: the active runs on (tainted W), the backup saw $(( $(beats_seen) - n )) more beats and declared nothing"
}

wd_beats() { vm exec active 'orthros status --json' | python3 -c 'import json,sys; w = json.load(sys.stdin)["liveness"]["watchdog"]; print(w["beats"] if w else -1)'; }
wd_beats_more_than() { [ "$(wd_beats)" -gt "$1" ]; }
wd_gone() { [ "$(wd_beats)" = -1 ]; }

# the check: a request to the service on this OS (busybox nc; the static
# busybox's wget dies in its resolver)
start_watchdog() {
	vm exec active "printf '%s\n' 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 1 127.0.0.1 80 | grep -q \"200 OK\"' > /tmp/health &&
		sh /tmp/health && (setsid sh -c 'echo \$\$ > /tmp/wd.pid; exec orthros watchdog --interval 200 --misses 5 -- sh /tmp/health' </dev/null >/tmp/wd.log 2>&1 &)" ||
		{ fail "the health check does not pass before the watchdog starts"; return 1; }
	wait_for 20 "the watchdog's beats" wd_beats_more_than 5 || { vm exec active 'cat /tmp/wd.log'; return 1; }
}

# The user-space watchdog: a health request to the service every 200 ms.
# Stopped by SIGTERM it unregisters and nothing happens; when the service
# stops answering (the kernel itself fine) the backup fails the active over,
# naming the watchdog, and serves the address.
t_watchdog_fails_over_a_silent_service() {
	local n kind cause ms
	pair || return 1
	start_watchdog || return 1
	vm exec active 'kill $(cat /tmp/wd.pid)' || return 1
	wait_for 10 "the stopped watchdog to unregister" wd_gone || return 1
	n=$(beats_seen) || return 1
	wait_for 30 "2 s more of the active's beats" seen_more_than $((n + 20)) || return 1
	no_failure "after the watchdog was stopped" || return 1
	hold_cache || return 1
	run_writer || return 1
	start_watchdog || return 1
	crash_and_fail_over "echo mark > /sys/kernel/orthros_inject; killall httpd" "$TMPD/st.json" || return 1
	IFS='|' read -r kind cause ms < <(failure_of "$TMPD/st.json")
	echo "figure: the service stopped answering: detected as $kind, $ms ms after: $cause"
	expect_eq "failure kind" "$kind" watchdog || return 1
	[[ $cause =~ "user-space watchdog: no beat for 1000 ms" ]] || fail "cause: $cause" || return 1
	[ "$ms" -le 3000 ] || fail "detected $ms ms after the service stopped, bound 3000 ms" || return 1
	verify
}

run_tests
