#!/usr/bin/env python3
"""The host side of workloads/orthros-net: a TCP peer and a UDP echo on
127.0.0.1:PORT (the guest reaches it as 10.0.2.2:PORT through QEMU's user
network), checking every byte.

    netpeer.py --port P --status FILE [--rate BYTES_PER_S]

TCP: each connection gets a record stream (stream 11) written as fast as the
guest takes it, up to --rate (default 262144 B/s), and the guest's stream
(stream 10) is read and every record compared with the one expected.
UDP: each datagram must be a whole record of stream 12; it is sent back.
A reset or an end of a connection is counted ("resets", "closed") and is an
error, as a bad byte is.  Every 0.2 s, and at SIGTERM, FILE gets one line of
JSON: {"conns", "sent", "received", "udp_in", "errors", "resets", "closed",
"last_error", "max_gap_ms", "state"}; max_gap_ms: the longest time between
two arrivals on a connection (the pause the failover made).
"""
import argparse
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

M64 = (1 << 64) - 1
REC = 64


def mix(x):
    x ^= x >> 30
    x = (x * 0xbf58476d1ce4e5b9) & M64
    x ^= x >> 27
    x = (x * 0x94d049bb133111eb) & M64
    return x ^ (x >> 31)


def make(stream, seq):
    data = [mix(((stream << 56) & M64) ^ ((seq * 5 + i) & M64)) for i in range(5)]
    head = struct.pack("<QII", seq, stream, 0x4f525448)
    words = [seq, stream | (0x4f525448 << 32)] + data
    c = 0
    for w in words:
        c = mix(c ^ w)
    return head + struct.pack("<5QQ", *data, c)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.in_seq = 0
        self.out_seq = 0
        self.out = b""
        self.last = time.monotonic()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--rate", type=int, default=262144)
    a = ap.parse_args()
    st = {"conns": 0, "sent": 0, "received": 0, "udp_in": 0, "errors": 0, "resets": 0,
          "closed": 0, "last_error": "", "max_gap_ms": 0, "state": "running"}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    def error(msg):
        st["errors"] += 1
        st["last_error"] = msg[:150]
        print(f"netpeer: {msg}", file=sys.stderr, flush=True)

    def write_status():
        tmp = f"{a.status}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(st) + "\n")
        os.replace(tmp, a.status)

    lsn = socket.socket()
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", a.port))
    lsn.listen(8)
    lsn.setblocking(False)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", a.port))
    udp.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsn, selectors.EVENT_READ, "listen")
    sel.register(udp, selectors.EVENT_READ, "udp")
    conns = []
    budget, tick, reported = 0.0, time.monotonic(), 0.0
    write_status()
    while not stop:
        now = time.monotonic()
        budget = min(a.rate, budget + (now - tick) * a.rate)
        tick = now
        for c in list(conns):  # the stream to the guest, paced
            if not c.out and budget >= 4096:
                c.out = b"".join(make(11, c.out_seq + i) for i in range(64))
                c.out_seq += 64
                budget -= len(c.out)
            if c.out:
                try:
                    n = c.sock.send(c.out)
                    c.out = c.out[n:]
                    st["sent"] += n
                except BlockingIOError:
                    pass
                except OSError as e:
                    drop(c, conns, sel, st, error, e)
                    continue
        for key, _ in sel.select(0.02):
            if key.data == "listen":
                try:
                    s, _ = lsn.accept()
                except BlockingIOError:
                    continue
                s.setblocking(False)
                c = Conn(s)
                conns.append(c)
                sel.register(s, selectors.EVENT_READ, c)
                st["conns"] += 1
            elif key.data == "udp":
                try:
                    d, addr = udp.recvfrom(2048)
                except BlockingIOError:
                    continue
                st["udp_in"] += 1
                if len(d) != REC or d != make(12, struct.unpack_from("<Q", d)[0]):
                    error(f"udp: a datagram of {len(d)} bytes is not a record of stream 12")
                try:
                    udp.sendto(d, addr)
                except OSError as e:
                    error(f"udp: sendto: {e}")
            else:
                c = key.data
                if c not in conns:  # dropped while sending in this round
                    continue
                try:
                    d = c.sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    drop(c, conns, sel, st, error, e)
                    continue
                if not d:
                    drop(c, conns, sel, st, error, None)
                    continue
                now = time.monotonic()
                st["max_gap_ms"] = max(st["max_gap_ms"], int((now - c.last) * 1000))
                c.last = now
                c.inbuf += d
                while len(c.inbuf) >= REC:
                    r, c.inbuf = c.inbuf[:REC], c.inbuf[REC:]
                    if r != make(10, c.in_seq):
                        error(f"tcp: record {c.in_seq} from the guest does not check "
                              f"(it says seq {struct.unpack_from('<Q', r)[0]})")
                    c.in_seq += 1
                    st["received"] += 1
        if time.monotonic() - reported > 0.2:
            write_status()
            reported = time.monotonic()
    st["state"] = "fail" if st["errors"] else "pass"
    write_status()
    return 1 if st["errors"] else 0


def drop(c, conns, sel, st, error, e):
    if isinstance(e, ConnectionResetError):
        st["resets"] += 1
        error("tcp: the connection was reset")
    elif e is None:
        st["closed"] += 1
        error("tcp: the guest closed the connection")
    else:
        error(f"tcp: {e}")
    sel.unregister(c.sock)
    c.sock.close()
    conns.remove(c)


if __name__ == "__main__":
    sys.exit(main())
