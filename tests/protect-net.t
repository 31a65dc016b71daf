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
	vm kill
	rm -rf "$TMPD"
}

# Each test runs in a subshell: the peer's pid is kept in a file, so that the
# next test (and teardown) stops the previous one; each peer has its own status
# file (two peers writing one file made a later test read an earlier one's reset).
stop_peer() {
	local pid
	pid=$(cat "$TMPD/peer.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait_for 10 "the host peer $pid to exit" sh -c "! kill -0 $pid" || return 1
	rm -f "$TMPD/peer.pid"
}

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
	esac
	vm exec active "test -d /proc/$NET_PID" || { fail "orthros-net died before the crash"; net_state active; return 1; }
	crash_and_fail_over "$cmd" "$TMPD/st.json" || { net_state active; return 1; }
	o=$(python3 -c 'import json,sys; print(" ".join(sorted("%d:%s" % (p["pid"], p["outcome"]) for p in json.load(open(sys.argv[1]))["failover"]["processes"])))' "$TMPD/st.json")
	expect_eq "outcomes" "$o" "$(printf '%s\n' "$NET_PID:restored" "$FC_PID:restored" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" || return 1
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

peer_saw_end() { [ $(( $(peer resets) + $(peer closed) )) -gt 0 ]; }

# The control: without rescue the connection dies with the active.
t_without_rescue_the_peer_sees_a_reset() {
	pair orthros_rescue=off || return 1
	start || return 1
	crash_and_fail_over 'orthros-crash syscall' "$TMPD/st.json" || return 1
	wait_for 120 "the host to see the connection reset or closed" peer_saw_end || return 1
	echo "figure: without rescue: host saw $(peer resets) resets, $(peer closed) closes: $(peer last_error)"
}

run_tests
