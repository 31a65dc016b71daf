# Test library: sourced by each tests/*.t file.
#
# A test file defines `setup` and `teardown` (optional) and test functions
# `t_NAME() { ... }`, in the order they run, then calls `run_tests`.  A test's
# name is FILE-NAME with _ turned into -; ORTHROS_T (make test T=...) selects
# tests by an extended regular expression on that name.  A test passes when its
# function returns 0.  Output: one `ok - NAME` or `not ok - NAME` per test; on
# failure the test's own output and the tails of the consoles.  Lines a test
# prints starting with "figure: " are shown when it passes too.
#
# A test of a step not built yet is declared before run_tests with
# `todo t_NAME "why"`: it runs, and its line carries the TAP directive
# `# TODO why` (`not ok - NAME # TODO why`, or `ok - NAME # TODO why` when it
# passes already: remove the todo).  tests/run counts such a test neither as
# passed nor as failed and lists it by name before the closing line.
set -u
declare -A TODO=()
todo() { TODO[$1]=$2; }
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_FILE=$(basename "$0" .t)
VM=${TEST_FILE}-$$
export ORTHROS_VM=$VM
VM_DIR=${ORTHROS_VM_DIR:-$TOP/build/vm}	# the machines' state folders (tests/vm)
PROFILE_TOOL=$TOP/build/host/orthros-profile
PROFILE_FILE=$TOP/machine.conf

vm() { "$TOP/tests/vm" --name "$VM" "$@"; }
prof() { "$PROFILE_TOOL" --profile "$PROFILE_FILE" "$@"; }
prof_get() { prof get "$1"; }

fail() { echo "FAIL: $*"; return 1; }

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# wait_for TIMEOUT_S DESCRIPTION CMD...: poll CMD until it succeeds.
wait_for() {
	local t=$1 what=$2 end
	shift 2
	end=$(( $(date +%s) + t ))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || { fail "timed out after ${t}s waiting for $what"; return 1; }
		sleep 0.2
	done
}

# cpu_report: where each core of the machine is (QEMU's registers: RIP, halted,
# CR0/CR3) and the active's last kernel messages: for an OS that does not come up.
cpu_report() {
	echo "--- the machine's cores (QEMU) ---"
	vm monitor 'info registers -a' | grep -E '^CPU#|^RIP|^CR0' | sed 's/ *EFER.*//'
	echo "--- the active's last kernel messages ---"
	vm exec active 'dmesg | tail -15'
}

# The machine's state as an OS sees it, and the waits the failover tests share.
status_json() { vm exec "$1" 'orthros status --json'; }
# done, its cores taken and the next backup's image copied: phases cpus and
# image run after "service back", the next backup's start (phase backup) after image
failover_done() {
	local st
	st=$(status_json backup) &&
		grep -q '"failover":{"state":"done"' <<<"$st" &&
		grep -q '"name":"cpus","start_us":[0-9]*,"duration_us":[0-9]' <<<"$st" &&
		grep -q '"name":"backup"' <<<"$st"
}
backup_alive() { status_json backup | grep -q '"state":"alive"'; }

# pair [ORTHROS-BOOT-APPEND]: a fresh machine whose backup was started with more parameters
pair() {
	vm kill >/dev/null
	vm up --timeout 180 || return 1
	if [ -n "${1:-}" ]; then
		vm exec active "orthros-boot --replace --append '$1'" >/dev/null || return 1
		wait_for 60 "the new backup's shell" sh -c "'$TOP/tests/vm' --name '$VM' exec backup --timeout 2 'grep -q \"$1\" /proc/cmdline'" || return 1
	fi
	wait_for 30 "the backup to watch its active" backup_alive
}

# The page-cache writer the failover tests share: ACK_PORT (default 10) carries
# its reports to the backup, which logs them in /tmp/acks.
ACK_PORT=${ACK_PORT:-10}
acks_at_least() { # N: the backup's log has N reports
	[ "$(vm exec backup 'wc -l < /tmp/acks' 2>/dev/null || echo 0)" -ge "$1" ]
}


# hold_cache: the active keeps written data in its page cache (no background
# writeback, no journal commit) until it dies, so that only the migration saves it.
# The sync after the remount closes the transaction already running, whose commit
# timer still has the old 5 s: the writer's data would join it (seen once: every
# acknowledged byte on the disk with the migration off).
hold_cache() {
	vm exec active 'sysctl -qw vm.dirty_background_ratio=95 vm.dirty_ratio=95 vm.dirty_expire_centisecs=360000 &&
		mount -o remount,commit=3600 /data && sync'
}

# run_writer: the writer on the active, its reports logged on the backup
run_writer() {
	vm exec backup "rm -f /tmp/acks /tmp/ready; orthros-writer log --port $ACK_PORT --out /tmp/acks --ready /tmp/ready >/dev/null 2>&1 &" || return 1
	wait_for 20 "the backup's logger" vm exec backup 'test -e /tmp/ready' || return 1
	vm exec active "orthros-writer write --dir /data/w --port $ACK_PORT --files 8 >/tmp/writer.out 2>&1 &" || return 1
	wait_for 60 "400 acknowledged writes" acks_at_least 400
}

# verify: every acknowledged byte on the backup's disk; the host reaches the service
# A byte lost without a word fails every test; one the failover named as
# lost (orthros status --losses) fails it too unless NAMED_LOSS_OK=1.
verify() {
	local v port
	v=$(vm exec backup 'orthros status --losses > /tmp/named; orthros-writer verify --dir /data/w --acks /tmp/acks --named /tmp/named --json')
	echo "figure: verify: $v"
	port=$(vm port) || return 1
	curl -sS --max-time 10 "http://127.0.0.1:$port/" | grep -q "Orthros service" ||
		fail "the host cannot reach the service on 127.0.0.1:$port after failover" || return 1
	python3 -c 'import json,sys; v = json.loads(sys.argv[1]); sys.exit(0 if v["acked_bytes"] > 0 and v["silent_bad_bytes"] == 0 else 1)' "$v" ||
		fail "acknowledged data lost without a word: $v" || return 1
	[ "${NAMED_LOSS_OK:-0}" = 1 ] ||
		python3 -c 'import json,sys; v = json.loads(sys.argv[1]); sys.exit(0 if v["bad_bytes"] == 0 and v["missing_files"] == 0 and v["short_files"] == 0 else 1)' "$v" ||
		fail "acknowledged data lost (named by the failover): $v"
}

# fsck_clean: the new active's /data unmounted (its service stopped: httpd takes a moment to exit after its signal, longer
# while the next backup boots beside, so up to 10 s, then name what still
# holds /data), the machine off, fsck.ext3 -n -f on its copy of the disk
fsck_clean() {
	local out rc
	vm exec backup 'killall httpd 2>/dev/null' >/dev/null
	wait_for 10 "/data to unmount on the new active" vm exec backup 'umount /data' ||
		{ vm exec backup 'ls -l /proc/*/cwd /proc/*/fd 2>/dev/null | grep " /data"'; return 1; }
	vm kill >/dev/null
	out=$(fsck.ext3 -n -f "$VM_DIR/$VM/data.img" 2>&1)
	rc=$?
	[ $rc -eq 0 ] || { echo "$out"; fail "fsck.ext3 -n -f found problems"; }
}

# crash_cmd HOW [PID]: the command that crashes the active HOW: syscall (a
# panic in a system call), or the injector's traps on PID: write (inside a
# write()), user (in user code), read (a read() that has copied bytes),
# corrupt (PID's task structure damaged, then a panic), or cut (an skb of PID's
# TCP send queues cut in two and the second half left out, then a panic)
crash_cmd() {
	case $1 in
	syscall) echo 'orthros-crash syscall' ;;
	write | user | read) echo "echo '$1 $2' > /sys/kernel/orthros_inject" ;;
	corrupt) echo "echo 'corrupt-task $2' > /sys/kernel/orthros_inject" ;;
	cut) echo "echo 'cut-send-queue $2' > /sys/kernel/orthros_inject" ;;
	*) echo "crash_cmd: unknown way to crash '$1'" >&2; return 1 ;;
	esac
}

# crash_and_fail_over CMD [JSON]: run CMD on the active to crash it, wait for the
# backup's failover to finish, keep its status in JSON and print the timeline
# and the outcome of each protected process as figures
crash_and_fail_over() {
	local pid rc json=${2:-$(mktemp)}
	vm exec active --timeout 40 "$1" >/dev/null 2>&1 &
	pid=$!
	wait_for 120 "the failover to finish" failover_done
	rc=$?
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	[ $rc -eq 0 ] || { vm exec backup 'dmesg | grep -i orthros | tail -30'; return 1; }
	status_json backup >"$json" || return 1
	python3 - "$json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["failover"]
print("figure: timeline: " + ", ".join("%s %.1f+%.1f ms" % (p["name"], p["start_us"] / 1e3, (p["duration_us"] or 0) / 1e3) for p in f["phases"]))
for p in f["processes"]:
    print("figure: process %d %s: %d procs, %d threads, %d bytes; extract %.1f ms, images %.1f ms, criu restore %.1f ms, running %.1f ms after the failure%s" % (
        p["pid"], p["outcome"], p["procs"], p["threads"], p["bytes"], p["extract_us"] / 1e3, p["images_us"] / 1e3,
        p["restore_us"] / 1e3, p["running_us"] / 1e3, (": " + p["why"]) if p["why"] else ""))
n = f.get("netlock", {})
if n.get("held") or n.get("dropped"):
    print("figure: network lock: %d inbound packets held, %d delivered at %.1f ms, %d dropped" % (
        n["held"], n["delivered"], n["released_us"] / 1e3, n["dropped"]))
PY
	rc=$?
	[ -n "${2:-}" ] || rm -f "$json"
	return $rc
}

console_tails() {
	local d=$VM_DIR/$VM f
	for f in "$d"/console-*.log; do
		[ -s "$f" ] || continue
		echo "--- tail of $(basename "$f") ---"
		tail -n 25 "$f" | tr -d '\r'
		# what the rescue said (its lines scroll off the tail: the next test reuses the machine's name)
		if grep -aq 'orthros-rescue: ' "$f"; then
			echo "--- the rescue's lines in $(basename "$f") (last 50) ---"
			grep -a 'orthros-rescue: ' "$f" | tail -n 50 | tr -d '\r'
		fi
	done
}

# qemu_crashed STAMP: a machine of this test file whose QEMU died of a signal
# (SIGSEGV, SIGABRT; not a kill) after STAMP: QEMU 7.2's multi-threaded TCG
# died now and then in memory_region_dispatch_write (a QEMU race: docs/machine.md,
# "Which QEMU").  Prints which; false if none.
qemu_crashed() {
	local f name code
	for f in "$VM_DIR/$VM"/qemu.exit "$VM_DIR/$VM"-*/qemu.exit; do
		[ -f "$f" ] && [ "$f" -nt "$1" ] || continue
		name=$(basename "$(dirname "$f")")
		# tests/vm crashed knows which exit statuses are QEMU's own crash
		ORTHROS_VM_DIR=$VM_DIR "$TOP/tests/vm" --name "$name" crashed >/dev/null || continue
		code=$(cat "$f") && echo "$name: exit $code, signal $((code - 128))" && return 0
	done
	return 1
}

run_tests() {
	local names=() t n selected=() out rc t0 crashed
	mapfile -t names < <(grep -oE '^t_[a-z0-9_]+\(\)' "$0" | sed 's/()$//')
	for t in "${names[@]}"; do
		n="$TEST_FILE-$(echo "${t#t_}" | tr _ -)"
		if [ -z "${ORTHROS_T:-}" ] || grep -qE -- "$ORTHROS_T" <<<"$n"; then
			selected+=("$t")
		fi
	done
	[ ${#selected[@]} -gt 0 ] || return 0
	out=$(mktemp)
	if declare -F setup >/dev/null && ! setup >"$out" 2>&1; then
		for t in "${selected[@]}"; do
			echo "not ok - $TEST_FILE-$(echo "${t#t_}" | tr _ -) (setup failed)"
		done
		awk '{ print "# " $0 }' "$out"
		console_tails | awk '{ print "# " $0 }'
		declare -F teardown >/dev/null && teardown >/dev/null 2>&1
		rm -f "$out"
		return 1
	fi
	for t in "${selected[@]}"; do
		n="$TEST_FILE-$(echo "${t#t_}" | tr _ -)"
		t0=$SECONDS
		touch "$out.start"
		( set -o pipefail; "$t" ) >"$out" 2>&1
		rc=$?
		if [ $rc -ne 0 ] && crashed=$(qemu_crashed "$out.start"); then
			# not the guest's failure: QEMU itself died; once more, on a new
			# machine (the file's setup again: its machine died with QEMU)
			echo "# $n: QEMU crashed during the test ($crashed): running it again"
			awk '{ print "#   " $0 }' "$out" | tail -n 15
			touch "$out.start"
			if declare -F setup >/dev/null; then
				declare -F teardown >/dev/null && teardown >/dev/null 2>&1
				setup >"$out" 2>&1 && ( set -o pipefail; "$t" ) >>"$out" 2>&1
			else
				( set -o pipefail; "$t" ) >"$out" 2>&1
			fi
			rc=$?
		fi
		if [ -n "${TODO[$t]:-}" ]; then
			# not built yet: its output in full either way, no consoles
			if [ $rc -eq 0 ]; then echo "ok - $n # TODO ${TODO[$t]}; $((SECONDS - t0)) s"
			else echo "not ok - $n # TODO ${TODO[$t]}; $((SECONDS - t0)) s"; fi
			awk '{ print "# " $0 }' "$out"
		elif [ $rc -eq 0 ]; then
			echo "ok - $n # $((SECONDS - t0)) s"
			# measured figures are shown even when the test passes
			grep '^figure: ' "$out" | sed 's/^/# /'
		else
			echo "not ok - $n # $((SECONDS - t0)) s"
			awk '{ print "# " $0 }' "$out"
			console_tails | awk '{ print "# " $0 }'
		fi
	done
	declare -F teardown >/dev/null && teardown >/dev/null 2>&1
	rm -f "$out" "$out.start"
}
