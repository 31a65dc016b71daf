#!/usr/bin/env bash
# Repeatable failover: after each takeover the new active starts a new backup
# in the other backup area, on a core the dead OS left, from the image the
# dead OS kept (copied out of its memory: no file), and the machine is
# protected again.  Crashed three times, the machine runs the 4th OS; after
# each failover every acknowledged write is on the disk, the protected
# workload runs on with its PID and no error, and the service answers.
. "$(dirname "$0")/lib.sh"

TMPD=$(mktemp -d)
ACK_PORT=10
WL=/data/rp

teardown() {
	vm kill
	rm -rf "$TMPD"
}

# on AREA CMD: run CMD on the OS living in that area (first, backup_a, backup_b)
on() { vm exec "$@"; }
status_of() { on "$1" 'orthros status --json'; }
watches() { status_of "$1" | grep -q '"state":"alive"'; }
done_in() { status_of "$1" | grep -q '"failover":{"state":"done"'; }
acks_at_least() { [ "$(on "$1" "wc -l < /tmp/acks" 2>/dev/null || echo 0)" -ge "$2" ]; }

# round N ACTIVE BACKUP NEXT: the OS in ACTIVE is crashed while it writes;
# the OS in BACKUP takes over and starts the next backup in NEXT
round() {
	local n=$1 act=$2 bak=$3 next=$4 v port ord
	# the writer on the active, its acknowledgements logged on the backup
	on "$bak" "rm -f /tmp/acks /tmp/ready; orthros-writer log --port $ACK_PORT --out /tmp/acks --ready /tmp/ready >/dev/null 2>&1 &" || return 1
	wait_for 20 "the logger on $bak" on "$bak" 'test -e /tmp/ready' || return 1
	on "$act" "orthros-writer write --dir /data/w$n --port $ACK_PORT --files 4 >/tmp/writer.out 2>&1 &" || return 1
	wait_for 60 "200 acknowledged writes" acks_at_least "$bak" 200 || return 1
	on "$act" "cat $WL/fp.st" >"$TMPD/before" || return 1
	on "$act" --timeout 40 'orthros-crash syscall' >/dev/null 2>&1 &
	local cpid=$!
	wait_for 120 "failover $n to finish on $bak" done_in "$bak"
	local rc=$?
	kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
	[ $rc -eq 0 ] || return 1
	ord=$(on "$bak" 'cat /sys/kernel/orthros/ordinal')
	status_of "$bak" | python3 -c 'import json,sys
f = json.load(sys.stdin)["failover"]
print("figure: failover %s: " % sys.argv[1] + ", ".join("%s %.1f+%.1f ms" % (p["name"], p["start_us"] / 1e3, (p["duration_us"] or 0) / 1e3) for p in f["phases"]))' "$n"
	# every acknowledged write
	v=$(on "$bak" "orthros-writer verify --dir /data/w$n --acks /tmp/acks --json")
	python3 -c 'import json,sys; v = json.loads(sys.argv[1]); sys.exit(0 if v["bad_bytes"] == 0 and v["missing_files"] == 0 and v["short_files"] == 0 and v["acked_bytes"] > 0 else 1)' "$v" ||
		fail "failover $n: acknowledged data lost: $v" || return 1
	# the protected workload: same PID, no error, progress
	wait_for 60 "the protected workload to work on in OS $ord" sh -c "'$TOP/tests/vm' --name '$VM' exec '$bak' 'cat $WL/fp.st' > '$TMPD/after' && python3 '$TOP/tests/lib/wlstatus.py' '@$TMPD/before' '@$TMPD/after'" ||
		{ cat "$TMPD/after"; return 1; }
	# the service, through the same forwarded port
	port=$(vm port) || return 1
	curl -sS --max-time 10 "http://127.0.0.1:$port/" | grep -q "Orthros service" ||
		fail "failover $n: the host cannot reach the service" || return 1
	# the next backup: in the other area, watching the new active
	wait_for 120 "the next backup (in $next) to watch OS $ord" watches "$next" || return 1
	wait_for 30 "OS $ord to see its new backup alive" watches "$bak" || return 1
	echo "figure: failover $n: OS $ord active in $bak, OS $(on "$next" 'cat /sys/kernel/orthros/ordinal') its backup in $next; $(on "$bak" "awk '/MemTotal/ { print \$2 \" kB\" }' /proc/meminfo"), $(on "$bak" 'grep -c ^processor /proc/cpuinfo') cores; $v"
}

t_failover_to_the_fourth_os() {
	vm up --timeout 180 || return 1
	wait_for 30 "the backup to watch its active" watches backup_a || return 1
	on first "mkdir -p $WL && (setsid orthros-protect -- orthros-fpu --pace-us 1000 --status $WL/fp.st </dev/null >$WL/fp.log 2>&1 &)" || return 1
	wait_for 30 "the protected workload" on first "grep -q running $WL/fp.st" || return 1
	on first 'sync' || return 1
	round 1 first backup_a backup_b || return 1
	round 2 backup_a backup_b backup_a || return 1
	round 3 backup_b backup_a backup_b || return 1
	expect_eq "the OS in area A after three failovers" "$(on backup_a 'cat /sys/kernel/orthros/ordinal')" 4 || return 1
	expect_eq "its role" "$(on backup_a 'cat /sys/kernel/orthros/role')" active
}

# The new active starts its backups only where a backup can live: never on
# the BSP, never on one of its own (online) cores.
t_new_backup_refuses_bsp_and_online_core() {
	vm up --timeout 180 || return 1
	wait_for 30 "the backup to watch its active" watches backup_a || return 1
	on first --timeout 40 'orthros-crash syscall' >/dev/null 2>&1 &
	local cpid=$! out own
	wait_for 120 "the failover" done_in backup_a
	local rc=$?
	kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null
	[ $rc -eq 0 ] || return 1
	wait_for 120 "the next backup" watches backup_b || return 1
	out=$(on backup_a 'orthros-boot --start-only --ordinal 3 --apic 0 --replace 2>&1; echo rc=$?')
	echo "$out" | grep -q 'rc=1' && echo "$out" | grep -qi 'BSP' ||
		fail "the BSP was not refused: $out" || return 1
	own=$(on backup_a "awk '/^apicid/ { print \$3; exit }' /proc/cpuinfo")
	out=$(on backup_a "orthros-boot --start-only --ordinal 3 --apic $own --replace 2>&1; echo rc=\$?")
	echo "$out" | grep -q 'rc=1' && echo "$out" | grep -qi 'online' ||
		fail "the new active's own core $own was not refused: $out" || return 1
	# the backup it started is still the one watching it
	watches backup_a || fail "the new active lost its backup"
}

run_tests
