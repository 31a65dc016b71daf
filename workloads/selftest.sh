#!/usr/bin/env bash
# Host-side self-test of the self-checking workloads (no VM): each one is run,
# frozen (SIGSTOP to its process group) for PAUSE seconds and resumed: no error
# may appear and it must go on; then it is run with --self-test-fault and with
# --fake-clock-jump: each must report its error and end with FAIL.
# Usage: workloads/selftest.sh BINDIR [PAUSE]   (BINDIR: e.g. build/guest)
set -uo pipefail
bin=$1 pause=${2:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
st=$(mktemp -d /tmp/wlselftest.XXXXXX)
trap 'rm -rf "$st"' EXIT
fail=0
progs=(filecheck threads pipes fpu)
args() { case $1 in filecheck) echo "--dir $st/fc.$2";; pipes) echo "--dir $st";; *) :;; esac; }
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fail=1; }
status_files() { ls "$st/$1".st* 2>/dev/null; }

for p in "${progs[@]}"; do
	# pause: freeze the whole group for $pause s, resume, must stay clean
	setsid "$bin/orthros-$p" $(args "$p" pause) --status "$st/$p.st" >"$st/$p.out" 2>"$st/$p.err" &
	pid=$!
	sleep 2
	kill -STOP -- -"$pid"; sleep "$pause"; kill -CONT -- -"$pid"
	sleep 1
	if python3 "$top/tests/lib/wlstatus.py" --watch 1 $(status_files "$p") >"$st/$p.judge"; then
		ok "$p: alive after a ${pause}s freeze: $(grep -c '^ok' "$st/$p.judge") process(es), $(grep -o 'longest pause [0-9.]* s' "$st/$p.judge" | head -1)"
	else
		bad "$p after a freeze"; cat "$st/$p.judge" "$st/$p.err"
	fi
	kill -TERM "$pid"; wait "$pid"; rc=$?
	if [ $rc = 0 ] && grep -q '^PASS' "$st/$p.out" && ! grep -q '^FAIL' "$st/$p.out" &&
		grep -q '"state":"pass"' $(status_files "$p"); then
		ok "$p: SIGTERM: $(grep -h '^PASS' "$st/$p.out" | tr '\n' ' ')"
	else
		bad "$p: SIGTERM exit $rc"; cat "$st/$p.out" "$st/$p.err"
	fi
	rm -f "$st/$p".st*

	# a fault in its own state must be reported
	"$bin/orthros-$p" $(args "$p" fault) --seconds 3 --self-test-fault 1 >"$st/$p.out" 2>"$st/$p.err"
	rc=$?
	if [ $rc = 1 ] && grep -q '^FAIL' "$st/$p.out" && grep -q ERROR "$st/$p.err"; then
		ok "$p: self-test fault reported: $(grep -m1 ERROR "$st/$p.err" | sed 's/.*ERROR at [0-9.]* s: //')"
	else
		bad "$p: self-test fault not reported (exit $rc)"; cat "$st/$p.out" "$st/$p.err"
	fi

	# a monotonic clock going back must be reported
	"$bin/orthros-$p" $(args "$p" clock) --seconds 3 --fake-clock-jump 1 >"$st/$p.out" 2>"$st/$p.err"
	rc=$?
	if [ $rc = 1 ] && grep -q 'monotonic went back by' "$st/$p.err"; then
		ok "$p: clock going back reported: $(grep -m1 'monotonic went back' "$st/$p.err" | sed 's/.*: ERROR at [0-9.]* s: //')"
	else
		bad "$p: clock going back not reported (exit $rc)"; cat "$st/$p.out" "$st/$p.err"
	fi
done
[ $fail = 0 ] && echo "all passed" || echo "FAILED"
exit $fail
