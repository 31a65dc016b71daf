#!/usr/bin/env python3
"""A host-side HTTP client of the guest's service that checks every response:
N keep-alive connections to 127.0.0.1:PORT, each asking GET PATH again and
again and comparing the whole response body with the expected bytes.

    httpclient.py --port P --status FILE --expect BODY_FILE [--conns N] [--path /]
                  [--server NAME]

A failed request (a reset, a connection closed by the server, a timeout, a
status other than 200, a body that differs) is counted and the connection is
opened again; "reconnects" counts those.  With --server NAME, an answer
whose Server header does not name NAME is a bad status (another server on
the port: a restarted service that is not the same program).  Each connection keeps its one TCP
connection for as long as the server keeps it: a failover that carries the
server's connections shows up as a pause, never as a reconnect.  Every 0.2 s,
and at SIGTERM, FILE gets one line of JSON: {"requests", "failed", "resets",
"closed", "timeouts", "bad_status", "bad_body", "reconnects", "bytes",
"max_gap_ms", "last_ok", "last_error", "state"}; max_gap_ms: the longest time
between two answers on one connection (the downtime the client saw), last_ok:
the time (monotonic s) of the last answer.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = dict(requests=0, failed=0, resets=0, closed=0, timeouts=0, bad_status=0,
                      bad_body=0, reconnects=0, bytes=0, max_gap_ms=0.0, last_ok=0.0,
                      last_error="")

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if k in ("max_gap_ms", "last_ok"):
                    self.c[k] = max(self.c[k], v)
                elif k == "last_error":
                    self.c[k] = v
                else:
                    self.c[k] += v

    def line(self, state):
        with self.lock:
            d = dict(self.c)
        d["state"] = state
        return json.dumps(d)


def worker(a, expect, stats, stop):
    conn = None
    last = None
    while not stop.is_set():
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
        try:
            conn.request("GET", a.path, headers={"Connection": "keep-alive"})
            r = conn.getresponse()
            body = r.read()
            now = time.monotonic()
            if r.status != 200 or (a.server and a.server not in (r.getheader("Server") or "")):
                stats.add(requests=1, failed=1, bad_status=1,
                          last_error=f"status {r.status} from {r.getheader('Server')}")
            elif body != expect:
                stats.add(requests=1, failed=1, bad_body=1,
                          last_error=f"a body of {len(body)} bytes differs from the expected {len(expect)}")
            else:
                gap = (now - last) * 1000 if last is not None else 0.0
                stats.add(requests=1, bytes=len(body), max_gap_ms=gap, last_ok=now)
                last = now
                if r.will_close:
                    conn.close()
                    conn = None
                    stats.add(reconnects=1)
                continue
        except ConnectionResetError as e:
            stats.add(requests=1, failed=1, resets=1, last_error=f"reset: {e}")
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, BrokenPipeError) as e:
            stats.add(requests=1, failed=1, closed=1, last_error=f"closed: {e!r}")
        except (socket.timeout, TimeoutError) as e:
            stats.add(requests=1, failed=1, timeouts=1, last_error=f"timeout: {e!r}")
        except OSError as e:
            stats.add(requests=1, failed=1, closed=1, last_error=f"{e!r}")
        if conn is not None:
            conn.close()
        conn = None
        stats.add(reconnects=1)
        stop.wait(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--status", required=True)
    ap.add_argument("--expect", required=True, help="a file with the exact body expected")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--path", default="/")
    ap.add_argument("--timeout", type=float, default=60, help="seconds one request may take")
    ap.add_argument("--server", default="", help="the Server header must name this")
    a = ap.parse_args()
    expect = open(a.expect, "rb").read()
    stats = Stats()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=worker, args=(a, expect, stats, stop), daemon=True)
               for _ in range(a.conns)]
    for t in threads:
        t.start()

    def write(state):
        tmp = f"{a.status}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(stats.line(state) + "\n")
        os.replace(tmp, a.status)

    while not stop.wait(0.2):
        write("running")
    for t in threads:
        t.join(timeout=a.timeout + 1)
    write("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
