#!/usr/bin/env python3
"""Check one OS's view of its partition against the machine profile.

usage: partition.py PROFILE_JSON CPUINFO_APICID_LINES IOMEM MEMINFO STATUS_JSON

The OS is the one that wrote STATUS_JSON (`orthros status --json`): the 1st OS
(ordinal 1) owns the 1st-OS and general areas and the first APIC IDs; a later OS
owns its backup area (ordinal 2, 4, ...: A; 3, 5, ...: B) and the backup APICs.
Each OS must see its own devices bound to a driver and the others' not at all.
Prints one summary line and a FAIL line per mismatch; exit 1 on any mismatch.
"""
import json
import re
import sys

prof = json.loads(sys.argv[1])
cpus, iomem, meminfo, status = sys.argv[2:]
st = json.loads(status)
bad = []
ordinal = st["ordinal"]
if ordinal == 1:
    areas, apics = ("first", "general"), prof["first_apics"]
    owners = ("first", "active")
else:
    area = "backup_a" if ordinal % 2 == 0 else "backup_b"
    areas, apics = (area,), list(prof["backup_apics"])
    # an active that took over brought the dead OS's cores online (issue 10)
    apics += st.get("cores", {}).get("added", [])
    # an active that took over and hot-added the general area (issue 10) owns it too
    if st.get("failover", {}).get("memory", {}).get("state") in ("done", "partial"):
        areas += ("general",)
    owners = (area,) + (("active",) if st["role"] == "active" else ())

online = sorted(int(x) for x in re.findall(r"apicid\s*:\s*(\d+)", cpus))
if online != sorted(apics):
    bad.append(f"online APIC IDs {online}, profile says {sorted(apics)}")
ram = []
for line in iomem.splitlines():
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) : System RAM", line)
    if m:
        ram.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
mine = [(r["start"], r["end"]) for a in areas for r in prof["areas"][a]]
for s, e in ram:
    if not any(ms <= s and e <= me for ms, me in mine):
        bad.append(f"System RAM {s:#x}-{e:#x} is outside {' and '.join(areas)}")
for a in prof["areas"]:
    if a in areas:
        continue
    for r in prof["areas"][a]:
        for s, e in ram:
            if s < r["end"] and r["start"] < e:
                bad.append(f"area {a} {r['start']:#x}-{r['end']:#x} is System RAM here")
ram_total = sum(e - s for s, e in ram)
biggest = max(r["end"] - r["start"] for a in areas for r in prof["areas"][a])
if ram_total < biggest * 0.99:
    bad.append(f"only {ram_total >> 20} MiB System RAM, its largest area is {biggest >> 20} MiB")
total = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) * 1024
own = sum(e - s for s, e in mine)
if not (0.5 * biggest <= total <= own):
    bad.append(f"MemTotal {total >> 20} MiB, want between {int(0.5 * biggest) >> 20} and {own >> 20} MiB")
if sorted(st["apic_ids"]) != online:
    bad.append(f"orthros status says cores {st['apic_ids']}, /proc says {online}")
for d in st["devices"]:
    if d["owner"] in owners and not d["driver"]:
        bad.append(f"device {d['name']} ({d['pci']}) is this OS's but has no driver")
    if d["owner"] not in owners and d["owner"] != "first" and d["present"]:
        bad.append(f"device {d['name']} ({d['pci']}) belongs to {d['owner']} but is present here")
print(f"OS {ordinal} ({st['role']}): cores {online}, {len(ram)} RAM ranges, "
      f"{ram_total >> 20} MiB System RAM, MemTotal {total >> 20} MiB")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
