#!/usr/bin/env bash
# Repartition I, cores: a later OS boots on one core but learns from its command
# line (orthros_apics=, derived from the profile) which cores it may own one
# day; at failover it brings the dead OS's cores online by CPU hotplug, all but
# the machine's BSP and the one kept for the next backup (the dead OS's highest
# APIC ID), and they run work.  See docs/failover.md, "Cores".
. "$(dirname "$0")/lib.sh"

ACK_PORT=10
CORES=/sys/module/orthros_cores/parameters

teardown() { vm kill; }


# The APIC IDs the profile gives a later OS: every one but the BSP's.
later_apics() {
	local bsp id out=""
	bsp=$(prof_get bsp_apic)
	for id in $(prof_get apic_ids); do
		[ "$id" = "$bsp" ] || out="$out${out:+,}$id"
	done
	echo "$out"
}

# add_refused APIC CODE: asking for one more core is refused, and says why
add_refused() {
	local out
	out=$(vm exec backup "echo $1 > $CORES/add 2>&1 && echo ACCEPTED; dmesg | grep 'APIC $1 not added' | tail -1")
	case $out in
	*ACCEPTED*) fail "APIC $1 was added: $out" ;;
	*"$2"*) echo "refused APIC $1: ${out##*: }" ;;
	*) fail "APIC $1: refusal without the reason '$2': $out" ;;
	esac
}

# pinned_work CPU...: a busy loop pinned to each CPU for 3 s; each CPU's busy
# ticks in /proc/stat (USER_HZ) must grow by at least a second's worth
pinned_work() {
	local out
	out=$(vm exec backup --timeout 60 "
		t() { awk -v c=cpu\$1 '\$1 == c { print \$2 + \$3 + \$4 }' /proc/stat; }
		for c in $*; do echo \"\$c \$(t \$c)\" ; done > /tmp/before
		for c in $*; do taskset -c \$c timeout 3 sh -c 'while :; do :; done' & done; wait
		while read c b; do echo \"\$c \$((\$(t \$c) - b))\"; done < /tmp/before") || return 1
	echo "figure: busy ticks per CPU over 3 s (CPU ticks): $(echo $out)"
	echo "$out" | awk 'NF == 2 && $2 < 100 { bad = 1 } END { exit bad }' ||
		fail "a CPU did not run its pinned loop: $out"
}

t_backup_boots_on_one_core() {
	local cmdline want out
	vm kill >/dev/null
	vm up --timeout 180 || return 1
	wait_for 30 "the backup to watch its active" backup_alive || return 1
	want=$(later_apics)
	cmdline=$(vm exec backup 'cat /proc/cmdline') || return 1
	grep -qw "maxcpus=1" <<<"$cmdline" && grep -qw "orthros_apics=$want" <<<"$cmdline" &&
		! grep -qw nosmp <<<"$cmdline" ||
		fail "the backup's command line lacks maxcpus=1 orthros_apics=$want: $cmdline" || return 1
	# one core online and present; the others possible only, nothing to online by hand
	expect_eq "backup online CPUs" "$(vm exec backup 'cat /sys/devices/system/cpu/online')" 0 &&
	expect_eq "backup present CPUs" "$(vm exec backup 'cat /sys/devices/system/cpu/present')" 0 &&
	expect_eq "backup possible CPUs" "$(vm exec backup 'cat /sys/devices/system/cpu/possible')" \
		"0-$(( $(echo "$want" | tr , '\n' | wc -l) - 1 ))" &&
	expect_eq "backup cores" "$(vm exec backup 'grep ^apicid /proc/cpuinfo | tr -dc 0-9')" \
		"$(prof_get backup_apics)" || return 1
	vm exec backup 'ls /sys/devices/system/cpu/cpu1' >/dev/null 2>&1 &&
		fail "the backup has a CPU device for a core of the active" || true
	expect_eq "active cores" "$(vm exec active 'grep ^apicid /proc/cpuinfo | tr -dc 0-9')" \
		"$(prof_get first_apics | tr -dc 0-9)" || return 1
	out=$(vm exec backup "echo 1 > $CORES/add 2>&1 && echo ACCEPTED")
	case $out in *ACCEPTED*) fail "the backup added a core of a live active" ;; esac
}

t_cores_after_failover() {
	local st crash
	backup_alive || { vm kill >/dev/null; vm up --timeout 180; } || return 1
	wait_for 30 "the backup to watch its active" backup_alive || return 1
	vm exec backup "rm -f /tmp/acks /tmp/ready; orthros-writer log --port $ACK_PORT --out /tmp/acks --ready /tmp/ready >/dev/null 2>&1 &" || return 1
	wait_for 20 "the backup's logger" vm exec backup 'test -e /tmp/ready' || return 1
	vm exec active "orthros-writer write --dir /data/w --port $ACK_PORT --files 8 >/tmp/writer.out 2>&1 &" || return 1
	wait_for 60 "400 acknowledged writes" acks_at_least 400 || return 1
	vm exec active --timeout 40 'orthros-crash syscall' >/dev/null 2>&1 &
	crash=$!
	wait_for 90 "the failover to finish" failover_done
	local rc=$?
	kill "$crash" 2>/dev/null; wait "$crash" 2>/dev/null
	[ $rc -eq 0 ] || { vm exec backup 'dmesg | grep orthros | tail -20'; return 1; }
	st=$(status_json backup) || return 1
	python3 - "$st" "$(prof --json)" <<'PY' || return 1
import json, sys
s, k = json.loads(sys.argv[1]), json.loads(sys.argv[2])["keys"]
first, own = [int(a) for a in k["first_apics"].split()], [int(a) for a in k["backup_apics"].split()]
bsp = int(k["bsp_apic"])
kept = max(a for a in first if a != bsp)
want_added = sorted(a for a in first if a not in (bsp, kept))
c = s["cores"]
assert c["kept"] == kept, c
assert sorted(c["added"]) == want_added, c
assert "%d:bsp" % bsp in c["refused"], c
assert sorted(s["apic_ids"]) == sorted(own + want_added), s["apic_ids"]
# off the service's path: the cores come online once the service is back
fo = s["failover"]
ph = next(ph for ph in fo["phases"] if ph["name"] == "cpus")
assert fo["service_back_us"] and ph["start_us"] >= fo["service_back_us"] and ph["path"] == "after", fo
assert "cpus" not in fo["critical_path"]["phases"], fo["critical_path"]
print("figure: cores online %s (added %s, kept %d for the next backup, refused %s); phase cpus at %.1f ms took %.1f ms, service back at %.1f ms"
      % (s["apic_ids"], c["added"], c["kept"], c["refused"], ph["start_us"] / 1e3, ph["duration_us"] / 1e3,
         fo["service_back_us"] / 1e3))
PY
	expect_eq "/proc/cpuinfo processors" "$(vm exec backup 'grep -c ^processor /proc/cpuinfo')" \
		"$(vm exec backup 'orthros status --json' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["apic_ids"]))')" || return 1
	vm exec backup 'orthros status' | grep -q "kept for the next backup" ||
		fail "orthros status does not show the cores" || return 1
	pinned_work $(vm exec backup 'grep ^processor /proc/cpuinfo | tr -dc "0-9\n"') || return 1
	# refusals after the failover: the BSP, an added core, this OS's own, the kept one, a stranger
	add_refused "$(prof_get bsp_apic)" "BSP" &&
	add_refused "$(vm exec backup "cut -d' ' -f1 $CORES/added")" "online already" &&
	add_refused "$(prof_get backup_apics)" "not a core of the dead OS" &&
	add_refused "$(vm exec backup "cat $CORES/kept")" "kept for the next backup" &&
	add_refused 9 "not a core of the dead OS" || return 1
	# the data and the service
	local v port
	v=$(vm exec backup 'orthros-writer verify --dir /data/w --acks /tmp/acks --json')
	echo "figure: verify: $v"
	python3 -c 'import json,sys; v = json.loads(sys.argv[1]); sys.exit(0 if v["bad_bytes"] == 0 and v["missing_files"] == 0 and v["short_files"] == 0 and v["acked_bytes"] > 0 else 1)' "$v" ||
		fail "acknowledged data lost: $v" || return 1
	port=$(vm port) || return 1
	curl -sS --max-time 10 "http://127.0.0.1:$port/" | grep -q "Orthros service" ||
		fail "the host cannot reach the service on 127.0.0.1:$port after failover"
}

run_tests
