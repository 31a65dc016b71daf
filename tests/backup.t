#!/usr/bin/env bash
# The backup OS side by side: it boots to its own shell on its own core, memory
# and devices; the loader refuses what it must; the backup can die and be
# started again while the active works undisturbed.
. "$(dirname "$0")/lib.sh"

setup() { vm up --timeout 180; }
teardown() {
	vm down --timeout 30
	"$TOP/tests/vm" --name "$VM-quiet" down --timeout 30
}

t_boots_to_own_shell() {
	expect_eq "backup role" "$(vm exec backup 'cat /sys/kernel/orthros/role')" backup &&
	expect_eq "backup ordinal" "$(vm exec backup 'cat /sys/kernel/orthros/ordinal')" 2 &&
	expect_eq "active role" "$(vm exec active 'cat /sys/kernel/orthros/role')" active
}

# partition_of ROLE: check that OS's view against the profile (tests/lib/partition.py)
partition_of() {
	local cpus iomem meminfo status
	cpus=$(vm exec "$1" 'grep ^apicid /proc/cpuinfo') || return 1
	iomem=$(vm exec "$1" 'cat /proc/iomem') || return 1
	meminfo=$(vm exec "$1" 'cat /proc/meminfo') || return 1
	status=$(vm exec "$1" 'orthros status --json') || return 1
	python3 "$TOP/tests/lib/partition.py" "$(prof --json)" "$cpus" "$iomem" "$meminfo" "$status"
}

t_partition_both_sides() {
	partition_of backup && partition_of active
}

peer_alive() { vm exec "$1" 'orthros status --json' | grep -q '"state":"alive"'; }

t_status_peer() {
	local a b
	wait_for 30 "the active to see its backup alive" peer_alive active &&
	wait_for 30 "the backup to see its active alive" peer_alive backup || return 1
	a=$(vm exec active 'orthros status --json') || return 1
	b=$(vm exec backup 'orthros status --json') || return 1
	python3 - "$a" "$b" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:])
for k in ("role", "ordinal", "apic_ids", "memory", "devices", "peer"):
    assert k in a and k in b, f"key {k} missing"
assert a["peer"] == {**a["peer"], "role": "backup", "state": "alive", "ordinal": 2, "apic_id": 3}, a["peer"]
assert b["peer"] == {**b["peer"], "role": "active", "state": "alive", "ordinal": 1, "apic_id": 0}, b["peer"]
print("active's peer:", a["peer"], " backup's peer:", b["peer"])
PY
}

# refused WHAT MESSAGE ORTHROS-BOOT-ARGS...: refused with MESSAGE, both OSes unharmed
refused() {
	local what=$1 msg=$2 out rc before after
	shift 2
	before=$(vm exec backup 'cat /proc/sys/kernel/random/boot_id') || return 1
	out=$(vm exec active "orthros-boot $*" 2>&1)
	rc=$?
	[ $rc -ne 0 ] || fail "$what: accepted: $out" || return 1
	grep -qF -- "$msg" <<<"$out" || fail "$what: unclear message: $out" || return 1
	after=$(vm exec backup 'cat /proc/sys/kernel/random/boot_id') || fail "$what: the backup stopped answering" || return 1
	expect_eq "$what: backup boot id" "$after" "$before" || return 1
	vm exec active 'cat /data/www/index.html' >/dev/null || fail "$what: the active is harmed"
}

t_refusals() {
	local bad=/tmp/bad-profile.conf
	refused "the BSP" "APIC 0 is the BSP" --start-only --replace --apic 0 || return 1
	refused "an unknown APIC ID" "no core with APIC ID 9" --start-only --replace --apic 9 || return 1
	refused "a core of the running OS" "online core of the running OS" --start-only --replace --apic 1 || return 1
	refused "a backup already running" "already runs in that area" --start-only || return 1
	refused "not a bzImage" "not a 64-bit relocatable bzImage" --kernel /etc/orthros/machine.conf || return 1
	vm exec active 'dd if=/dev/zero of=/tmp/big.img bs=1M count=65 2>/dev/null' || return 1
	refused "an image too big" "larger than the 64 MiB the loader keeps" --initrd /tmp/big.img || return 1
	vm exec active 'rm /tmp/big.img' || return 1
	# a profile whose backup area A lies in the running OS's general memory
	vm exec active "sed -e 's/^area_backup_a = .*/area_backup_a = 0x70000-0x80000 0x8000000-0x10000000/' \
		-e 's/^area_general = .*/area_general = 0x10000000-0x70000000 0x70000000-0x78000000/' \
		/etc/orthros/machine.conf > $bad" || return 1
	refused "an area overlapping the running OS" "overlaps the running OS's memory" \
		--profile $bad --start-only --replace
}

t_active_undisturbed_while_backup_boots() {
	# A second machine whose active runs alone until its backup is started.
	local q=$VM-quiet port loc0 loc1 off0 off1 n bad
	qvm() { "$TOP/tests/vm" --name "$q" "$@"; }
	qvm up --no-backup --timeout 180 || return 1
	port=$(qvm port) || return 1
	# CPU, memory and disk work on the active, each checking its own results
	qvm exec active 'rm -f /tmp/work.*; (i=0; while [ ! -e /tmp/work.stop ]; do
		dd if=/dev/urandom of=/tmp/m.bin bs=1M count=8 2>/dev/null
		s=$(md5sum < /tmp/m.bin); cp /tmp/m.bin /tmp/m2.bin
		[ "$(md5sum < /tmp/m2.bin)" = "$s" ] || echo "memory copy differs at $i" >> /tmp/work.err
		cp /tmp/m.bin /data/m.bin; sync
		[ "$(md5sum < /data/m.bin)" = "$s" ] || echo "disk copy differs at $i" >> /tmp/work.err
		[ $((i * i % 9973)) -eq $(( (i % 9973) * (i % 9973) % 9973 )) ] || echo "cpu $i" >> /tmp/work.err
		i=$((i + 1)); echo $i > /tmp/work.count
	done) >/dev/null 2>&1 &' || return 1
	loc0=$(qvm exec active "grep '^ *LOC:' /proc/interrupts") || return 1
	off0=$(python3 -c 'import sys,time; print(time.time() - float(sys.argv[1].split()[0]))' "$(qvm exec active 'cat /proc/uptime')")
	# network: the host fetches the service throughout the backup's boot
	( for n in $(seq 1 40); do
		curl -sS --max-time 10 "http://127.0.0.1:$port/" | grep -q "Orthros service" || echo "fetch $n failed"
	  done ) > "$TOP/build/vm/$q.net" 2>&1 &
	qvm start-backup --timeout 120 || return 1
	wait
	bad=$(cat "$TOP/build/vm/$q.net"); rm -f "$TOP/build/vm/$q.net"
	[ -z "$bad" ] || fail "network: $bad" || return 1
	loc1=$(qvm exec active "grep '^ *LOC:' /proc/interrupts") || return 1
	off1=$(python3 -c 'import sys,time; print(time.time() - float(sys.argv[1].split()[0]))' "$(qvm exec active 'cat /proc/uptime')")
	qvm exec active 'touch /tmp/work.stop; echo "workload rounds: $(cat /tmp/work.count)"' || return 1
	[ -z "$(qvm exec active 'cat /tmp/work.err 2>/dev/null')" ] ||
		fail "the active's workload saw errors: $(qvm exec active 'cat /tmp/work.err')" || return 1
	python3 - "$loc0" "$loc1" "$off0" "$off1" <<'PY' || return 1
import sys
loc0, loc1 = ([int(x) for x in l.split()[1:] if x.isdigit()] for l in sys.argv[1:3])
off0, off1 = float(sys.argv[3]), float(sys.argv[4])
print(f"local timer interrupts per core: {loc0} -> {loc1}; clock offset to the host {off0:.3f} -> {off1:.3f} s")
bad = [f"core {i} timer stalled ({a} -> {b})" for i, (a, b) in enumerate(zip(loc0, loc1)) if b <= a]
if abs(off1 - off0) > 1.0:
    bad.append(f"the active's clock jumped {off1 - off0:+.3f} s against the host")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
	qvm down --timeout 30
}

# orthros-boot --replace stops the running backup itself: the active must not
# report that as a failure, and the loader turns off bus mastering on the new
# OS's devices (the old backup's console DMA) before it places the image.
t_replace_is_not_a_failure() {
	local old
	active_sees_alive() { vm exec active 'orthros status --json' | grep -q '"peer":{[^}]*"state":"alive"'; }
	wait_for 30 "the active to see its backup alive" active_sees_alive || return 1
	old=$(vm exec backup 'cat /proc/sys/kernel/random/boot_id') || return 1
	vm exec active 'orthros-boot --start-only --replace' >/dev/null || fail "orthros-boot failed" || return 1
	wait_for 60 "the new backup's shell" \
		sh -c "id=\$('$TOP/tests/vm' --name '$VM' exec backup --timeout 2 'cat /proc/sys/kernel/random/boot_id') && [ \"\$id\" != '$old' ]" || return 1
	wait_for 30 "the active to see the new backup alive" active_sees_alive || return 1
	vm exec active 'dmesg' | grep -F "bus mastering off until OS 2 resets it" ||
		fail "the loader did not stop the new OS's devices' DMA" || return 1
	! vm exec active 'dmesg' | grep -F "backup OS 2 failed" ||
		fail "the active reported the backup it replaced as failed"
}

t_restart_20_times() {
	local i id old how mark n active_id t0 t1 t2 times=
	# the active's workload: CPU, memory and disk, checking its own results
	vm exec active 'rm -f /tmp/work.err /tmp/work.count; (i=0; while [ ! -e /tmp/work.stop ]; do
		dd if=/dev/urandom of=/tmp/w.bin bs=64k count=16 2>/dev/null
		s=$(md5sum < /tmp/w.bin); cp /tmp/w.bin /data/w.bin; sync
		[ "$(md5sum < /data/w.bin)" = "$s" ] || echo "disk copy differs at $i" >> /tmp/work.err
		[ $(( (i * 7919) % 104729 )) -eq $(( (i * 7919) % 104729 )) ] || echo "cpu $i" >> /tmp/work.err
		i=$((i + 1)); echo $i > /tmp/work.count
	done) >/dev/null 2>&1 &' || return 1
	old=$(vm exec backup 'cat /proc/sys/kernel/random/boot_id') || return 1
	active_id=$(vm exec active 'cat /proc/sys/kernel/random/boot_id') || return 1
	for i in $(seq 1 20); do
		if [ $((i % 2)) -eq 0 ]; then how=panic; else how=poweroff; fi
		if [ $how = panic ]; then
			mark="Kernel panic - not syncing"
			vm exec backup '(sleep 0.3; echo c > /proc/sysrq-trigger) >/dev/null 2>&1 &' || return 1
		else
			mark="stops this OS only; the other OSes go on"
			vm exec backup '(sleep 0.3; poweroff -f) >/dev/null 2>&1 &' || return 1
		fi
		n=$((i / 2 + i % 2))	# deaths of this kind so far, this one included
		wait_for 30 "the backup's console to show '$mark' ($n times)" \
			sh -c "[ \$(grep -c '$mark' '$TOP/build/vm/$VM/console-backup_a.log') -ge $n ]" || return 1
		t0=$(date +%s.%N)
		vm exec active 'orthros-boot --start-only --replace' >/dev/null || fail "restart $i: orthros-boot failed" || return 1
		t1=$(date +%s.%N)
		wait_for 60 "the backup's shell after restart $i ($how)" \
			sh -c "id=\$('$TOP/tests/vm' --name '$VM' exec backup --timeout 2 'cat /proc/sys/kernel/random/boot_id') && [ \"\$id\" != '$old' ]" ||
			{ cpu_report; return 1; }
		old=$(vm exec backup 'cat /proc/sys/kernel/random/boot_id') || return 1
		t2=$(date +%s.%N)
		times="$times $(awk -v b="$t1" -v c="$t2" 'BEGIN { printf "%.1f", c - b }')"
		echo "restart $i ($how): backup up again (orthros-boot $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, then its shell in ${times##* } s)"
	done
	echo "figure: 20 restarts: from orthros-boot's return to the new backup's shell (s):$times"
	vm exec active 'touch /tmp/work.stop; echo "workload rounds: $(cat /tmp/work.count)"' || return 1
	expect_eq "the active's boot id (never reset)" "$(vm exec active 'cat /proc/sys/kernel/random/boot_id')" "$active_id" || return 1
	[ -z "$(vm exec active 'cat /tmp/work.err 2>/dev/null')" ] || fail "the active's workload saw errors: $(vm exec active 'cat /tmp/work.err')"
}

run_tests
