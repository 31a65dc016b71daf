#!/usr/bin/env bash
# Shared memory, heartbeat and failure detection: the two OSes watch each other;
# every kind of crash of the active is detected by the backup, with its cause and
# latency; heavy load is not mistaken for a failure; a backup refuses to act on
# shared memory that does not check; the channel carries messages both ways
# without loss and runs commands on the other OS.
. "$(dirname "$0")/lib.sh"

LOAD_SECONDS=${ORTHROS_LOAD_SECONDS:-180}
MESSAGES=${ORTHROS_MESSAGES:-1000000}
TMPD=$(mktemp -d)

setup() { vm up --timeout 180; }
teardown() {
	vm kill
	rm -rf "$TMPD"
}

# A fresh pair for a test that kills one of the OSes (PARAMS: more for the active).
fresh() {
	vm kill >/dev/null
	vm up --timeout 180 ${1:+--append "$1"}
}


# jq-like: py EXPR JSON...: evaluate EXPR with s (and t) bound to the JSON documents
py() {
	python3 -c 'import json,sys
s = json.loads(sys.argv[2])
t = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
r = eval(sys.argv[1])
print(r if not isinstance(r, bool) else str(r).lower())' "$@"
}

peer_state_is() { # ROLE STATE
	[ "$(py 's["peer"]["state"]' "$(status_json "$1")")" = "$2" ]
}

backup_says() { # TEXT: the backup's console has said it
	grep -qF -- "$1" "$TOP/build/vm/$VM/console-backup_a.log"
}

t_alive_both_ways() {
	wait_for 30 "the active to see its backup alive" peer_state_is active alive &&
	wait_for 30 "the backup to see its active alive" peer_state_is backup alive || return 1
	local a b
	a=$(status_json active) && b=$(status_json backup) || return 1
	python3 - "$a" "$b" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:])
assert a["shm"]["valid"] and b["shm"]["valid"], (a["shm"], b["shm"])
assert a["peer"]["ordinal"] == 2 and b["peer"]["ordinal"] == 1, (a["peer"], b["peer"])
for n, s in (("active", a), ("backup", b)):
    h = s["heartbeat"]
    assert h["enabled"] and h["beats_sent"] > 0, (n, h)
    assert "failure" not in s, (n, s.get("failure"))
    print(f"figure: {n}: every {h['period_ms']} ms, {h['beats_sent']} sent, {h['beats_seen']} seen, "
          f"longest gap {h['max_gap_us'] / 1000:.1f} ms")
PY
}

# crash KIND CAUSE-TEXT KIND-IN-STATUS [MAX-PERIODS [PARAMS]]: crash the active
# (started with PARAMS), the backup must say so (within MAX-PERIODS heartbeat
# periods of the injected fault; -MAX: in more than MAX)
crash_detected() {
	local kind=$1 cause=$2 fkind=$3 periods=${4:-} st pid
	fresh "${5:-}" || return 1
	wait_for 30 "the backup to watch its active" peer_state_is backup alive || return 1
	vm exec active --timeout 60 "orthros-crash $kind" >"$TMPD/crash.out" 2>&1 &
	pid=$!
	wait_for 60 "the backup to declare the active failed" backup_says "orthros: active OS 1 failed:"
	local rc=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $rc -eq 0 ] || { cat "$TMPD/crash.out"; return 1; }
	st=$(status_json backup) || return 1
	python3 - "$st" "$cause" "$fkind" "$periods" <<'PY' || return 1
import json, sys
s, cause, kind, periods = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
f, h = s.get("failure"), s["heartbeat"]
assert f, f"no failure in status: {s}"
assert s["peer"]["state"] == "failed", s["peer"]
assert f["ordinal"] == 1 and f["kind"] == kind, f
assert cause in f["cause"], f"cause {f['cause']!r} lacks {cause!r}"
assert f["detect_latency_us"] > 0 and f["last_beat"] > 0, f
p = h["probes"]
print(f"figure: detected: {f['cause']}; latency {f['detect_latency_us'] / 1000:.3f} ms from the "
      f"{f['latency_from']}; last beat #{f['last_beat_count']}; NMI probes {p['sent']} sent, "
      f"{p['answered']} answered, {p['irqs_off']} with interrupts off")
if periods:
    lim = abs(int(periods)) * h["period_ms"] * 1000
    assert f["latency_from"] == "injected fault", f
    if int(periods) > 0:
        assert f["detect_latency_us"] <= lim, f"latency {f['detect_latency_us']} us > {lim} us"
    else:
        assert f["detect_latency_us"] > lim, f"latency {f['detect_latency_us']} us <= {lim} us"
PY
	grep -F "orthros: " "$TOP/build/vm/$VM/console-backup_a.log" | grep -E "failed|last beat|latency" | tr -d '\r'
	return 0
}

# A panic in a system call, in a file write and in user code: failover.t checks
# each one's cause and latency on its way to the failover; an oops: crash.t's
# LKDTM matrix (BUG, ACCESS_NULL, EXCEPTION ...).
# A hard hang (every core spinning with interrupts off, no panic): the NMI
# probes find the active's beat core with interrupts off and the backup
# declares it failed within 3 periods of the fault; the control, the active
# answering no probe (orthros_hb_probe=off), waits for the K periods.
t_detects_hard_hang_within_3_periods() {
	crash_detected hang "its core running with interrupts off (NMI probes)" "heartbeat timeout" 3
}

t_hard_hang_unprobed_waits_k_periods() {
	crash_detected hang "no beat for 500 ms (5 beats" "heartbeat timeout" -3 orthros_hb_probe=off
}

t_detects_sysrq_crash() {
	crash_detected sysrq "sysrq triggered crash" panic
}

# Heavy CPU, timer, disk and network interrupt load on the active for LOAD_SECONDS:
# neither OS may declare the other failed.
t_no_false_detection_under_load() {
	local port hpid out a b
	fresh || return 1
	wait_for 30 "the backup to watch its active" peer_state_is backup alive || return 1
	port=$(vm port) || return 1
	python3 - "$port" "$LOAD_SECONDS" >"$TMPD/http.out" 2>&1 <<'PY' &
import sys, time, urllib.request
port, secs = int(sys.argv[1]), float(sys.argv[2])
end, n, err = time.time() + secs, 0, 0
while time.time() < end:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5).read()
        n += 1
    except Exception:
        err += 1
print(f"host client: {n} requests, {err} errors")
PY
	hpid=$!
	out=$(vm exec active --timeout $((LOAD_SECONDS + 120)) \
		"orthros-load --cpu 3 --timers 16 --disk /data --writers 2 --seconds $LOAD_SECONDS --json")
	local rc=$?
	wait "$hpid"
	echo "figure: active's load: $out"
	sed 's/^/figure: /' "$TMPD/http.out"
	[ $rc -eq 0 ] || fail "the load did not run" || return 1
	a=$(status_json active) && b=$(status_json backup) || return 1
	python3 - "$a" "$b" "$LOAD_SECONDS" <<'PY'
import json, sys
a, b, secs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
for n, s in (("active", a), ("backup", b)):
    h = s["heartbeat"]
    assert s["peer"]["state"] == "alive", (n, s["peer"], h)
    assert "failure" not in s, (n, s["failure"])
    limit = h["period_ms"] * h["misses"] * 1000
    p = h["probes"]
    print(f"figure: {n}: {h['beats_seen']} beats seen, longest gap {h['max_gap_us'] / 1000:.1f} ms "
          f"(failure after {limit / 1000:.0f} ms); NMI probes of late beats: {p['sent']} sent, "
          f"{p['answered']} answered, {p['irqs_off']} with interrupts off")
    assert h["beats_seen"] >= secs * 1000 / h["period_ms"] * 0.5, (n, h)
PY
}

# refuses WHAT TEXT: corrupt WHAT, crash the active; the backup must refuse, saying TEXT
refuses() {
	local what=$1 text=$2 pid st
	fresh || return 1
	wait_for 30 "the backup to watch its active" peer_state_is backup alive || return 1
	vm exec active "orthros shm corrupt $what" || return 1
	vm exec active --timeout 60 "orthros-crash syscall" >/dev/null 2>&1 &
	pid=$!
	wait_for 60 "the backup to refuse" backup_says "refusing to act on it"
	local rc=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $rc -eq 0 ] || return 1
	grep -F "refusing" "$TOP/build/vm/$VM/console-backup_a.log" | tr -d '\r'
	st=$(status_json backup) || fail "the backup stopped answering" || return 1
	python3 - "$st" "$text" <<'PY'
import json, sys
s, text = json.loads(sys.argv[1]), sys.argv[2]
assert s["peer"]["state"] == "refused", s["peer"]
assert text in s["heartbeat"].get("refused", ""), s["heartbeat"]
assert "failure" not in s, s["failure"]
PY
}

t_refuses_bad_magic() { refuses magic "bad magic"; }
t_refuses_bad_version() { refuses version "version 99"; }
t_refuses_bad_checksum() { refuses checksum "header checksum"; }
t_refuses_bad_os_record() { refuses os:1 "OS table record of OS 1"; }

t_exec_on_peer() {
	fresh || return 1
	wait_for 30 "the channel" peer_state_is active alive || return 1
	local out rc
	out=$(vm exec active "orthros exec --peer 'cat /sys/kernel/orthros/role; exit 3'")
	rc=$?
	expect_eq "output from the backup" "$out" backup || return 1
	expect_eq "exit status from the backup" "$rc" 3 || return 1
	out=$(vm exec backup "orthros exec --peer 'cat /sys/kernel/orthros/ordinal'") || return 1
	expect_eq "output from the active" "$out" 1 || return 1
	out=$(vm exec active "orthros exec --peer 'seq 1 20000' | md5sum") || return 1
	expect_eq "long output" "$out" "$(seq 1 20000 | md5sum)" || return 1
	out=$(vm exec active "orthros exec --peer 'echo to-stderr >&2' 2>&1 >/dev/null") || return 1
	expect_eq "stderr" "$out" to-stderr
}

t_messages_both_ways() {
	local ra rb
	vm exec backup "rm -f /tmp/ready; orthros msg recv --port 7 --count $MESSAGES --ready /tmp/ready --json >/tmp/recv.json 2>&1 &" || return 1
	vm exec active "rm -f /tmp/ready; orthros msg recv --port 8 --count $MESSAGES --ready /tmp/ready --json >/tmp/recv.json 2>&1 &" || return 1
	wait_for 30 "the receivers" vm exec backup 'test -e /tmp/ready' || return 1
	wait_for 30 "the receivers" vm exec active 'test -e /tmp/ready' || return 1
	vm exec backup --timeout 900 "orthros msg send --port 8 --count $MESSAGES --json >/tmp/send.json 2>&1 &" || return 1
	ra=$(vm exec active --timeout 900 "orthros msg send --port 7 --count $MESSAGES --json") || return 1
	echo "figure: active sent: $ra"
	wait_for 600 "the active's receiver" vm exec active 'grep -q received /tmp/recv.json' || return 1
	wait_for 600 "the backup's receiver" vm exec backup 'grep -q received /tmp/recv.json' || return 1
	echo "figure: backup sent: $(vm exec backup 'cat /tmp/send.json')"
	ra=$(vm exec active 'cat /tmp/recv.json') && rb=$(vm exec backup 'cat /tmp/recv.json') || return 1
	echo "figure: active received: $ra"
	echo "figure: backup received: $rb"
	python3 - "$ra" "$rb" "$MESSAGES" <<'PY'
import json, sys
n = int(sys.argv[3])
for r in map(json.loads, sys.argv[1:3]):
    assert r["received"] == n and r["lost"] == 0 and r["duplicated"] == 0, r
    assert r["reordered"] == 0 and r["corrupt"] == 0, r
PY
}

# The backup dies hard: the active notices, says so, and a new backup replaces it.
t_active_notices_dead_backup() {
	fresh || return 1
	wait_for 30 "the active to see its backup" peer_state_is active alive || return 1
	vm exec backup --timeout 20 'orthros-crash hang' >/dev/null 2>&1 &
	local pid=$!
	wait_for 60 "the active to declare its backup failed" peer_state_is active failed
	local rc=$?
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ $rc -eq 0 ] || return 1
	vm exec active 'orthros status' | grep -E "peer|failure|last beat"
	vm exec active 'orthros-boot --start-only --replace' >/dev/null || fail "orthros-boot --replace failed" || return 1
	wait_for 60 "the new backup to be alive" peer_state_is active alive
}

run_tests
