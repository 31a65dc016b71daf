#!/usr/bin/env bash
# The harness itself: exec passes output and exit status through, times out with
# a clear error, refuses an OS that is not there, and two machines run at once.
. "$(dirname "$0")/lib.sh"

VM2=$VM-second
setup() { vm up --no-backup --timeout 180; }
teardown() {
	vm down --timeout 30
	"$TOP/tests/vm" --name "$VM2" down --timeout 30
}

t_exec_status_and_output() {
	local out rc
	out=$(vm exec active 'echo one; echo two >&2; exit 7')
	rc=$?
	expect_eq "exit status" "$rc" 7 &&
	expect_eq "output (stdout and stderr)" "$out" "$(printf 'one\ntwo')"
}

t_exec_quoting() {
	local cmd out
	cmd='printf "%s|" "a b" '\''c"d'\'' $((1+1)); echo'
	out=$(vm exec active "$cmd") || return 1
	expect_eq "quoted output" "$out" 'a b|c"d|2|'
}

t_exec_long_command() {
	# longer than a tty line (4096 bytes)
	local cmd out
	cmd="echo $(head -c 6000 /dev/zero | tr '\0' x) | wc -c"
	out=$(vm exec active "$cmd") || return 1
	expect_eq "length seen by the guest" "$out" 6001
}

# Kernel messages printed on the console while a command's output comes back
# (a failover's messages, for one) must not get into that output.
t_exec_output_with_kernel_messages() {
	local out
	# the messages go on after the command ends, while its output is printed
	out=$(vm exec active --timeout 120 'seq 1 50000 > /tmp/seq
		(for i in $(seq 1000); do echo "<0>orthros-harness-test $i" > /dev/kmsg; done) >/dev/null 2>&1 &
		cat /tmp/seq') || return 1
	[ "$(vm log active | tr -d '\r' | grep -cE '^[A-Za-z0-9+/=]+\[ *[0-9]+\.[0-9]+\] orthros-harness-test')" -gt 0 ] ||
		fail "no kernel message landed inside the output's lines: the test proves nothing" || return 1
	expect_eq "output (50000 lines)" "$(md5sum <<<"$out")" "$(seq 1 50000 | md5sum)"
}

t_exec_timeout() {
	local out rc start
	start=$(date +%s)
	out=$(vm exec active --timeout 2 'sleep 30' 2>&1)
	rc=$?
	expect_eq "exit status on timeout" "$rc" 124 || return 1
	grep -q "timed out after 2 s" <<<"$out" || fail "no clear message: $out" || return 1
	[ $(( $(date +%s) - start )) -lt 15 ] || fail "took $(( $(date +%s) - start )) s to give up" || return 1
	# the console is usable again afterwards
	expect_eq "next command" "$(vm exec active 'echo after')" after
}

t_exec_no_backup() {
	local out rc
	out=$(vm exec backup 'true' 2>&1)
	rc=$?
	expect_eq "exit status" "$rc" 1 &&
	grep -q "no backup OS is running" <<<"$out" || fail "unclear message: $out"
}

# `tests/vm crashed` (the soak asks it after a failure): a QEMU that died of a
# signal is named; one killed (SIGKILL, as `vm kill` does) or still running is not.
t_crashed_names_a_qemu_signal() {
	local d out rc
	d=$(mktemp -d) || return 1
	mkdir "$d/m" && echo 139 > "$d/m/qemu.exit"
	out=$(ORTHROS_VM_DIR=$d "$TOP/tests/vm" --name m crashed)
	rc=$?
	expect_eq "status after SIGSEGV" "$rc" 0 && expect_eq "signal" "$out" SIGSEGV || { rm -rf "$d"; return 1; }
	echo 137 > "$d/m/qemu.exit"
	ORTHROS_VM_DIR=$d "$TOP/tests/vm" --name m crashed
	rc=$?
	rm -rf "$d"
	expect_eq "status after SIGKILL" "$rc" 1 &&
	expect_eq "status of a running machine" "$(vm crashed; echo $?)" 1
}

# The harness says which QEMU it runs and refuses one the profile does not list,
# before it starts anything.
t_qemu_version_is_checked() {
	local conf out rc want
	want=$(qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9.]*\).*/\1/p')
	out=$("$TOP/tests/vm" --version) || fail "tests/vm --version refused the QEMU of make deps: $out" || return 1
	grep -q "^QEMU $want (.*), -machine $(prof_get machine) -accel $(prof_get accel)\$" <<<"$out" ||
		fail "tests/vm --version said '$out', want QEMU $want with the profile's machine and accel" || return 1
	conf=$(mktemp) || return 1
	sed 's/^qemu_versions *=.*/qemu_versions = 1.0/' "$PROFILE_FILE" > "$conf"
	out=$(ORTHROS_PROFILE_FILE=$conf "$TOP/tests/vm" --version 2>&1)
	rc=$?
	expect_eq "status of --version for an unlisted QEMU" "$rc" 1 &&
	grep -q "QEMU $want is not supported (machine.conf qemu_versions: 1.0" <<<"$out" ||
		fail "unclear refusal: $out" || { rm -f "$conf"; return 1; }
	out=$(ORTHROS_PROFILE_FILE=$conf "$TOP/tests/vm" --name "$VM-refused" up --no-backup --timeout 60 2>&1)
	rc=$?
	rm -f "$conf"
	expect_eq "status of up with an unlisted QEMU" "$rc" 1 &&
	grep -q "is not supported" <<<"$out" || fail "unclear refusal by up: $out" || return 1
	[ ! -e "$VM_DIR/$VM-refused/qemu.pid" ] || fail "up started QEMU anyway" || return 1
	rm -rf "$VM_DIR/$VM-refused"
}

# tests/run names every test that passed only on a second machine (its file's
# setup again) after QEMU crashed under it, and counts the crash: a QEMU killed
# by SIGSEGV here, through the same wrapper and ledger as a real crash.
t_run_names_a_test_retried_after_a_qemu_crash() {
	local d out last json
	d=$(mktemp -d) || return 1
	cat > "$d/qemucrash.t" <<-EOF
		. "$TOP/tests/lib.sh"
		ulimit -c 0	# no core file of the QEMU killed here
		setup() { vm up --no-backup --timeout 180; }
		teardown() { vm kill; }
		t_dies_once() {
			[ ! -e "$d/crashed" ] || return 0
			touch "$d/crashed"
			kill -SEGV "\$(cat "\$VM_DIR/\$VM/qemu.pid")"
			wait_for 30 "QEMU to die" sh -c "! kill -0 \$(cat "\$VM_DIR/\$VM/qemu.pid")"
			return 1
		}
		run_tests
	EOF
	# its own machines' folder and ledger: this crash is not counted with the real ones
	out=$(ORTHROS_T= ORTHROS_TESTS_DIR=$d ORTHROS_VM_DIR=$d/vm "$TOP/tests/run" 2>&1)
	json=$(ORTHROS_VM_DIR=$d/vm "$TOP/tests/vm" runs --json)
	rm -rf "$d"
	grep -qE '^\[\{"qemu": "[0-9.]+", "accel": "[^"]+", "machines": 2, "seconds": [0-9]+, "crashes": 1\}\]$' <<<"$json" ||
		fail "tests/vm runs --json: $json" || return 1
	last=$(tail -n 3 <<<"$out")
	grep -q "^ok - qemucrash-dies-once" <<<"$out" || fail "the retried test did not pass: $out" || return 1
	grep -q "^# retried: qemucrash-dies-once (QEMU crashed: qemucrash-[0-9]*: exit 139, signal 11)\$" <<<"$last" ||
		fail "the retried test is not named before the closing line: $last" || return 1
	grep -qE "^# QEMU [0-9.]+, -accel .*: 2 machines, .*, 1 crashed\$" <<<"$out" ||
		fail "the crash is not counted: $out" || return 1
	grep -q "^1 passed, 0 failed in " <<<"$(tail -n 1 <<<"$out")" || fail "closing line: $last"
}

# A test of a step not built yet, declared with todo: it runs and its line
# carries TAP's TODO directive; tests/run counts it neither as passed nor as
# failed, names it before the closing line (a todo that passes is named too,
# to be removed), and a run with only that left fails nothing.
t_run_lists_todo_tests_by_name() {
	local d out rc
	d=$(mktemp -d) || return 1
	cat > "$d/todoed.t" <<-EOF
		. "$TOP/tests/lib.sh"
		t_built() { true; }
		t_not_built() { echo "figure: what it saw"; false; }
		t_built_already() { true; }
		todo t_not_built "step 2 lands it"
		todo t_built_already "step 3"
		run_tests
	EOF
	out=$(ORTHROS_T= ORTHROS_TESTS_DIR=$d ORTHROS_VM_DIR=$d/vm "$TOP/tests/run" 2>&1)
	rc=$?
	rm -rf "$d"
	expect_eq "tests/run's status" "$rc" 0 || { echo "$out"; return 1; }
	grep -qE '^not ok - todoed-not-built # TODO step 2 lands it; [0-9]+ s$' <<<"$out" &&
		grep -q '^# figure: what it saw$' <<<"$out" &&
		grep -qE '^ok - todoed-built-already # TODO step 3; [0-9]+ s$' <<<"$out" ||
		fail "the TODO directive: $out" || return 1
	grep -q '^# todo: todoed-not-built (not ok: step 2 lands it)$' <<<"$out" &&
		grep -q '^# todo: todoed-built-already (ok: step 3)$' <<<"$out" ||
		fail "the todo tests are not named: $out" || return 1
	grep -q '^1 passed, 0 failed, 2 todo in ' <<<"$(tail -n 1 <<<"$out")" || fail "closing line: $out"
}

t_two_machines() {
	local p1 p2 events
	events=$(mktemp) && echo pci_cfg_write > "$events" || return 1
	ORTHROS_QEMU_TRACE=$events "$TOP/tests/vm" --name "$VM2" up --no-backup --timeout 180 || { rm -f "$events"; return 1; }
	rm -f "$events"
	p1=$(vm port) && p2=$("$TOP/tests/vm" --name "$VM2" port) || return 1
	[ "$p1" != "$p2" ] || fail "both machines forward port $p1" || return 1
	vm exec active 'echo first > /data/which' || return 1
	"$TOP/tests/vm" --name "$VM2" exec active 'echo second > /data/which' || return 1
	expect_eq "machine 1's own disk" "$(vm exec active 'cat /data/which')" first &&
	expect_eq "machine 2's own disk" "$("$TOP/tests/vm" --name "$VM2" exec active 'cat /data/which')" second &&
	curl -sS --max-time 20 "http://127.0.0.1:$p2/" | grep -q "Orthros service" ||
		fail "machine 2's service does not answer on $p2" || return 1
	# its run goes into the ledger when it ends (tests/vm runs)
	"$TOP/tests/vm" --name "$VM2" down --timeout 30 >/dev/null || return 1
	grep -qP "^\d+\t\d+\t0\t$VM2\t[0-9.]+\t$(prof_get accel)\$" "$VM_DIR/qemu-runs.tsv" ||
		fail "no ledger line for $VM2: $(tail -n 3 "$VM_DIR/qemu-runs.tsv")" || return 1
	# ORTHROS_QEMU_TRACE: QEMU's trace events of that machine in its qemu-trace.log
	# (the 1st OS sizes the disk's BARs at boot)
	grep -q "pci_cfg_write virtio-blk-pci 00:03.0 @0x10 <- 0xffffffff" "$VM_DIR/$VM2/qemu-trace.log" ||
		fail "no traced configuration write in $VM_DIR/$VM2/qemu-trace.log"
}

run_tests
