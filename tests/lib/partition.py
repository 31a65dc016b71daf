#!/usr/bin/env python3
"""Check the 1st OS's view of its partition against the machine profile.

usage: partition.py PROFILE_JSON CPUINFO_APICID_LINES IOMEM MEMINFO STATUS_JSON
Prints one summary line and a FAIL line per mismatch; exit 1 on any mismatch.
"""
import json, re, sys
prof = json.loads(sys.argv[1])
cpus, iomem, meminfo, status = sys.argv[2:]
bad = []
online = sorted(int(x) for x in re.findall(r"apicid\s*:\s*(\d+)", cpus))
if online != sorted(prof["first_apics"]):
    bad.append(f"online APIC IDs {online}, profile says {prof['first_apics']}")
ram = []
for line in iomem.splitlines():
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) : System RAM", line)
    if m:
        ram.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
mine = [(r["start"], r["end"]) for a in ("first", "general") for r in prof["areas"][a]]
for s, e in ram:
    if not any(ms <= s and e <= me for ms, me in mine):
        bad.append(f"System RAM {s:#x}-{e:#x} is outside the 1st-OS and general areas")
for a in ("shmem", "backup_a", "backup_b"):
    for r in prof["areas"][a]:
        for s, e in ram:
            if s < r["end"] and r["start"] < e:
                bad.append(f"area {a} {r['start']:#x}-{r['end']:#x} is System RAM of the 1st OS")
ram_total = sum(e - s for s, e in ram)
general = sum(r["end"] - r["start"] for r in prof["areas"]["general"])
if ram_total < general:
    bad.append(f"only {ram_total >> 20} MiB System RAM, the general area alone is {general >> 20} MiB")
total = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) * 1024
own = sum(e - s for s, e in mine)
if not (0.8 * general <= total <= own):
    bad.append(f"MemTotal {total >> 20} MiB, want between {int(0.8 * general) >> 20} and {own >> 20} MiB")
st = json.loads(status)
if st["apic_ids"] != online or st["role"] != "active" or st["ordinal"] != 1:
    bad.append(f"orthros status disagrees with /proc: {st}")
for d in st["devices"]:
    want_here = d["owner"] in ("active", "first")
    if want_here and not d["driver"]:
        bad.append(f"device {d['name']} ({d['pci']}) belongs to the 1st OS but has no driver")
print(f"cores {online}, {len(ram)} RAM ranges, {ram_total >> 20} MiB System RAM, MemTotal {total >> 20} MiB")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
