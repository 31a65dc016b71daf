#!/usr/bin/env bash
# Protected processes: Debian's criu runs in both OSes (check, and a dump and
# restore inside the active, the oracle of the rescue); orthros-protect
# registers processes in the shared memory's registry, the backup sees them,
# and every refusal says why and changes nothing.
#
# One machine serves the tests in order; the last ones change its backup
# (replaced with a tiny rescue capacity, then hung).
. "$(dirname "$0")/lib.sh"

setup() { vm up --timeout 180; }
teardown() { vm kill; }

# py EXPR JSON...: evaluate EXPR with s (and t) bound to the JSON documents
py() {
	python3 -c 'import json,sys
s = json.loads(sys.argv[2])
t = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
r = eval(sys.argv[1])
print(r if not isinstance(r, bool) else str(r).lower())' "$@"
}

criu_ok() { vm exec "$1" --timeout 120 'criu check' 2>&1; }

t_criu_check() {
	local os out rc
	for os in active backup; do
		out=$(criu_ok $os); rc=$?
		echo "$os: criu check: $out (status $rc)"
		[ $rc -eq 0 ] && grep -q 'Looks good' <<<"$out" || fail "criu check fails in the $os OS" || return 1
		vm exec $os 'test -s /run/criu.kdat' || fail "no /run/criu.kdat in the $os OS" || return 1
	done
}

# A counter in a shell of its own session: dumped (which stops it), restored
# detached with the same PID, it goes on counting.
t_criu_dump_restore_oracle() {
	local pid out before after
	vm exec active "rm -rf /tmp/img /tmp/c; mkdir -p /tmp/img; setsid sh -c 'echo \$\$ > /tmp/cpid; i=0; while :; do i=\$((i+1)); echo \$i > /tmp/c; sleep 0.1; done' </dev/null >/dev/null 2>&1 &" || return 1
	wait_for 30 "the counter" vm exec active 'test -s /tmp/c && test -s /tmp/cpid' || return 1
	pid=$(vm exec active 'cat /tmp/cpid') || return 1
	out=$(vm exec active --timeout 120 "a=\$(cut -d' ' -f1 /proc/uptime); criu dump -t $pid -D /tmp/img --shell-job -o dump.log; r=\$?; b=\$(cut -d' ' -f1 /proc/uptime); echo dump \$r \$a \$b") || { vm exec active 'tail -20 /tmp/img/dump.log'; return 1; }
	echo "$out"
	set -- $out
	[ "$2" = 0 ] || { vm exec active 'tail -20 /tmp/img/dump.log'; fail "criu dump failed"; return 1; }
	echo "figure: criu dump of a shell counter (2 processes): $(awk "BEGIN { printf \"%.0f\", ($4 - $3) * 1000 }") ms"
	vm exec active "test ! -e /proc/$pid" || fail "PID $pid still runs after the dump" || return 1
	before=$(vm exec active 'cat /tmp/c') || return 1
	out=$(vm exec active --timeout 120 "a=\$(cut -d' ' -f1 /proc/uptime); criu restore -D /tmp/img --shell-job --restore-detached -o restore.log; r=\$?; b=\$(cut -d' ' -f1 /proc/uptime); echo restore \$r \$a \$b") || return 1
	echo "$out"
	set -- $out
	[ "$2" = 0 ] || { vm exec active 'tail -20 /tmp/img/restore.log'; fail "criu restore failed"; return 1; }
	echo "figure: criu restore of it: $(awk "BEGIN { printf \"%.0f\", ($4 - $3) * 1000 }") ms"
	vm exec active "test -e /proc/$pid" || fail "PID $pid does not run after the restore" || return 1
	wait_for 30 "the restored counter to count" vm exec active "test \$(cat /tmp/c) -gt $((before + 3))" || return 1
	after=$(vm exec active 'cat /tmp/c')
	echo "counter: $before at the dump, $after after the restore"
	vm exec active "kill $pid"
}

run_tests
