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
	# criu kills the dumped tree at the end (the shell and its sleep); init
	# reaps them a moment later: wait until no process of the session is left
	wait_for 30 "session $pid to be gone after the dump" vm exec active \
		"cat /proc/[0-9]*/stat 2>/dev/null | awk -v s=$pid '\$6 == s { f = 1 } END { exit f }'" || return 1
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

# A task's kernel stack is vmalloc'd behind a guard page (CONFIG_VMAP_STACK):
# the rescue reads it through the kernel's page tables.  A sleep stopped in
# its nanosleep, extracted from the running kernel (--self): the registers the
# extractor took from the top of its stack are the ones /proc/PID/syscall
# shows (the call, its six arguments, the user sp and ip), and the stack was
# read as vmalloc'd.
t_rescue_reads_a_vmalloced_stack() {
	local pid sys js rec
	pid=$(sleeper) || return 1
	vm exec active "kill -STOP $pid" || return 1
	wait_for 30 "the sleep to stop" vm exec active "grep -q '^State:.*T' /proc/$pid/status" || return 1
	sys=$(vm exec active "cat /proc/$pid/syscall") || return 1
	js=$(vm exec active "orthros-rescue extract --pid $pid --self --records-only --out /tmp/vs --json") ||
		{ vm exec active "kill -9 $pid"; fail "orthros-rescue extract --self of a stopped sleep failed"; return 1; }
	echo "/proc/$pid/syscall: $sys"
	rec=$(mktemp)
	vm exec active 'base64 -w0 /tmp/vs/records.bin' | base64 -d >"$rec" || { rm -f "$rec"; return 1; }
	vm exec active "kill -9 $pid; rm -rf /tmp/vs"
	python3 - "$rec" "$sys" <<'PY' || { rm -f "$rec"; fail "the registers read from the stack are not the task's"; return 1; }
import struct, sys
buf = open(sys.argv[1], "rb").read()
want = [int(x, 0) for x in sys.argv[2].split()]
off, th = 0, None
while off + 8 <= len(buf):
    typ, ln = struct.unpack_from("<II", buf, off)
    if typ == 2:                        # ORTHROS_RX_THREAD
        th = buf[off + 8:off + 8 + ln]
        break
    off += 8 + ln
assert th, "no THREAD record"
tid, flags = struct.unpack_from("<II", th, 0)
names = "r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss".split()
r = dict(zip(names, struct.unpack_from("<21Q", th, 8)))
got = [r["orig_ax"], r["di"], r["si"], r["dx"], r["r10"], r["r8"], r["r9"], r["sp"], r["ip"]]
print("figure: from the stack: nr %d, sp %#x, ip %#x, thread flags %#x" % (r["orig_ax"], r["sp"], r["ip"], flags))
assert got == want, "records %s, /proc %s" % ([hex(x) for x in got], [hex(x) for x in want])
assert flags & 0x10, "the stack was not read as vmalloc'd (flags %#x)" % flags   # ORTHROS_RXT_STACK_VMAP
PY
	rm -f "$rec"
	echo "figure: $js"
}

# --- the registry -------------------------------------------------------------

# registry OS: the registry's entries as that OS lists them (sorted JSON)
registry() {
	vm exec "$1" 'orthros-protect --list --json' |
		python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["protected"], sort_keys=True))'
}

# sleeper [USER]: a process on the active that sleeps; prints its PID
sleeper() {
	if [ $# -gt 0 ]; then
		vm exec active "su -s /bin/sh $1 -c 'sleep 100000 </dev/null >/dev/null 2>&1 & echo \$!'"
	else
		vm exec active 'sleep 100000 </dev/null >/dev/null 2>&1 & echo $!'
	fi
}

# refused ERRNO TEXT CMD: CMD (on the active) exits 1 naming ERRNO and TEXT,
# and the registry is the same after it
refused() {
	local before after out
	before=$(registry active) || return 1
	out=$(vm exec active "$3 2>&1; echo status=\$?") || return 1
	echo "$3: $out"
	grep -q '^status=1$' <<<"$out" || fail "'$3' was not refused with status 1" || return 1
	grep -qF "($1)" <<<"$out" || fail "'$3' does not say $1" || return 1
	grep -qF -- "$2" <<<"$out" || fail "'$3' does not say '$2'" || return 1
	after=$(registry active) || return 1
	expect_eq "the registry after '$3'" "$after" "$before"
}

# entry OS PID: that PID's entry in the OS's `orthros status --json`, or "None"
entry() {
	py "([e for e in s.get('protected', []) if e.get('pid') == $2] or [None])[0]" \
		"$(vm exec "$1" 'orthros status --json')"
}

t_register_seen_by_both() {
	local pid out a b
	pid=$(sleeper) || return 1
	out=$(vm exec active "orthros-protect $pid") || { echo "$out"; fail "orthros-protect $pid failed"; return 1; }
	echo "$out"
	a=$(vm exec active 'orthros-protect --list --json') || return 1
	b=$(vm exec backup 'orthros status --json') || return 1
	python3 - "$pid" "$a" "$b" <<'PY' || return 1
import json, sys
pid, a, b = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
ea = [e for e in a["protected"] if e.get("pid") == pid]
eb = [e for e in b["protected"] if e.get("pid") == pid]
assert len(ea) == 1 and len(eb) == 1, (a, b["protected"])
ea, eb = ea[0], eb[0]
assert ea["comm"] == "sleep" and ea["owner"] == 1 and ea["state"] == "running", ea
assert ea["rss_bytes"] > 0 and not ea["tree"] and not ea["forced"] and ea["uid"] == 0, ea
assert eb["owner"] == 1 and eb["state"] == "other-os" and eb["comm"] == "sleep", eb
assert eb["start_time_ns"] == ea["start_time_ns"], (ea, eb)
print(f"figure: PID {pid} registered: {ea['rss_bytes'] // 1024} KiB resident; the backup (OS {a['backup']}) "
      f"can take {a['rescue_capacity'] // 1024} KiB")
PY
	vm exec active 'orthros status' | grep -A3 '^protected'
	vm exec active "echo $pid > /tmp/protected"
}

# the process the first test registered (the tests run in subshells)
protected() { vm exec active 'cat /tmp/protected'; }

t_refuses_nonexistent() { refused ESRCH "no such process" "orthros-protect 99999"; }
t_refuses_kernel_thread() { refused EINVAL "kernel thread" "orthros-protect 2"; }
t_refuses_pid_1() { refused EINVAL "PID 1" "orthros-protect 1"; }

t_refuses_zombie() {
	local z
	# the child exits after its parent became sleep(1), which never reaps it (a
	# child that exits at once may be reaped by the shell before its exec)
	vm exec active "sh -c 'sh -c \"sleep 2\" & echo \$! > /tmp/zpid; exec sleep 100000' </dev/null >/dev/null 2>&1 &" || return 1
	wait_for 30 "a zombie" vm exec active 'test -s /tmp/zpid && grep -q ") Z" /proc/$(cat /tmp/zpid)/stat' || return 1
	z=$(vm exec active 'cat /tmp/zpid') || return 1
	refused EINVAL "zombie" "orthros-protect $z"
}

t_refuses_already_registered() {
	local pid
	pid=$(protected) || return 1
	refused EEXIST "already registered" "orthros-protect $pid"
}

# A user who may not ptrace root's process may not register it, nor remove root's
# entry; its own process it may register and remove.
t_refuses_other_users_process() {
	local root_pid own pid
	pid=$(protected) || return 1
	root_pid=$(sleeper) || return 1
	refused EPERM "may not ptrace" "su -s /bin/sh nobody -c 'orthros-protect $root_pid'" || return 1
	refused EPERM "only it or root" "su -s /bin/sh nobody -c 'orthros-protect --remove $pid'" || return 1
	own=$(sleeper nobody) || return 1
	vm exec active "su -s /bin/sh nobody -c 'orthros-protect $own && orthros-protect --remove $own'" ||
		fail "nobody cannot register and remove its own process" || return 1
	vm exec active "kill $root_pid $own"
}

t_remove() {
	local pid
	pid=$(sleeper) || return 1
	vm exec active "orthros-protect $pid" || return 1
	vm exec active "orthros-protect --remove $pid" || fail "--remove $pid failed" || return 1
	[ "$(entry active "$pid")" = None ] || fail "PID $pid still listed after --remove" || return 1
	refused ESRCH "not registered" "orthros-protect --remove $pid" || return 1
	vm exec active "kill $pid"
}

# The registered process exits and another one gets its PID: not protected.
t_reused_pid_is_not_protected() {
	local pid out
	pid=$(sleeper) || return 1
	vm exec active "orthros-protect $pid && kill $pid" || return 1
	wait_for 30 "PID $pid to be gone" vm exec active "test ! -e /proc/$pid" || return 1
	out=$(vm exec active "for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do echo \$(( $pid - 1 )) > /proc/sys/kernel/ns_last_pid; sleep 100000 </dev/null >/dev/null 2>&1 & [ \$! = $pid ] && { echo reused; exit 0; }; kill \$!; done; echo not reused") || return 1
	[ "$out" = reused ] || fail "could not make a process with PID $pid" || return 1
	vm exec active "grep -q '(sleep)' /proc/$pid/stat" || return 1
	# the status (which does not prune) tells the old entry from the new process
	out=$(entry active "$pid")
	echo "before pruning: $out"
	[ "$out" = None ] || grep -q "'state': 'exited'" <<<"$out" || fail "PID $pid shown as $out" || return 1
	# any list prunes it
	[ "$(py "[e for e in s if e.get('pid') == $pid]" "$(registry active)")" = "[]" ] ||
		fail "the reused PID $pid is listed as protected" || return 1
	vm exec active "kill $pid"
}

# -- CMD: the wrapper registers itself and execs CMD, which keeps its PID.
t_exec_tree() {
	local pid e
	pid=$(vm exec active 'orthros-protect --tree -- sleep 100000 </dev/null >/dev/null 2>&1 & echo $!') || return 1
	wait_for 30 "the wrapped sleep" vm exec active "grep -q '(sleep)' /proc/$pid/stat" || return 1
	registry active >/dev/null	# a list refreshes the command names
	e=$(entry active "$pid")
	echo "$e"
	grep -q "'comm': 'sleep'" <<<"$e" && grep -q "'tree': True" <<<"$e" &&
		grep -q "'state': 'running'" <<<"$e" || fail "PID $pid (orthros-protect --tree -- sleep) not registered as it should be" || return 1
	vm exec active "orthros-protect --remove $pid; kill $pid"
}

# What the backup can take (its rescue capacity: its free memory and the general
# area it would hot-add, less a reserve) is shared by the registered processes:
# with a backup whose reserve leaves about 200 MiB, processes holding 60 MiB each
# are registered until one does not fit, which is refused for its size.
# capacity_between LO HI: the backup publishes a rescue capacity between LO and HI MiB
capacity_between() {
	local c
	c=$(py 's["rescue_capacity"] >> 20' "$(vm exec active 'orthros-protect --list --json')") &&
		[ "$c" -gt "$1" ] && [ "$c" -lt "$2" ]
}

t_refuses_beyond_the_backups_memory() {
	local n cap out
	n=$(py 'len(s)' "$(registry active)") || return 1
	# a backup started by the test before publishes its capacity a few seconds after boot
	wait_for 60 "the backup to publish its capacity" capacity_between 100 100000 || return 1
	cap=$(py 's["rescue_capacity"]' "$(vm exec active 'orthros-protect --list --json')") || return 1
	echo "figure: the backup can take $((cap >> 20)) MiB (its free memory and the general area, less 32 MiB)"
	vm start-backup --args "--replace --append orthros_rescue_reserve=$((cap - (200 << 20) + (32 << 20)))" || return 1
	wait_for 60 "the new backup to publish a capacity near 200 MiB" capacity_between 150 250 || return 1
	out=$(vm exec active --timeout 300 "rm -f /tmp/mem; i=0; while [ \$i -lt 8 ]; do
		orthros-fpu --hold-mb 60 --pace-us 100000 --status /tmp/h\$i.st </dev/null >/dev/null 2>&1 & p=\$!; echo \$p >> /tmp/mem
		until grep -q running /tmp/h\$i.st 2>/dev/null; do sleep 0.1; done
		orthros-protect \$p >/dev/null 2>/tmp/mem.err || break; i=\$((i+1)); done; cat /tmp/mem.err; echo registered \$i") || return 1
	echo "$out"
	grep -qF '(E2BIG)' <<<"$out" || fail "not refused for its size" || return 1
	grep -q ' [1-9][0-9]* KiB already registered' <<<"$out" || fail "nothing counted as already registered" || return 1
	echo "figure: $(tail -1 <<<"$out") processes of 60 MiB before the backup's memory was taken"
	vm exec active "kill \$(cat /tmp/mem)" || return 1
	wait_for 30 "the entries of the killed processes to go" \
		vm exec active "test \$(orthros-protect --list --json | grep -o '\"pid\"' | wc -l) -eq $n"
}

# A backup whose memory cannot take the process: refused for its size.
t_refuses_too_big_for_the_backup() {
	local pid
	vm start-backup --args '--replace --append orthros_rescue_reserve=4G' || return 1
	wait_for 60 "the new backup to publish its capacity" \
		vm exec active "orthros-protect --list --json | grep -q '\"rescue_capacity\":1}'" || return 1
	pid=$(sleeper) || return 1
	refused E2BIG "too big for the backup" "orthros-protect $pid" || return 1
	vm exec active "kill $pid"
}

# No backup watches the active any more (its backup hung): refused, unless --force.
t_refuses_without_backup_unless_forced() {
	local pid
	vm exec backup --timeout 20 'orthros-crash hang' >/dev/null 2>&1 &
	wait_for 60 "the active to declare its backup failed" \
		vm exec active "orthros status --json | grep -q '\"state\":\"failed\"'" || return 1
	pid=$(sleeper) || return 1
	refused ENOLINK "no backup watches this OS" "orthros-protect $pid" || return 1
	vm exec active "orthros-protect --force $pid" || fail "--force $pid was refused" || return 1
	grep -q "'forced': True" <<<"$(entry active "$pid")" || fail "PID $pid not registered as forced"
}

# With no backup watching (the previous test), --force registers with no size
# limit: fill all 64 entries.
t_refuses_when_registry_full() {
	local n out extra
	n=$(py 'len(s)' "$(registry active)") || return 1
	# fill it up with sleepers of a shell of their own
	out=$(vm exec active --timeout 300 "rm -f /tmp/full; i=$n; while [ \$i -lt 64 ]; do sleep 100000 </dev/null >/dev/null 2>&1 & echo \$! >> /tmp/full; orthros-protect --force \$! >/dev/null || exit 1; i=\$((i+1)); done") ||
		{ echo "$out"; fail "could not fill the registry"; return 1; }
	expect_eq "entries" "$(py 'len(s)' "$(registry active)")" 64 || return 1
	extra=$(sleeper) || return 1
	refused ENOSPC "registry is full" "orthros-protect --force $extra" || return 1
	# their processes gone, their entries are pruned by the next list
	vm exec active "kill $extra \$(cat /tmp/full)" || return 1
	wait_for 30 "the entries of the killed sleepers to go" \
		vm exec active "test \$(orthros-protect --list --json | grep -o '\"pid\"' | wc -l) -eq $n"
}

# A machine that never started a backup has no registry at all.
t_refuses_without_shared_memory() {
	local pid out
	vm kill >/dev/null
	vm up --no-backup --timeout 180 || return 1
	pid=$(sleeper) || return 1
	out=$(vm exec active "orthros-protect --force $pid 2>&1; echo status=\$?")
	echo "$out"
	grep -q '^status=1$' <<<"$out" && grep -qF '(ENODEV)' <<<"$out" ||
		fail "not refused with ENODEV"
}

run_tests
