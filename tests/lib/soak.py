#!/usr/bin/env python3
"""Repeated failover: the soak users run (tests/failover.sh).

Boots the machine, starts the workloads (the page-cache writer, the namespace
writer, the four protected self-checking workloads, the service with a host
client), then crashes the active COUNT times in a row, rotating the crash
kinds.  After each failover it checks every acknowledged write and every
acknowledged namespace operation of every generation so far, every protected
process and the service, and prints one line: generation, crash kind,
detection, each phase, the time until the new backup watched, memory and cores
of the new active.  A generation's data is checked after each of the next KEEP
failovers (one rotation of the crash kinds), then removed.  Ends
with a summary; exit 1 on any loss, 2 on a usage error, 3 when QEMU itself
crashed under the machine (Debian 12's QEMU 7.2 multi-threaded TCG died of a
SIGSEGV now and then, a QEMU race; docs/machine.md, "Which QEMU").  See docs/failover.md, "Repeated failover".
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import wlstatus  # noqa: E402

KINDS = ["syscall", "write", "user", "oops", "sysrq", "hang"]
WL = "/data/p"
# Each generation's writer data is checked after every failover while it is
# one of the last KEEP generations (one rotation of the crash kinds), then a
# last time and removed: the user-data disk (384 MiB) holds about 20
# generations of 16 MiB, and a soak of 100 must not check O(n^2) bytes.
KEEP = len(KINDS)
STATUS = f"{WL}/fc.st {WL}/th.st {WL}/pi.st {WL}/pi.st.child {WL}/fp.st"
ACK_PORT = 10
# The namespace writer (orthros-fstree nsops): its acknowledgements on the
# next port; a pause between two operations (TCG: a few hundred a second),
# and how many must be acknowledged before the crash.
NS_PORT = ACK_PORT + 1
NS_PACE_US = 1000
NS_MIN = 20


class Loss(Exception):
    pass


def log(msg):
    print(msg, flush=True)


class Machine:
    def __init__(self, name):
        self.name = name

    def vm(self, *args, timeout=None, check=True):
        p = subprocess.run([os.path.join(TOP, "tests", "vm"), "--name", self.name, *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            out = (p.stdout + p.stderr).strip()
            i = out.find("QEMU exited")  # its reason first, then the consoles' tails
            out = out[i:][:1500] if i >= 0 else out[-600:]
            raise Loss(f"tests/vm {' '.join(args)[:200]}: exit {p.returncode}: {out}")
        return p.stdout

    def exec(self, area, cmd, timeout=30, check=True):
        return self.vm("exec", area, "--timeout", str(timeout), cmd,
                       timeout=timeout + 30, check=check)

    def status(self, area):
        return json.loads(self.exec(area, "orthros status --json"))

    def wait(self, seconds, what, fn):
        end = time.time() + seconds
        last = None
        while time.time() < end:
            try:
                r = fn()
                if r:
                    return r
            except (Loss, ValueError, KeyError, subprocess.TimeoutExpired) as e:
                last = e
            time.sleep(0.3)
        raise Loss(f"timed out after {seconds}s waiting for {what}" + (f" ({last})" if last else ""))


def area_of(ordinal):
    """Where OS ORDINAL runs: the 1st OS in its area, then A, B, A, ..."""
    return "first" if ordinal == 1 else ("backup_a" if ordinal % 2 == 0 else "backup_b")


def meminfo(m, area):
    out = m.exec(area, "cat /proc/meminfo")
    kv = {ln.split(":")[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.count(":") == 1 and len(ln.split()) >= 2}
    return kv.get("MemTotal", 0), kv.get("MemAvailable", 0)


def start_workloads(m):
    m.exec("first", f"mkdir -p {WL} /data/acks && cd {WL} && "
           f"(setsid orthros-protect -- orthros-filecheck --dir {WL}/fc --status {WL}/fc.st </dev/null >{WL}/fc.log 2>&1 &) && "
           f"(setsid orthros-protect -- orthros-threads --threads 8 --status {WL}/th.st </dev/null >{WL}/th.log 2>&1 &) && "
           f"(setsid orthros-protect --tree -- orthros-pipes --dir {WL} --status {WL}/pi.st </dev/null >{WL}/pi.log 2>&1 &) && "
           f"(setsid orthros-protect -- orthros-fpu --pace-us 200 --status {WL}/fp.st </dev/null >{WL}/fp.log 2>&1 &)")
    m.wait(60, "the workloads' status files", lambda: m.exec("first", f"cat {STATUS}", check=True))
    m.exec("first", "sync")


def workload_status(m, area):
    return m.exec(area, f"cat {STATUS}")


def pid_of(status_text, prog):
    for ln in status_text.splitlines():
        if ln.strip():
            s = json.loads(ln)
            if s["prog"] == prog and s.get("role", "main") in ("main", "parent"):
                return s["pid"]
    raise Loss(f"no status line of {prog}")


def crash_cmd(kind, status_text):
    return {
        "syscall": "orthros-crash syscall",
        "write": "echo \"write $(cat /tmp/writer.pid)\" > /sys/kernel/orthros_inject",
        "user": f"echo 'user {pid_of(status_text, 'orthros-fpu')}' > /sys/kernel/orthros_inject",
        "oops": "orthros-crash oops",
        "sysrq": "orthros-crash sysrq",
        "hang": "orthros-crash hang",
    }[kind]


def service_ok(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            return b"Orthros service" in r.read()
    except OSError:
        return False


def phases(st):
    return {p["name"]: p for p in st["failover"]["phases"]}


def ns_seed(seed, g):
    """The namespace writer's seed in generation G (not drawn from the soak's rng)."""
    return (seed * 1000003 + g) % (1 << 32)


def ns_verify(m, area, g, k, seed, acks, st, totals):
    """Generation K's namespace tree against its acknowledgements, after failover G."""
    out = m.exec(area, f"orthros-fstree nsverify /data/ns{k} --seed {ns_seed(seed, k)} --acks {acks} --json",
                 timeout=60, check=False)
    try:
        v = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Loss(f"generation {k}'s namespace, checked after failover {g}: nsverify said {out.strip()[-300:]!r}") from None
    if k in totals["ns_named"]:
        return v  # its loss was named at its failover: what is left is best effort
    was = totals["ns_matched"].setdefault(k, v["matched"])
    if not v["acked"]:
        why = f"no operation acknowledged: {v}"
    elif v["matched"] is None:
        at = f"none of 0..{v['acked'] + 1} operations" if v["tree_at"] is None else f"{v['tree_at']} operations"
        why = (f"{v['first']} ({v['differences']} differences with the model after the {v['acked']} "
               f"acknowledged; the tree is as after {at})")
    elif v["matched"] != was:
        why = f"the tree was as after {was} operations, now {v['matched']}: {v}"
    else:
        return v
    j = st.get("failover", {}).get("migrate", {}).get("journal", {})
    if k == g and v["matched"] is None and j.get("why"):
        # the failover left the running transaction out and said why (a handle
        # was open in it): a named loss, counted and shown, not a silent one
        totals["ns_named"][k] = j["why"]
        totals["ns_matched"].pop(k, None)
        log(f"  generation {k}: namespace operations lost, named: {j['why']} ({why})")
        v["named"] = j["why"]
        return v
    raise Loss(f"generation {k}'s acknowledged namespace operations, checked after failover {g}: {why}"
               + (f"; the failover's journal left out: {j['why']}" if j.get("why") else ""))


def one_failover(m, g, kind, port, rng, totals, seed):
    act, bak, nxt = area_of(g), area_of(g + 1), area_of(g + 2)
    # the writer of this generation; its acknowledgements logged on the backup
    m.exec(bak, f"rm -f /tmp/acks{g} /tmp/ready{g}; orthros-writer log --port {ACK_PORT} "
           f"--out /tmp/acks{g} --ready /tmp/ready{g} >/dev/null 2>&1 & echo $! > /tmp/logger{g}.pid")
    m.wait(20, "the backup's logger", lambda: m.exec(bak, f"test -e /tmp/ready{g} && echo y", check=False).strip() == "y")
    # the namespace writer's, on the next port
    m.exec(bak, f"rm -f /tmp/nsacks{g} /tmp/nsready{g}; orthros-writer log --port {NS_PORT} "
           f"--out /tmp/nsacks{g} --ready /tmp/nsready{g} >/dev/null 2>&1 & echo $! > /tmp/nslogger{g}.pid")
    m.wait(20, "the backup's namespace logger",
           lambda: m.exec(bak, f"test -e /tmp/nsready{g} && echo y", check=False).strip() == "y")
    m.exec(act, f"orthros-writer write --dir /data/g{g} --port {ACK_PORT} --files 4 >/tmp/writer.out 2>&1 & echo $! > /tmp/writer.pid")
    m.exec(act, f"rm -rf /data/ns{g}; orthros-fstree nsops /data/ns{g} --port {NS_PORT} --seed {ns_seed(seed, g)} "
           f"--pace-us {NS_PACE_US} >/tmp/nsops.out 2>&1 & echo $! > /tmp/nsops.pid")
    want = 100 + rng.randrange(300)
    m.wait(90, f"{want} acknowledged writes",
           lambda: int(m.exec(bak, f"wc -l < /tmp/acks{g}", check=False).strip() or 0) >= want)
    try:
        m.wait(60, f"{NS_MIN} acknowledged namespace operations",
               lambda: int(m.exec(bak, f"wc -l < /tmp/nsacks{g}", check=False).strip() or 0) >= NS_MIN)
    except Loss as e:
        raise Loss(f"{e}; nsops said: {m.exec(act, 'cat /tmp/nsops.out', check=False).strip()[-300:]!r}") from None
    # no failover nobody asked for: the roles are still as this soak made them
    st = m.status(bak)
    if st["role"] != "backup" or st["ordinal"] != g + 1 or st["peer"]["state"] != "alive":
        raise Loss(f"before crash {g}: OS in {bak} is {st['role']} {st['ordinal']}, peer {st['peer']} (a false failover?)")
    s0 = workload_status(m, act)
    cmd = crash_cmd(kind, s0)
    t0 = time.time()
    crasher = subprocess.Popen([os.path.join(TOP, "tests", "vm"), "--name", m.name, "exec", act,
                                "--timeout", "30", cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        st = m.wait(120, f"OS {g + 1} to take over from OS {g}", lambda: (
            lambda s: s if s.get("failover", {}).get("state") == "done" and s["failover"]["from_ordinal"] == g else None)(m.status(bak)))
    except Loss as e:
        crasher.kill()
        raise Loss(f"{e}; the crash command `{cmd}` said: {crasher.communicate()[0].strip()[-300:]}") from None
    finally:
        crasher.kill()
        crasher.wait()
    # every acknowledged write, this generation's and the KEEP before it
    v = json.loads(m.exec(bak, f"orthros-writer verify --dir /data/g{g} --acks /tmp/acks{g} --json", timeout=60))
    if v["bad_bytes"] or v["missing_files"] or v["short_files"] or not v["acked_bytes"]:
        raise Loss(f"generation {g}: acknowledged data lost: {v}")
    totals["acked"] += v["acked_bytes"]
    # every acknowledged namespace operation of this generation (or one more)
    nv = ns_verify(m, bak, g, g, seed, f"/tmp/nsacks{g}", st, totals)
    totals["ns_ops"] += 0 if nv.get("named") else nv["acked"]
    m.exec(bak, f"kill $(cat /tmp/logger{g}.pid) $(cat /tmp/nslogger{g}.pid) 2>/dev/null; "
           f"cp /tmp/acks{g} /data/acks/g{g} && cp /tmp/nsacks{g} /data/acks/ns{g} && sync")
    for k in range(max(1, g - KEEP), g):
        vk = json.loads(m.exec(bak, f"orthros-writer verify --dir /data/g{k} --acks /data/acks/g{k} --json", timeout=60))
        if vk["bad_bytes"] or vk["missing_files"] or vk["short_files"]:
            raise Loss(f"generation {k}'s data, checked after failover {g}: {vk}")
        ns_verify(m, bak, g, k, seed, f"/data/acks/ns{k}", st, totals)
    if g > KEEP:  # checked after KEEP failovers: retired
        r = g - KEEP
        m.exec(bak, f"rm -rf /data/g{r} /data/acks/g{r} /data/ns{r} /data/acks/ns{r} && sync", timeout=60)
    # every protected process: same PIDs, no error, progress
    procs = st["failover"].get("processes", [])
    lost = [p for p in procs if p.get("outcome") != "restored"]
    if lost:
        raise Loss(f"protected processes lost: {lost}")
    def progressing():
        ok, lines = wlstatus.check(s0, workload_status(m, bak))
        if not ok:  # kept: the timeout says which workload and why
            raise ValueError("; ".join(l for l in lines if not l.startswith("ok")))
        return True
    m.wait(60, "the protected workloads to make progress", progressing)
    # the service, from the host
    m.wait(30, "the service to answer the host", lambda: service_ok(port))
    # redundancy: the next backup watches the new active, which has its cores
    # (phase cpus, after "service back", beside the next backup's start)
    st = m.wait(180, f"OS {g + 2} to watch OS {g + 1}", lambda: (
        lambda s: s if all(n in phases(s) and phases(s)[n].get("duration_us") is not None
                           for n in ("backup", "cpus"))
        and s.get("peer", {}).get("state") == "alive" else None)(m.status(bak)))
    m.wait(30, f"OS {g + 2} to see OS {g + 1} alive",
           lambda: m.status(nxt).get("peer", {}).get("state") == "alive")
    ph = phases(st)
    total_mem, _ = meminfo(m, bak)
    cores = st.get("apic_ids", [])
    names = ["detection", "cores", "cpus", "devices", "mount", "migrate", "extract", "restore",
             "image", "memory", "network", "service"]
    cols = " ".join(f"{n}={ph[n]['duration_us'] / 1000:.0f}" for n in names if n in ph)
    # the kernel's two moments: the failover marked done, a new backup's first beat
    fo = st["failover"]
    if not fo.get("service_back_us") or not fo.get("protected_us"):
        raise Loss(f"generation {g + 1}: the timeline lacks its moments: {fo.get('service_back_us')}, {fo.get('protected_us')}")
    done_ms, backup_ms = fo["service_back_us"] / 1000, fo["protected_us"] / 1000
    if totals.get("svg"):
        with open(os.path.join(totals["svg"], f"gen-{g + 1}.svg"), "w") as f:
            f.write(m.exec(bak, "orthros status --svg -"))
    if st.get("area") != bak or st["role"] != "active" or st["ordinal"] != g + 1:
        raise Loss(f"the new active is OS {st['ordinal']} ({st['role']}) in area {st.get('area')}, want OS {g + 1} in {bak}")
    # resources: every core but the BSP and the one kept for the next backup;
    # the memory of every later generation exactly what the earlier one in
    # the same backup area had (area B's top 140 KiB are the firmware's ACPI
    # tables, so A and B differ by that: docs/failover.md)
    want_cores = len(totals["apics"]) - 2
    if len(cores) != want_cores:
        raise Loss(f"OS {g + 1} runs on {len(cores)} cores (APIC {cores}), want {want_cores}")
    first = totals.setdefault("mem_" + bak, (g + 1, total_mem))
    if total_mem != first[1]:
        raise Loss(f"OS {g + 1} has MemTotal {total_mem} kB, OS {first[0]} in the same area had {first[1]} kB")
    log(f"gen {g + 1:3d} crash={kind:7s} {cols} service-back={done_ms:.0f}ms "
        f"backup-watching={backup_ms:.0f}ms mem={total_mem // 1024}MiB cores={len(cores)} "
        f"(APIC {','.join(map(str, cores))}) procs={len(procs)} acked={v['acked_bytes']} "
        f"ns-ops={nv['acked']}{'+1' if nv['matched'] == 'A+1' else ''}{' LOST (named)' if nv.get('named') else ''} [{time.time() - t0:.0f}s]")
    totals["failovers"] += 1
    totals["procs"] = len(procs)
    row = {n: ph[n]["duration_us"] / 1000 for n in names if n in ph}
    row.update({"service-back": done_ms, "backup-watching": backup_ms})
    totals["rows"].append(row)


def spread(rows):
    """min / median / max of each figure over the failovers so far."""
    out = []
    for n in rows[0] if rows else []:
        v = sorted(r[n] for r in rows if n in r)
        out.append(f"{n} {v[0]:.0f}/{v[len(v) // 2]:.0f}/{v[-1]:.0f}")
    return "ms min/median/max: " + ", ".join(out)


def main():
    ap = argparse.ArgumentParser(prog="tests/failover.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10, help="failovers in a row (default 10)")
    ap.add_argument("--crash", default=",".join(KINDS),
                    help="crash kinds to rotate, comma-separated (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the rotation and the timing")
    ap.add_argument("--name", default=f"soak-{os.getpid()}", help="the machine's name (tests/vm)")
    ap.add_argument("--keep", action="store_true", help="leave the machine running at the end")
    ap.add_argument("--svg", metavar="DIR", help="write each failover's timeline picture to DIR/gen-N.svg")
    a = ap.parse_args()
    kinds = [k for k in a.crash.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds or a.count < 1:
        ap.error(f"bad --crash {','.join(bad)} (kinds: {','.join(KINDS)})" if bad or not kinds else "--count must be 1 or more")
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    start = rng.randrange(len(kinds))
    m = Machine(a.name)
    prof = subprocess.run([os.path.join(TOP, "build", "host", "orthros-profile"), "--profile",
                           os.path.join(TOP, "machine.conf"), "get", "apic_ids"],
                          capture_output=True, text=True, check=True).stdout.split()
    totals = {"failovers": 0, "acked": 0, "ns_ops": 0, "ns_matched": {}, "ns_named": {}, "procs": 0, "apics": prof, "rows": [],
              "svg": a.svg}
    if a.svg:
        os.makedirs(a.svg, exist_ok=True)
    log(f"failover soak: {a.count} failovers, crash kinds {','.join(kinds)}, seed {seed}, machine {a.name}")
    rc = 0
    try:
        m.vm("up", "--timeout", "180", timeout=400)
        m.wait(60, "the backup to watch the active", lambda: m.status("backup_a")["peer"]["state"] == "alive")
        port = int(m.vm("port").strip())
        start_workloads(m)
        log(f"booted; 4 protected workloads running; service on 127.0.0.1:{port}")
        for i in range(a.count):
            one_failover(m, i + 1, kinds[(start + i) % len(kinds)], port, rng, totals, seed)
    except Loss as e:
        crashed = m.vm("crashed", check=False).strip()
        if crashed:  # the emulator died under the machine: nothing the guests did
            log(f"ABORTED: QEMU crashed ({crashed}) during failover {totals['failovers'] + 1}; "
                f"not a loss of the guests: {str(e)[:300]}")
            rc = 3
        else:
            log(f"LOSS: {e}")
            rc = 1
    except KeyboardInterrupt:
        log("interrupted")
        rc = 1
    finally:
        if not a.keep:
            m.vm("kill", check=False)
    if totals["rows"]:
        log(spread(totals["rows"]))
    log(f"summary: {totals['failovers']}/{a.count} failovers, generation {totals['failovers'] + 1}, "
        f"{totals['acked']} acknowledged bytes and {totals['ns_ops']} acknowledged namespace operations checked, "
        f"{totals['procs']} protected processes alive, "
        f"{len(totals['ns_named'])} generations whose namespace operations were lost, named (the journal's running transaction left out), "
        f"{'0 silent losses' if rc == 0 else 'QEMU crashed' if rc == 3 else 'LOSS'}; seed {seed}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
