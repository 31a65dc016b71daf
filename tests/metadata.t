#!/usr/bin/env bash
# Failover II (issue 25): the user-data file system after a failover is the one
# the dead kernel presented, metadata included.  On a synced tree, each
# operation of issue 25's table and of the combinations that crash-consistency
# tools generate (CrashMonkey's ACE) is done in a directory of its own, with no
# fsync (each command returned: acknowledged), the tree is listed entry by
# entry (orthros-fstree list: names, types, modes, owners, sizes, link counts,
# mtime/ctime, hard-link groups, contents, xattrs), and the active panics; the
# new active's listing must be the same, directory by directory.
. "$(dirname "$0")/lib.sh"

TMPD=$(mktemp -d)
NS=/data/ns

teardown() {
	vm kill
	rm -rf "$TMPD"
}

# Each operation: OP_PREP (run and synced before: the committed state) and
# OP_ACT (run after, not synced), in the directory $NS/NAME.
declare -A OP_PREP=() OP_ACT=()
op() { OP_PREP[$1]=$2; OP_ACT[$1]=$3; }
op create ':' 'echo created > f'
op append 'echo one > f' 'echo two >> f'
op truncate 'dd if=/dev/urandom of=f bs=1k count=64 2>/dev/null' 'truncate -s 1000 f'
op overwrite 'dd if=/dev/urandom of=f bs=1k count=64 2>/dev/null' 'dd if=/dev/zero of=f bs=1k seek=8 count=4 conv=notrunc 2>/dev/null'
op create-empty ':' 'touch e'
op mkdir ':' 'mkdir d && echo x > d/f'
op rename-over 'echo b > b && echo c > c' 'mv b c'
op unlink 'echo d > d' 'rm d'
op rmdir 'mkdir empty' 'rmdir empty'
op rename 'echo a > a' 'mv a a2'
op rename-dir 'mkdir dir1 && echo x > dir1/f' 'mv dir1 dir2'
op link 'echo e > e' 'ln e e.hard'
op symlink 'echo g > g' 'ln -s g s.link'
op chmod 'echo f > f' 'chmod 600 f'
op chown 'echo f > f' 'chown 1000:1000 f'
op mtime 'echo f > f' "touch -d '2020-01-02 03:04:05' f"
op xattr 'echo f > f' 'orthros-fstree xattr f user.k v1'
op rename-over-just-written 'echo old > target' 'echo new > t.tmp && mv t.tmp target'
op unlink-open 'echo o > o' '(exec 3<o; rm o; exec sleep 100000) >/dev/null 2>&1 &'
op link-then-unlink 'echo x > x' 'ln x y && rm x'
op rename-dir-with-dirty-files 'mkdir D' 'echo 1 > D/a && dd if=/dev/urandom of=D/b bs=1k count=40 2>/dev/null && mv D D2'
OPS="create append truncate overwrite create-empty mkdir rename-over unlink rmdir rename rename-dir link symlink chmod chown mtime xattr rename-over-just-written unlink-open link-then-unlink rename-dir-with-dirty-files"

script() { # PART: the shell commands of every operation's PART (OP_PREP or OP_ACT)
	local o
	declare -n part=$1
	for o in $OPS; do
		printf 'cd %s/%s && {\n%s\n} || echo "FAILED: %s"\n' "$NS" "$o" "${part[$o]}" "$o"
	done
}

# crash_after_operations NAME [BACKUP_ARGS]: the one crash: the operations,
# the listing the dead kernel showed ($TMPD/NAME.before), the panic, the
# failover (its status in $TMPD/NAME.json), the new active's listing
# ($TMPD/NAME.after).  BACKUP_ARGS: the backup's extra command line.
crash_after_operations() {
	local out name=$1
	pair "${2:-}" || return 1
	# the data stays in the dead kernel's cache: nothing but the failover carries it
	hold_cache || return 1
	out=$(vm exec active "rm -rf $NS && mkdir $NS && cd $NS && mkdir $OPS
$(script OP_PREP)
sync") || return 1
	[ -z "$out" ] || fail "preparing: $out" || return 1
	out=$(vm exec active "$(script OP_ACT)") || return 1
	[ -z "$out" ] || fail "the operations: $out" || return 1
	vm exec active "orthros-fstree list $NS" >"$TMPD/$name.before" || fail "listing the tree before the crash" || return 1
	echo "figure: $(wc -l <"$TMPD/$name.before") entries before the crash"
	crash_and_fail_over 'orthros-crash syscall' "$TMPD/$name.json" || return 1
	vm exec backup "orthros-fstree list $NS" >"$TMPD/$name.after" || fail "listing the tree after the failover" || return 1
	echo "figure: $(wc -l <"$TMPD/$name.after") entries after the failover"
	python3 - "$TMPD/$name.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["failover"]
j, m = f["migrate"]["journal"], f["migrate"]
print("figure: journal: %d transactions, %d blocks, %d revokes handed out%s; migration: %d files, %d with their dead times kept" % (
    j["transactions"], j["blocks"], j["revokes"], ("; left out: " + j["why"]) if j["why"] else "", m["files"], m["times_kept"]))
PY
}

# The crash the per-operation tests compare: the journal finished.
t_crash_after_operations() {
	crash_after_operations carried || return 1
	python3 - "$TMPD/carried.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]
assert j["read"] and not j["off"] and j["transactions"] >= 1 and j["blocks"] > 0 and not j["why"], j
PY
}

# same OP [NAME]: the entries under $NS/OP before crash NAME (default: carried)
# and after its failover are the same, field by field; every difference is printed
same() {
	local b=$TMPD/${2:-carried}.before a=$TMPD/${2:-carried}.after
	[ -s "$b" ] && [ -e "$a" ] || fail "no listings: the crash test failed" || return 1
	python3 - "$b" "$a" "$1" <<'PY'
import sys
FIELDS = ["type", "mode", "uid", "gid", "size", "links", "mtime", "ctime", "inode of", "content", "xattrs"]
def read(path, op):
    out = {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == op or f[0].startswith(op + "/"):
            out[f[0]] = dict(zip(FIELDS, f[1:]))
    return out
b, a, op = read(sys.argv[1], sys.argv[3]), read(sys.argv[2], sys.argv[3]), sys.argv[3]
bad = 0
for p in sorted(set(b) | set(a)):
    if p not in a:
        print("FAIL: %s: gone after the failover" % p); bad += 1
    elif p not in b:
        print("FAIL: %s: there after the failover, not before (%s)" % (p, a[p]["type"])); bad += 1
    else:
        for k in FIELDS:
            if b[p][k] != a[p][k]:
                print("FAIL: %s: %s %s before, %s after" % (p, k, b[p][k], a[p][k])); bad += 1
sys.exit(1 if bad else 0)
PY
}

t_create_is_carried() { same create; }
t_append_is_carried() { same append; }
t_truncate_is_carried() { same truncate; }
t_overwrite_is_carried() { same overwrite; }
t_create_empty_is_carried() { same create-empty; }
t_mkdir_is_carried() { same mkdir; }
t_rename_over_a_file_is_carried() { same rename-over; }
t_unlink_is_carried() { same unlink; }
t_rmdir_is_carried() { same rmdir; }
t_rename_is_carried() { same rename; }
t_rename_of_a_directory_is_carried() { same rename-dir; }
t_hard_link_is_carried() { same link; }
t_symlink_is_carried() { same symlink; }
t_chmod_is_carried() { same chmod; }
t_chown_is_carried() { same chown; }
t_mtime_is_carried() { same mtime; }
t_xattr_is_carried() { same xattr; }
t_rename_over_a_file_just_written_is_carried() { same rename-over-just-written; }
t_unlink_of_an_open_file_is_carried() { same unlink-open; }
t_link_then_unlink_of_the_original_is_carried() { same link-then-unlink; }
t_rename_of_a_directory_with_dirty_files_is_carried() { same rename-dir-with-dirty-files; }

# The file system the failover left is consistent.
t_fsck_is_clean_after_the_failover() {
	[ -e "$TMPD/carried.after" ] || fail "no failover: the crash test failed" || return 1
	fsck_clean
}

# The control: the same operations and crash with the journal carry off
# (orthros_migrate=no-journal).  Every operation's test must see a loss:
# one that came back as it was could not fail.
t_without_the_journal_every_operation_is_changed() {
	local op kept="" lost=0 n=0
	crash_after_operations control orthros_migrate=no-journal || return 1
	python3 -c 'import json,sys; j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]; sys.exit(0 if j["off"] and not j["transactions"] else 1)' \
		"$TMPD/control.json" || fail "the journal carry was not off" || return 1
	for op in $OPS; do
		n=$((n + 1))
		if same "$op" control >/dev/null; then kept="$kept $op"; else lost=$((lost + 1)); fi
	done
	echo "figure: with the journal carry off, $lost of $n operations come back changed"
	[ -z "$kept" ] || fail "with the journal carry off these came back as they were (their tests cannot fail):$kept"
}

# rename_panic TRAP [BOOT ARGS]: a file renamed to and fro for ever (synced
# first), after three acknowledged operations in the running transaction
# (KEPT: a synced file removed, a symlink and a directory made, no fsync);
# the injector's TRAP (rename or rename-in-handle) panics the active while the
# renamer is inside rename().  The rename in progress was not acknowledged:
# after the failover the file is under exactly one of its two names, whole,
# and fsck is clean.  $NS/k's listing goes to $TMPD/kept.
#
# A core stopped while holding one of jbd2's locks (the panic lands at any
# instruction) leaves the journal's lists unknowable: the running transaction
# is then dropped and named, the right outcome but not the case under test,
# so the crash is tried again, at most 3 times, and each such try is shown.
KEPT="dir link"
rename_panic() {
	local try
	for try in 1 2 3; do
		rename_panic_once "$@" || return 1
		grep -q "stopped holding" "$TMPD/st.json" || return 0
		echo "figure: try $try: the panic landed inside a jbd2 lock (a named loss); trying again"
	done
	fail "3 panics in a row landed inside a jbd2 lock"
}

rename_panic_once() {
	local pid n
	pair "${2:-}" || return 1
	vm exec active "rm -rf $NS && mkdir -p $NS/r $NS/k && echo gone > $NS/k/gone && sync" || return 1
	hold_cache || return 1
	vm exec active "(orthros-fstree renames $NS/r > /tmp/renames.out 2>&1 &)" || return 1
	wait_for 20 "the renamer to start" vm exec active 'grep -q ready /tmp/renames.out' || return 1
	# after the renamer's fsync, which commits what runs before it
	vm exec active "rm $NS/k/gone && ln -s target $NS/k/link && mkdir $NS/k/dir" || return 1
	pid=$(vm exec active 'pidof orthros-fstree') || return 1
	crash_and_fail_over "echo '$1 $pid' > /sys/kernel/orthros_inject" "$TMPD/st.json" || return 1
	echo "figure: $(vm exec backup 'dmesg | grep -o "orthros-inject: .*rename.*" | head -1')"
	python3 -c 'import json,sys; f = json.load(open(sys.argv[1]))["failover"]["migrate"]; j = f["journal"]; print("figure: journal: %d transactions, %d blocks; left out: %s; first disagreement: %s" % (j["transactions"], j["blocks"], j["why"] or "nothing", f["first_disagreement"] or "none"))' "$TMPD/st.json"
	n=$(vm exec backup "ls $NS/r") || return 1
	echo "figure: after the failover: $(echo $n)"
	vm exec backup "ls $NS/k" > "$TMPD/kept" || return 1
	echo "figure: the operations done before it, after the failover: $(echo $(cat "$TMPD/kept")) (acknowledged: $KEPT)"
	case $(echo $n) in
	p | q) ;;
	*) fail "the renamed file is under '$(echo $n)', not under exactly one of p and q" || return 1 ;;
	esac
	expect_eq "its content" "$(vm exec backup "md5sum < $NS/r/$n")" \
		"$(printf 'r%.0s' $(seq 4096) | md5sum)"
}

kept_carried() {
	expect_eq "the operations acknowledged before the panic" "$(echo $(cat "$TMPD/kept"))" "$KEPT"
}

# A panic inside a file-system operation, anywhere in rename().
t_panic_inside_a_rename_leaves_one_name() {
	rename_panic rename || return 1
	kept_carried || return 1
	fsck_clean
}

# A panic while rename()'s journal handle is open: the running transaction
# holds a half-done operation.  Its undo records take it back out (the
# buffers it touched put back as they were before it), and the rest of the
# running transaction, the operations acknowledged before, is carried.
t_panic_with_a_journal_handle_open_takes_the_handle_back_out() {
	rename_panic rename-in-handle || return 1
	python3 - "$TMPD/st.json" <<'PY' || fail "the open handle was not taken back out" || return 1
import json, sys
j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]
print("figure: %d handles open, %d taken back out, %d blocks put back; %d transactions, %d blocks handed out" % (
    j["open_handles"], j["undone_handles"], j["undone_blocks"], j["transactions"], j["blocks"]))
assert j["open_handles"] >= 1 and j["undone_handles"] == j["open_handles"] and j["undone_blocks"] >= 1 and not j["why"], j
PY
	kept_carried || return 1
	fsck_clean
}

# The control: without the undo records (orthros_migrate=no-undo) the same
# panic drops the running transaction, named, and the operations
# acknowledged before it with it: so the test above can fail.
t_without_the_undo_records_a_handle_open_drops_the_running_transaction_named() {
	rename_panic rename-in-handle orthros_migrate=no-undo || return 1
	python3 - "$TMPD/st.json" <<'PY' || fail "the running transaction was not left out and named" || return 1
import json, sys
j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]
print("figure: left out: %s" % j["why"])
assert j["open_handles"] >= 1 and "handles were open" in j["why"] and j["undone_handles"] == 0, j
PY
	[ "$(echo $(cat "$TMPD/kept"))" != "$KEPT" ] ||
		fail "the operations acknowledged before the panic came back without the running transaction: the test above cannot fail" || return 1
	fsck_clean
}

# descriptor_panic SAME [BOOT ARGS]: a file created in a directory A (in a
# directory at the top of /data) stalls inside its journal handle after its
# third buffer
# (orthros-inject's stall: it has set its bit in A's group's inode bitmap and
# taken one from that group's free inodes count in the descriptor block, its
# inode not written yet); then a finished, acknowledged operation changes the
# same descriptor block: SAME=no, a file created in B, a directory in another
# group whose descriptor shares the block (top directories are spread over
# the groups); SAME=yes, a file removed from a directory beside A in A's
# group (its inode freed: A's group's count again; not from A itself, whose
# lock the stalled create holds).  Then the active panics.  The status goes to $TMPD/st.json.
descriptor_panic() {
	local same=$1 img ipg dpb ino a=/data/mg.1/a b ga gb d i g line gdt blocks
	pair "${2:-}" || return 1
	img=$VM_DIR/$VM/data.img
	ipg=$(dumpe2fs -h "$img" 2>/dev/null | awk -F: '/^Inodes per group/ {print $2+0}')
	dpb=$(( $(dumpe2fs -h "$img" 2>/dev/null | awk -F: '/^Block size/ {print $2+0}') / 32 ))
	[ "${ipg:-0}" -gt 0 ] && [ "$dpb" -gt 0 ] || fail "the data disk's geometry cannot be read" || return 1
	vm exec active 'rm -rf /data/mg.* && for i in $(seq 24); do mkdir /data/mg.$i; done &&
		mkdir /data/mg.1/a /data/mg.1/sub && for i in $(seq 12); do echo $i > /data/mg.1/sub/pre.$i; done && sync' || return 1
	ino=$(vm exec active 'for i in $(seq 24); do echo "$i $(stat -c %i /data/mg.$i)"; done') || return 1
	i=$(vm exec active "stat -c %i $a") || return 1
	ga=$(( (i - 1) / ipg )); b=
	i=$(vm exec active 'stat -c %i /data/mg.1/sub') || return 1
	[ $(( (i - 1) / ipg )) -eq "$ga" ] || fail "/data/mg.1/sub (inode $i) is not in A's group $ga" || return 1
	while read -r d i; do
		g=$(( (i - 1) / ipg ))
		if [ "$g" -ne "$ga" ] && [ $((g / dpb)) -eq $((ga / dpb)) ]; then
			b=$d; gb=$g; break
		fi
	done <<<"$ino"
	[ -n "$b" ] || fail "no top directory in another group of A's descriptor block: $(echo $ino)" || return 1
	gdt=$(( $(dumpe2fs -h "$img" 2>/dev/null | awk -F: '/^First block/ {print $2+0}') + 1 + ga / dpb ))
	echo "figure: A = $a in group $ga, B = /data/mg.$b in group $gb; their descriptors in block $gdt"
	hold_cache || return 1
	vm exec active "(sh -c 'echo \"stall \$\$ 3\" > /sys/kernel/orthros_inject && exec touch $a/open' > /tmp/stall.out 2>&1 &)" || return 1
	wait_for 20 "the create in A to stall" vm exec active 'dmesg | grep -q "orthros-inject: stalled"' || return 1
	line=$(vm exec active 'dmesg | grep -o "orthros-inject: stalled.*" | tail -1')
	echo "figure: $line"
	blocks=${line##*:}
	case " ${blocks%)} " in
	*" $gdt "*) ;;
	*) fail "the stalled create had not taken the descriptor block $gdt" || return 1 ;;
	esac
	if [ "$same" = yes ]; then
		vm exec active --timeout 15 "rm /data/mg.1/sub/pre.1" || fail "the removal beside A did not finish beside the stalled create" || return 1
	else
		vm exec active --timeout 15 "touch /data/mg.$b/done" || fail "the create in B did not finish beside the stalled one" || return 1
	fi
	crash_and_fail_over "echo panic > /sys/kernel/orthros_inject" "$TMPD/st.json" || return 1
	python3 -c 'import json,sys; j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]; print("figure: journal: %d handles open, %d taken back out, %d blocks put back, %d merged; %d transactions, %d blocks; left out: %s" % (j["open_handles"], j["undone_handles"], j["undone_blocks"], j["merged_blocks"], j["transactions"], j["blocks"], j["why"] or "nothing"))' "$TMPD/st.json"
	echo "figure: after the failover: A holds '$(vm exec backup "ls $a" | tr '\n' ' ')', B holds '$(vm exec backup "ls /data/mg.$b" | tr '\n' ' ')'"
	vm exec backup "test ! -e $a/open" || fail "the stalled create (not acknowledged) is in A after the failover" || return 1
	B=$b GDT=$gdt
}

# A handle open at the death (a create stalled in it) and one that finished
# after it, each taking an inode in its own group, both through one block of
# group descriptors: the finished handle's change to that block is merged
# into the open one's copy, and the block put back bit by bit (the open
# handle's bits as they were before it, the finished one's as it left them).
# The acknowledged create is carried, the stalled one taken out, and fsck
# (which counts each group's free inodes from its bitmap) is clean.
t_a_finished_handle_sharing_a_descriptor_block_with_an_open_one_is_kept() {
	descriptor_panic no || return 1
	python3 - "$TMPD/st.json" <<'PY' || fail "the open handle was not taken out with the finished one's change merged" || return 1
import json, sys
j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]
assert j["open_handles"] >= 1 and j["undone_handles"] == j["open_handles"] and j["merged_blocks"] >= 1 and not j["why"], j
PY
	vm exec backup "test -e /data/mg.$B/done" || fail "the acknowledged create in B is gone after the failover" || return 1
	fsck_clean
}

# The same with the finished operation in the open one's group (a removal:
# the group's free inodes count, one more, from the open create's value, one
# less): both changed the count's lowest bit, which no merge can tell apart,
# so the running transaction is left out, named for the descriptor block
# (the acknowledged removal with it): a loss said, never a count made up.
t_two_handles_changing_one_descriptor_drop_the_running_transaction_named() {
	descriptor_panic yes || return 1
	python3 - "$TMPD/st.json" "$GDT" <<'PY' || fail "the running transaction was not left out and named for the descriptor block" || return 1
import json, sys
j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]
print("figure: left out: %s" % j["why"])
assert j["open_handles"] >= 1 and ("block %s was touched by a handle that finished after an open one took it" % sys.argv[2]) in j["why"], j
PY
	fsck_clean
}

# The control: without the merge (orthros_migrate=no-merge) the same panic
# drops the running transaction, named, and the create acknowledged in B
# with it: so the test above can fail.
t_without_the_merge_a_finished_handle_after_an_open_one_drops_the_running_transaction_named() {
	descriptor_panic no orthros_migrate=no-merge || return 1
	python3 - "$TMPD/st.json" <<'PY' || fail "the running transaction was not left out and named" || return 1
import json, sys
j = json.load(open(sys.argv[1]))["failover"]["migrate"]["journal"]
print("figure: left out: %s" % j["why"])
assert j["open_handles"] >= 1 and "not merged (merges off)" in j["why"] and j["merged_blocks"] == 0, j
PY
	vm exec backup "test ! -e /data/mg.$B/done" ||
		fail "the create in B came back without the merge: the test above cannot fail" || return 1
	fsck_clean
}

run_tests
