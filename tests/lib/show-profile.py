#!/usr/bin/env python3
"""Print the machine profile (orthros-profile --json on stdin) for people."""
import json
import sys

p = json.load(sys.stdin)
print("cores by local APIC ID:", p["apic_ids"], " BSP:", p["bsp_apic"])
print("  1st OS:", p["first_apics"], "  first backup:", p["backup_apics"])
for name, ranges in p["areas"].items():
    size = sum(r["end"] - r["start"] for r in ranges) >> 20
    spans = " ".join(f"{r['start']:#010x}-{r['end']:#010x}" for r in ranges)
    print(f"  area {name:9s} {spans} ({size} MiB)")
for d in p["devices"]:
    print(f"  device {d['name']:7s} {d['pci']}  {d['model']:18s} owner: {d['owner']}")
print("1st OS command line:", p["first"]["cmdline"])
