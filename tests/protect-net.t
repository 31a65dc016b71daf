#!/usr/bin/env bash
# Protected processes II: network connections across the failover.
# orthros-net (workload e) keeps a TCP connection and a UDP flow with a peer on
# the host (tests/lib/netpeer.py, reached through QEMU's user network as
# 10.0.2.2), both sides checking every byte; the active is crashed and the
# backup rebuilds the connection from the dead kernel's tcp_sock by TCP repair:
# the peer sees a pause, never a reset, and the stream goes on where it was.
# The control: with rescue off the peer sees the connection reset or closed.
. "$(dirname "$0")/lib.sh"

TMPD=$(mktemp -d)
WL=/data/p

teardown() {
	stop_peer
	stop_client
	vm kill
	rm -rf "$TMPD"
}

# Each test runs in a subshell: the peer's pid is kept in a file, so that the
# next test (and teardown) stops the previous one; each peer has its own status
# file (two peers writing one file made a later test read an earlier one's reset).
# stop_pidfile FILE WHAT TIMEOUT: stop the host process whose pid FILE holds
stop_pidfile() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait_for "$3" "$2 $pid to exit" sh -c "! kill -0 $pid" || return 1
	rm -f "$1"
}
stop_peer() { stop_pidfile "$TMPD/peer.pid" "the host peer" 10; }

# start_peer: the host side on a free port of loopback
start_peer() {
	stop_peer
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	PEER_ST=$TMPD/peer.$PORT.st
	PEER_ERR=$TMPD/peer.$PORT.err
	python3 "$TOP/tests/lib/netpeer.py" --port "$PORT" --status "$PEER_ST" 2>"$PEER_ERR" &
	echo $! >"$TMPD/peer.pid"
	wait_for 10 "the host peer" test -s "$PEER_ST"
}

peer() { # FIELD: from the host peer's status line
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$PEER_ST" "$1"
}

guest() { # FIELD[,FIELD...]: from one status line of orthros-net on OS ROLE ($2, default backup)
	vm exec "${2:-backup}" "cat $WL/net.st" |
		python3 -c 'import json,sys; s = json.loads(sys.stdin.read()); print(" ".join(str(s[k]) for k in sys.argv[1].split(",")))' "$1"
}

udp_figure() { # ROLE: the UDP counts, from one status line
	local sent back
	read -r sent back < <(guest udp_sent,udp_back "$1")
	echo "udp datagrams sent $sent, back $back, lost $((sent - back))"
}

peer_got_more_than() { [ "$(peer received)" -gt "$1" ]; }
guest_got_more_than() { [ "$(guest received "$2")" -gt "$1" ]; }

# start: orthros-net (and the file checker, for the crash in a file write), protected
start() {
	start_peer || return 1
	vm exec active "mkdir -p $WL && cd $WL &&
		(setsid orthros-protect -- orthros-net --peer $(prof_get service_gw):$PORT --status $WL/net.st </dev/null >$WL/net.log 2>&1 &) &&
		(setsid orthros-protect -- orthros-filecheck --dir $WL/fc --status $WL/fc.st </dev/null >$WL/fc.log 2>&1 &)" || return 1
	wait_for 60 "orthros-net's status" vm exec active "cat $WL/net.st" || return 1
	vm exec active sync || return 1
	wait_for 60 "records both ways" peer_got_more_than 2000 || return 1
	wait_for 30 "orthros-net to receive" guest_got_more_than 2000 active || return 1
	NET_PID=$(guest pid active)
	FC_PID=$(vm exec active "cat $WL/fc.st" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["pid"])')
	echo "figure: before the crash: unread in the guest $(guest unread active) bytes, $(udp_figure active)"
}

# net_state [ROLE]: what both sides say about the connection (after a failure)
net_state() {
	echo "host peer: $(cat "$PEER_ST")"
	tail -5 "$PEER_ERR"
	vm exec "${1:-backup}" --timeout 10 "tail -3 $WL/net.log; grep -A1 '^Tcp:' /proc/net/snmp; cat /proc/net/tcp; dmesg | grep -i 'orthros\|TCP' | tail -8"
}

# carried HOW: crash the active HOW; the connection and the flow go on
carried() {
	local cmd recv0 g0 o
	pair || return 1
	start || return 1
	case $1 in
	syscall) cmd='orthros-crash syscall' ;;
	write) cmd="echo 'write $FC_PID' > /sys/kernel/orthros_inject" ;;
	user) cmd="echo 'user $NET_PID' > /sys/kernel/orthros_inject" ;;
	read) cmd="echo 'read $NET_PID' > /sys/kernel/orthros_inject" ;;
	esac
	vm exec active "test -d /proc/$NET_PID" || { fail "orthros-net died before the crash"; net_state active; return 1; }
	crash_and_fail_over "$cmd" "$TMPD/st.json" || { net_state active; return 1; }
	o=$(python3 -c 'import json,sys; print(" ".join(sorted("%d:%s" % (p["pid"], p["outcome"]) for p in json.load(open(sys.argv[1]))["failover"]["processes"])))' "$TMPD/st.json")
	expect_eq "outcomes" "$o" "$(printf '%s\n' "$NET_PID:restored" "$FC_PID:restored" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" || return 1
	if [ "$1" = read ]; then
		vm log backup | grep -E 'interrupted in (read|recvfrom)\(\)' | sed 's/^/figure: /'
		vm log backup | grep -E "tid $NET_PID: read\(.*from a socket had taken" | sed 's/^/figure: /' | grep . ||
			fail "the rescue did not find the read in progress" || return 1
	fi
	recv0=$(peer received)
	g0=$(guest received) || return 1
	# the same connection carries on both ways, with every byte checked
	wait_for 60 "the host to receive 2000 more records" peer_got_more_than $((recv0 + 2000)) || { net_state; return 1; }
	wait_for 60 "orthros-net to receive 2000 more records" guest_got_more_than $((g0 + 2000)) backup || { net_state; return 1; }
	expect_eq "connections the host accepted" "$(peer conns)" 1 || { net_state; return 1; }
	expect_eq "resets the host saw" "$(peer resets)" 0 || { net_state; return 1; }
	expect_eq "closes the host saw" "$(peer closed)" 0 || { net_state; return 1; }
	expect_eq "errors of the host peer" "$(peer errors)" 0 || { net_state; return 1; }
	expect_eq "errors of orthros-net" "$(guest errors)" 0 || { vm exec backup "tail -5 $WL/net.log"; return 1; }
	expect_eq "orthros-net's pid" "$(guest pid)" "$NET_PID" || return 1
	expect_eq "errors of orthros-filecheck" "$(vm exec backup "cat $WL/fc.st" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["errors"])')" 0 || return 1
	echo "figure: the host's longest wait for a byte: $(peer max_gap_ms) ms; $(udp_figure backup)"
}

t_tcp_udp_survive_crash_in_syscall() { carried syscall; }
t_tcp_udp_survive_crash_in_file_write() { carried write; }
t_tcp_udp_survive_crash_in_user_code() { carried user; }
# A read() of the TCP socket in progress: the injector's "read" trap panics
# while orthros-net is inside it with bytes copied to its buffer (taken off
# the receive queue, or copied and still queued: tcp_recvmsg() moves its read
# mark after each piece).  The rescue makes the call return what it took (a
# restart lost those bytes: a gap the workload reports, seen in CI); every
# byte from the peer is checked in order.
t_tcp_read_in_progress_is_not_lost() { carried read; }

peer_saw_end() { [ $(( $(peer resets) + $(peer closed) )) -gt 0 ]; }

# The control: without rescue the connection dies with the active.
t_without_rescue_the_peer_sees_a_reset() {
	pair orthros_rescue=off || return 1
	start || return 1
	crash_and_fail_over 'orthros-crash syscall' "$TMPD/st.json" || return 1
	wait_for 120 "the host to see the connection reset or closed" peer_saw_end || return 1
	echo "figure: without rescue: host saw $(peer resets) resets, $(peer closed) closes: $(peer last_error)"
}

# Apache httpd (Debian's apache2-bin, installed on the user-data disk by
# scripts/build-disk.sh: prefork, one listener) as the protected service, its
# whole process tree (orthros-protect --tree), a host client with keep-alive
# connections checking every byte of every response (tests/lib/httpclient.py).
stop_client() { stop_pidfile "$TMPD/client.pid" "the host client" 70; }

client() { # FIELD: from the host client's status line
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMPD/client.st" "$1"
}
client_answers_more_than() { [ "$(client requests)" -gt "$1" ] && [ "$(client failed)" -eq 0 ]; }
apache_answers() {
	curl -s -m 5 -D "$TMPD/h" -o "$TMPD/body" "http://127.0.0.1:$(vm port)/" &&
		grep -q '^Server: Apache' "$TMPD/h" && cmp -s "$TMPD/body" "$TMPD/index.html"
}

start_apache() {
	vm exec active 'base64 /data/www/index.html' | base64 -d >"$TMPD/index.html" || return 1
	vm exec active "killall httpd; rm -f /data/apache/logs/httpd.pid;
		(setsid orthros-protect --tree -- env LD_LIBRARY_PATH=/data/apache/lib /data/apache/bin/apache2 -d /data/apache -f conf/httpd.conf -DFOREGROUND </dev/null >/data/apache/logs/stdout 2>&1 &)" || return 1
	wait_for 60 "Apache to answer the host" apache_answers || { vm exec active 'cat /data/apache/logs/error.log /data/apache/logs/stdout'; return 1; }
	vm exec active 'sync' || return 1
	APACHE_PID=$(vm exec active 'cat /data/apache/logs/httpd.pid') || return 1
	echo "figure: Apache: parent $APACHE_PID, $(vm exec active "ps | grep -c '[/]data/apache/bin/apache2'") processes"
	stop_client
	python3 "$TOP/tests/lib/httpclient.py" --port "$(vm port)" --status "$TMPD/client.st" \
		--expect "$TMPD/index.html" --conns 4 --server Apache 2>"$TMPD/client.err" &
	echo $! >"$TMPD/client.pid"
	wait_for 30 "the host client's first answers" client_answers_more_than 100
}

# apache_carried HOW: crash the active HOW with the client running; Apache
# answers on with the same processes and the same connections
apache_carried() {
	local cmd n0
	pair || return 1
	start_apache || return 1
	case $1 in
	syscall) cmd='orthros-crash syscall' ;;
	esac
	crash_and_fail_over "$cmd" "$TMPD/st.json" || return 1
	grep -q "\"pid\":$APACHE_PID,\"outcome\":\"restored\"" "$TMPD/st.json" ||
		{ fail "Apache ($APACHE_PID) was not restored"; cat "$TMPD/st.json"; return 1; }
	n0=$(client requests)
	wait_for 60 "500 more answers after the failover" client_answers_more_than $((n0 + 500)) ||
		{ cat "$TMPD/client.st"; vm exec backup 'tail -5 /data/apache/logs/error.log'; return 1; }
	stop_client || return 1
	echo "figure: host client: $(client requests) requests, longest wait for an answer $(client max_gap_ms) ms"
	expect_eq "failed requests" "$(client failed)" 0 || { cat "$TMPD/client.st"; return 1; }
	expect_eq "connections the client had to open again" "$(client reconnects)" 0 || { cat "$TMPD/client.st"; return 1; }
	expect_eq "Apache's parent" "$(vm exec backup 'cat /data/apache/logs/httpd.pid')" "$APACHE_PID" || return 1
	vm exec backup "test -d /proc/$APACHE_PID" || fail "Apache's parent does not run on the new active"
}

t_apache_survives_crash_in_syscall() { apache_carried syscall; }

# Workload (f): the asynchronous-I/O writer (libaio, O_DIRECT, 8 writes in
# flight), protected, the active crashed under it.  Its AIO context cannot be
# carried (docs/failover.md says why): the process is skipped with that reason,
# the new active lives on, and every write the writer saw complete is on the
# disk (orthros-aio --verify against its last status line, carried by the
# page-cache migration).
t_aio_writer_completed_writes_on_disk() {
	local pid st=$WL/aio.st why
	pair || return 1
	vm exec active "mkdir -p $WL && (setsid orthros-protect -- orthros-aio --dir $WL --status $st </dev/null >$WL/aio.log 2>&1 &)" || return 1
	wait_for 60 "the AIO writer's status" vm exec active "grep -q '\"pass\":[1-9]' $st" || return 1
	pid=$(vm exec active "cat $st" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["pid"])') || return 1
	echo "figure: before the crash: $(vm exec active "cat $st" | python3 -c 'import json,sys; s=json.loads(sys.stdin.read()); print("pass %d, %d writes completed, %d in flight" % (s["pass"], s["iter"], s["in_flight"]))')"
	crash_and_fail_over 'orthros-crash syscall' "$TMPD/st.json" || return 1
	why=$(python3 -c 'import json,sys
for p in json.load(open(sys.argv[1]))["failover"]["processes"]:
    if p["pid"] == int(sys.argv[2]): print(p["outcome"] + ": " + p["why"])' "$TMPD/st.json" "$pid")
	echo "figure: the AIO writer: $why"
	case $why in
	"skipped: "*"AIO context"*) ;;
	*) fail "the AIO writer's outcome does not name its AIO context: '$why'"; return 1 ;;
	esac
	vm exec backup "orthros-aio --verify \$(sed -n 's/.*\"file\":\"\([^\"]*\)\".*/\1/p' $st) --from $st" | sed 's/^/figure: /' ||
		fail "a write the AIO writer saw complete is not on the disk"
}

run_tests
