#!/usr/bin/env bash
# Failover I: the backup stops the dead active's cores, takes its devices and its
# address, mounts the user-data disk and migrates the dead kernel's dirty ext3
# page cache, so that every write() the active acknowledged is on the disk.
. "$(dirname "$0")/lib.sh"

TMPD=$(mktemp -d)
ACK_PORT=10

teardown() {
	vm kill
	rm -rf "$TMPD"
}

# crash HOW: crash the active the way HOW says, while the writer runs
crash() {
	local cmd
	case $1 in
	syscall) cmd='orthros-crash syscall' ;;
	write) cmd='echo "write $(pidof orthros-writer)" > /sys/kernel/orthros_inject' ;;
	user) cmd='echo "user $(pidof orthros-writer)" > /sys/kernel/orthros_inject' ;;
	esac
	vm exec active --timeout 40 "$cmd" >/dev/null 2>&1 &
	CRASH_PID=$!
}

# the cause each crash leaves in the backup's failure record
declare -A CAUSE=([syscall]="orthros-inject: panic in a system call"
	[write]="in the middle of write()" [user]="interrupted in user code")

# detected HOW: the backup recorded a panic with HOW's cause, a detection
# latency and the last beat it saw (heartbeat.t's detection tests, merged here)
detected() {
	status_json backup | python3 -c 'import json,sys
s = json.load(sys.stdin)
f = s.get("failure")
assert f, "no failure in the status: %s" % s
assert f["ordinal"] == 1 and f["kind"] == "panic", f
assert sys.argv[1] in f["cause"], "cause %r lacks %r" % (f["cause"], sys.argv[1])
assert f["detect_latency_us"] > 0 and f["last_beat"] > 0, f
print("figure: detected: %s; latency %.3f ms from the %s; last beat #%d" % (f["cause"], f["detect_latency_us"] / 1e3, f["latency_from"], f["last_beat_count"]))' "${CAUSE[$1]}"
}

timeline() {
	status_json backup | python3 -c 'import json,sys
f = json.load(sys.stdin)["failover"]
print("figure: timeline: " + ", ".join("%s %.1f+%.1f ms" % (p["name"], p["start_us"] / 1e3, (p["duration_us"] or 0) / 1e3) for p in f["phases"]))
m = f["migrate"]
print("figure: migrated %d files (%d created, %d resized), %d pages, %d bytes; %d skipped" % (m["files"], m["created"], m["resized"], m["pages"], m["bytes"], m["skipped"]))'
}

# await_failover: wait for the failover the crash started, then stop the
# crash command (its console died with the active)
await_failover() {
	wait_for 90 "the failover to finish" failover_done
	local rc=$?
	kill "$CRASH_PID" 2>/dev/null; wait "$CRASH_PID" 2>/dev/null
	return $rc
}

# failover_after HOW [hold]: the whole story for one way of crashing
failover_after() {
	pair || return 1
	if [ "${2:-}" = hold ]; then hold_cache || return 1; fi
	run_writer || return 1
	crash "$1"
	await_failover || { vm exec backup 'dmesg | grep orthros | tail -20'; return 1; }
	detected "$1" || return 1
	timeline
	verify && fsck_clean
}

t_during_syscall() { failover_after syscall hold; }

# The timeline of a failover: the two moments, the critical path to "service
# back" and the picture.  The cores come online after "service back" (phase
# cpus, off the path), beside the next backup's image (phase image, its pages
# held through the memory phase) and start.
t_timeline_marks_the_critical_path_and_the_moments() {
	pair && run_writer || return 1
	crash syscall
	await_failover || { vm exec backup 'dmesg | grep orthros | tail -20'; return 1; }
	wait_for 120 "a new backup's first beat (protected again)" sh -c \
		"'$TOP/tests/vm' --name '$VM' exec backup 'orthros status --json' | grep -q '\"protected_us\":[0-9]'" || return 1
	status_json backup >"$TMPD/tl.json" || return 1
	vm exec backup 'orthros status --svg /tmp/tl.svg && cat /tmp/tl.svg' >"$TMPD/tl.svg" ||
		fail "orthros status --svg failed" || return 1
	vm exec backup 'orthros status' | grep -E '^\s+(service back|protected again)' | sed 's/^ */figure: /'
	python3 - "$TMPD/tl.json" "$TMPD/tl.svg" <<'PY' || return 1
import json, sys
import xml.etree.ElementTree as ET
fo = json.load(open(sys.argv[1]))["failover"]
ph, back, prot = fo["phases"], fo["service_back_us"], fo["protected_us"]
bad = []
if not back or not prot or prot <= back:
    bad.append(f"moments: service back {back}, protected again {prot}")
# the path, recomputed: backwards from "service back", each step the phase that ended last
want, at = [], back
while at:
    c = [p for p in ph if p["duration_us"] is not None and p["name"] not in want
         and p["start_us"] < at and p["start_us"] + p["duration_us"] <= at]
    if not c:
        break
    p = max(c, key=lambda p: (p["start_us"] + p["duration_us"], -p["start_us"]))
    want.append(p["name"])
    at = p["start_us"]
want.reverse()
got = fo["critical_path"]["phases"]
if got != want:
    bad.append(f"critical path {got}, recomputed {want}")
for p in ph:
    end = p["start_us"] + (p["duration_us"] or 0)
    path = "critical" if p["name"] in want else "after" if p["start_us"] >= back else "beside"
    if p["path"] != path:
        bad.append(f"phase {p['name']} at {p['start_us']} us is {p['path']}, want {path}")
# what the service needs is on it; what it does not need comes after it
for n in ("detection", "cores", "devices", "mount", "service"):
    if n not in got:
        bad.append(f"{n} is not on the critical path {got}")
for n in ("cpus", "image", "backup"):
    if not any(p["name"] == n and p["path"] == "after" for p in ph):
        bad.append(f"{n} does not come after service back: {[(p['name'], p['path']) for p in ph]}")
cp = fo["critical_path"]
if abs(cp["in_phases_us"] + cp["between_us"] - back) > 1:
    bad.append(f"path {cp['in_phases_us']} us in phases + {cp['between_us']} us between != service back {back} us")
# the picture: a bar per phase with its path, a line per moment
svg = ET.parse(sys.argv[2]).getroot()
ns = "{http://www.w3.org/2000/svg}"
bars = {g.find(ns + "title").text.split(":")[0]: g.get("class").split()[1]
        for g in svg.iter(ns + "g") if (g.get("class") or "").startswith("phase ")}
if bars != {p["name"]: p["path"] for p in ph}:
    bad.append(f"the picture's bars {bars}")
texts = " ".join(t.text or "" for t in svg.iter(ns + "text"))
for m in ("service back", "protected again"):
    if m not in texts:
        bad.append(f"the picture lacks the moment {m!r}")
print("figure: critical path %s: %.1f ms in phases, %.1f ms between; service back %.1f ms, protected again %.1f ms"
      % (" ".join(got), cp["in_phases_us"] / 1e3, cp["between_us"] / 1e3, back / 1e3, prot / 1e3))
print("figure: after service back: " + ", ".join("%s %.1f+%.1f ms" % (p["name"], p["start_us"] / 1e3, (p["duration_us"] or 0) / 1e3) for p in ph if p["path"] == "after"))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
	# the next backup's image was held through the memory phase and copied
	# from its held pages after service back; holding it again is refused
	# now (OS 1's memory is this OS's), and giving back nothing is no error
	vm exec backup dmesg | grep -E "took OS 1's kept image from its held pages" | sed 's/^[^]]*] /figure: /' | grep . ||
		fail "the next backup's image was not taken from its held pages" || return 1
	local out
	out=$(vm exec backup 'orthros-boot --adopt 1 --hold 2>&1; echo rc=$?')
	grep -q "rc=1" <<<"$out" && grep -q "its memory is this OS's already" <<<"$out" ||
		fail "holding the image after the memory phase was not refused: $out" || return 1
	echo "figure: ${out%%$'\n'*}"
	out=$(vm exec backup 'orthros-boot --unhold 2>&1; echo rc=$?; dmesg | grep -c "gave back the" || true')
	[ "$(sed -n 1p <<<"$out")" = rc=0 ] && [ "$(sed -n 2p <<<"$out")" = 0 ] ||
		fail "--unhold with nothing held: $out" || return 1
}
t_during_file_write() { failover_after write; }
t_in_user_code() { failover_after user; }

# A dead kernel whose page-cache tree of one file is unreadable (its head
# points outside its memory): the tree cannot vouch for any of its pages, the
# memmap witness finds them all, and the file is carried whole, the
# disagreement named; everything else is kept.
t_survives_corrupted_page_cache() {
	local st sum
	pair || return 1
	# held dirty in the cache: a file committed and clean is not read at all
	hold_cache || return 1
	run_writer || return 1
	vm exec active 'dd if=/dev/urandom of=/data/w/victim bs=4k count=8 2>/dev/null' || return 1
	sum=$(vm exec active 'md5sum < /data/w/victim') || return 1
	vm exec active --timeout 40 'echo "corrupt /data/w/victim" > /sys/kernel/orthros_inject' >/dev/null 2>&1 &
	CRASH_PID=$!
	await_failover || return 1
	timeline
	st=$(status_json backup) || fail "the backup stopped answering" || return 1
	python3 - "$st" <<'PY' || return 1
import json, sys
m = json.loads(sys.argv[1])["failover"]["migrate"]
assert m["disagreements"] >= 1 and "/w/victim" in m["first_disagreement"], m
assert m["nr_losses"] == 0, m
print("figure: disagreement:", m["first_disagreement"])
PY
	expect_eq "the victim's content on the new active" "$(vm exec backup 'md5sum < /data/w/victim')" "$sum" || return 1
	verify
}

# damaged_tree [ORTHROS_MIGRATE]: the writer's f1 has its page-cache leaf of
# pages 64-127 overwritten with a byte pattern and its parent's marks for it
# cleared (the injector's damage-cache), then the active panics; prints the
# migration's status
damaged_tree() {
	pair ${1:+"orthros_migrate=$1"} || return 1
	hold_cache || return 1
	run_writer || return 1
	wait_for 60 "f1 to hold 128 pages" vm exec active 'test $(stat -c %s /data/w/f1) -ge 524288' || return 1
	vm exec active --timeout 40 'echo "damage-cache /data/w/f1" > /sys/kernel/orthros_inject' >/dev/null 2>&1 &
	CRASH_PID=$!
	await_failover || return 1
	vm log backup | grep -E 'damaged the page-cache tree|disagreement:|lost:' | tail -n 5 | sed 's/^/figure: /'
	status_json backup >"$TMPD/st.json" || fail "the backup stopped answering"
}

# The second witness: with f1's tree damaged, the memmap finds its pages
# 64-127 (dirty, naming f1's mapping and their index) and they are carried;
# not a byte is lost, and the damage is named as a disagreement.
t_damaged_cache_tree_is_carried_by_the_memmap() {
	damaged_tree || return 1
	python3 - "$TMPD/st.json" <<'PY' || return 1
import json, sys
m = json.load(open(sys.argv[1]))["failover"]["migrate"]
assert m["memmap"] and m["memmap_scanned"] > 0, m
assert m["nr_losses"] == 0 and m["lost_bytes"] == 0, m
assert m["disagreements"] >= 1, m
print("figure: memmap: %d struct pages read in %d us; pages named: tree %d, memmap %d; %d disagreements, first: %s" % (
    m["memmap_scanned"], m["memmap_us"], m["tree_pages"], m["memmap_pages"], m["disagreements"], m["first_disagreement"]))
PY
	verify
}

# The control: with the memmap witness switched off (orthros_migrate=tree-only)
# the same damage loses f1's pages 64-127, and the loss is named (file, byte
# range, why): the verify finds every bad byte inside it, none silent.
t_damaged_cache_tree_without_the_memmap_is_named() {
	damaged_tree tree-only || return 1
	python3 - "$TMPD/st.json" <<'PY' || return 1
import json, sys
m = json.load(open(sys.argv[1]))["failover"]["migrate"]
assert not m["memmap"], m
f1 = [l for l in m["losses"] if l["file"] == "/data/w/f1"]
assert f1 and f1[0]["start"] <= 64 * 4096 and f1[0]["end"] >= 128 * 4096, m["losses"]
print("figure: named: %s bytes %d-%d: %s" % (f1[0]["file"], f1[0]["start"], f1[0]["end"], f1[0]["why"]))
PY
	local v
	NAMED_LOSS_OK=1 verify || return 1
	v=$(vm exec backup 'orthros-writer verify --dir /data/w --acks /tmp/acks --named /tmp/named --json')
	python3 -c 'import json,sys; v = json.loads(sys.argv[1]); sys.exit(0 if v["named_bad_bytes"] > 0 else 1)' "$v" ||
		fail "the damage lost nothing without the memmap: the test does not damage what it means to: $v"
}

# A file whose last journal transaction had committed before the crash is on the
# disk already: the migration leaves it alone (it used to rewrite every cached
# file, and a repeated failover's migration grew with each generation's files),
# while the writer's files, in the running transaction, are still copied.
t_committed_files_are_left_alone() {
	local st sum
	pair || return 1
	vm exec active 'dd if=/dev/urandom of=/data/committed bs=64k count=64 2>/dev/null &&
		md5sum /data/committed > /tmp/committed.md5 && sync' || return 1
	sum=$(vm exec active 'cut -d" " -f1 /tmp/committed.md5') || return 1
	hold_cache || return 1
	run_writer || return 1
	crash syscall
	await_failover || return 1
	timeline
	st=$(status_json backup) || fail "the backup stopped answering" || return 1
	python3 - "$st" <<'PY' || return 1
import json, sys
m = json.loads(sys.argv[1])["failover"]["migrate"]
print("figure: %d files written, %d committed files left alone" % (m["files"], m["committed"]))
assert m["committed"] >= 1, "no committed file was left alone: %s" % m
assert m["files"] >= 8, "the writer's 8 files were not all written: %s" % m
PY
	! vm exec backup 'dmesg | grep "orthros-migrate: /committed:"' ||
		fail "the migration rewrote /committed, whose transaction had committed" || return 1
	[ "$(vm exec backup 'md5sum /data/committed | cut -d" " -f1')" = "$sum" ] ||
		fail "/data/committed changed across the failover" || return 1
	verify
}

# The same as failover-during-syscall with the migration switched off: the loss must show.
t_without_migration_loses_data() {
	pair orthros_migrate=off || return 1
	hold_cache || return 1
	run_writer || return 1
	crash syscall
	await_failover || return 1
	local v
	v=$(vm exec backup 'orthros-writer verify --dir /data/w --acks /tmp/acks --json')
	echo "figure: without migration: $v"
	python3 -c 'import json,sys; v = json.loads(sys.argv[1]); sys.exit(0 if v["bad_bytes"] > 0 or v["missing_files"] > 0 or v["short_files"] > 0 else 1)' "$v" ||
		fail "no loss without the migration: the test could not see one"
}

run_tests
