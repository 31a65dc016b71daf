#!/usr/bin/env bash
# Repeatable failover: three failovers in a row, to the 4th OS, with the soak
# users run (tests/failover.sh): after each one every acknowledged write of
# every generation, the protected workloads and the service are checked, the
# new active has every core but the BSP and the kept one and exactly the 2nd
# OS's memory, runs in the other backup area, and a new backup, started from
# the image kept in memory on the core the dead OS left, watches it.  Then the
# 4th OS's loader refuses the BSP and its own online cores.
. "$(dirname "$0")/lib.sh"

teardown() { vm kill; }

t_to_the_4th_os() {
	local out rc own
	out=$("$TOP/tests/failover.sh" --count 3 --crash syscall,write,user --seed 1 --name "$VM" --keep 2>&1)
	rc=$?
	echo "$out" | grep -E '^(gen|summary|LOSS)' | sed 's/^/figure: /'
	[ $rc -eq 0 ] || { echo "$out" | tail -20; return 1; }
	expect_eq "failovers" "$(echo "$out" | grep -c '^gen ')" 3 || return 1
	# OS 4 (area A) is active, OS 5 (area B) its backup
	expect_eq "OS in area A" "$(vm exec backup_a 'cat /sys/kernel/orthros/ordinal')" 4 || return 1
	expect_eq "OS in area B" "$(vm exec backup_b 'cat /sys/kernel/orthros/ordinal')" 5 || return 1
	vm exec backup_a 'orthros status' | grep -E '^history:' | sed 's/^/figure: /'
	vm exec backup_a 'orthros status --json' | grep -q '"history":{"failovers":3,' ||
		fail "orthros status does not show 3 failovers in its history" || return 1
	out=$(vm exec backup_a 'orthros-boot --start-only --ordinal 6 --apic 0 2>&1; echo rc=$?')
	echo "$out" | grep -q 'rc=1' && echo "$out" | grep -qi 'BSP' ||
		fail "the BSP was not refused: $out" || return 1
	for own in $(vm exec backup_a "awk '/^apicid/ { print \$3 }' /proc/cpuinfo"); do
		out=$(vm exec backup_a "orthros-boot --start-only --ordinal 6 --apic $own 2>&1; echo rc=\$?")
		echo "$out" | grep -q 'rc=1' && echo "$out" | grep -qi 'online' ||
			fail "the active's own core $own was not refused: $out" || return 1
	done
	# and the refusals changed nothing: OS 5 still watches OS 4
	wait_for 10 "OS 5 to watch OS 4" sh -c "'$TOP/tests/vm' --name '$VM' exec backup_b 'orthros status --json' | grep -q '\"state\":\"alive\"'"
}

run_tests
