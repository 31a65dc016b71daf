#!/usr/bin/env bash
# The machine profile: the real one is valid and says what the docs say; broken
# ones are refused with a message that names the problem.
. "$(dirname "$0")/lib.sh"

# refuses DESCRIPTION EXPECTED-MESSAGE SED-EXPRESSION: the profile edited by the
# sed expression must be refused with a message containing EXPECTED-MESSAGE.
refuses() {
	local f out rc
	f=$(mktemp)
	sed -e "$3" "$PROFILE_FILE" > "$f"
	cmp -s "$f" "$PROFILE_FILE" && { rm -f "$f"; fail "$1: the edit changed nothing"; return 1; }
	out=$("$PROFILE_TOOL" --profile "$f" check 2>&1)
	rc=$?
	rm -f "$f"
	[ $rc -eq 1 ] || { fail "$1: exit $rc, want 1 ($out)"; return 1; }
	grep -qF -- "$2" <<<"$out" || fail "$1: message '$out' does not say '$2'"
}

t_valid() {
	prof check || fail "machine.conf is refused"
	expect_eq "1st OS command line" "$(prof cmdline 1 | grep -o 'orthros=[^ ]*')" "orthros=active,1" &&
	expect_eq "area of the 2nd OS" "$(prof area 2)" backup_a &&
	expect_eq "area of the 3rd OS" "$(prof area 3)" backup_b &&
	expect_eq "area of the 4th OS" "$(prof area 4)" backup_a
}

t_reserved_is_complement() {
	# what the 1st OS reserves is exactly RAM minus its own areas
	prof --json | python3 -c '
import json, sys
p = json.load(sys.stdin)
own = [(r["start"], r["end"]) for a in ("first", "general") for r in p["areas"][a]]
res = [(r["start"], r["end"]) for r in p["first_reserved"]]
cover = sorted(own + res)
at = 0
for s, e in cover:
    assert s == at, f"gap or overlap at {at:#x} (next range starts {s:#x})"
    at = e
ram = p["ram"]
assert at == ram, f"ends at {at:#x}, RAM is {ram:#x}"
for a in ("shmem", "backup_a", "backup_b"):
    for r in p["areas"][a]:
        assert any(s <= r["start"] and r["end"] <= e for s, e in res), f"{a} not reserved"
print("ok")'
}

t_refuses_bsp_as_backup() { refuses "BSP as backup core" "is the BSP" 's/^backup_apics = .*/backup_apics = 0/'; }
t_refuses_unknown_apic() { refuses "unknown APIC ID" "is not in apic_ids" 's/^backup_apics = .*/backup_apics = 9/'; }
t_refuses_shared_core() { refuses "core in both OSes" "also belongs to the 1st OS" 's/^backup_apics = .*/backup_apics = 2/'; }
t_refuses_two_backup_cores() { refuses "two backup cores" "exactly one core" 's/^backup_apics = .*/backup_apics = 2 3/'; }
t_refuses_overlap() { refuses "overlapping areas" "overlap" 's/^area_shmem = .*/area_shmem = 0x6000000-0x8000000/'; }
t_refuses_beyond_ram() { refuses "area beyond RAM" "beyond the RAM" 's/^area_backup_b = .*/area_backup_b = 0x80000-0x90000 0x78000000-0x90000000/'; }
t_refuses_no_low_slice() { refuses "backup area without start-up memory" "below 1 MiB" 's/^area_backup_a = .*/area_backup_a = 0x70000000-0x78000000/'; }
t_refuses_partial_block() { refuses "general area not in whole blocks" "whole hot-plug blocks" 's/^area_general = .*/area_general = 0x8000000-0x6ff00000/'; }
t_refuses_bad_owner() { refuses "unknown device owner" "unknown owner" 's/^device_data = active/device_data = nobody/'; }
t_refuses_missing_key() { refuses "missing key" "missing key 'ram'" '/^ram = /d'; }
t_refuses_duplicate_key() { refuses "duplicate key" "duplicate key" 's/^cpu = max/cpu = max\ncpu = max/'; }
t_refuses_garbage_line() { refuses "line without =" "expected 'key = value'" 's/^cpu = max/cpu max/'; }
t_refuses_unknown_panic_on() { refuses "unknown failure in panic_on" "unknown failure 'warning'" 's/^panic_on = .*/panic_on = oops warning/'; }
t_refuses_bad_core_stall() { refuses "core_stall_ms too short" "core_stall_ms" 's/^core_stall_ms = .*/core_stall_ms = 50/'; }

# The failure policy reaches every OS's command line; "none" leaves the
# kernels' detectors reporting only, Orthros's core check stays as set.
t_policy_on_command_lines() {
	local n f want='oops=panic softlockup_panic=1 nmi_watchdog=panic sysctl.kernel.panic_on_rcu_stall=1 hung_task_panic=1 panic_on_taint=0x20 orthros_core_stall='
	for n in 1 2 3; do
		for w in $want; do
			prof cmdline $n | tr ' ' '\n' | grep -q "^$w" || fail "OS $n's command line lacks $w" || return 1
		done
	done
	f=$(mktemp)
	sed -e 's/^panic_on = .*/panic_on = none/' -e 's/^core_stall_ms = .*/core_stall_ms = 0/' "$PROFILE_FILE" >"$f"
	n=$("$PROFILE_TOOL" --profile "$f" cmdline 2)
	rm -f "$f"
	for w in oops=panic softlockup_panic hung_task_panic panic_on_taint panic_on_rcu_stall; do
		! grep -q "$w" <<<"$n" || fail "panic_on = none still sets $w: $n" || return 1
	done
	grep -q 'nmi_watchdog=nopanic' <<<"$n" && grep -q 'orthros_core_stall=0' <<<"$n" ||
		fail "panic_on = none, core_stall_ms = 0: $n"
}

run_tests
