#!/usr/bin/env bash
# orthros-journal on the host, no machine: records made here (struct.pack of
# migrate/kernel/orthros_journal_abi.h) are appended to the journal of a copy
# of build/data.ext3, e2fsck replays it as the mount would, and the blocks the
# transactions carried must be home; every refusal must leave the image as it
# was.  Needs build/data.ext3 and build/host/orthros-journal (make).
. "$(dirname "$0")/lib.sh"

TOOL=$TOP/build/host/orthros-journal
DISK=$TOP/build/data.ext3
scratch=
# what the test derives from the image (it is rebuilt now and then: nothing hard-coded)
UUID= ITABLE= IOFF= DIRBLK= FILEBLK= SEQ=

setup() {
	[ -x "$TOOL" ] || { echo "no $TOOL: run make"; return 1; }
	[ -f "$DISK" ] || { echo "no $DISK: run make"; return 1; }
	for t in debugfs e2fsck dumpe2fs python3 md5sum; do
		command -v "$t" >/dev/null || { echo "no $t on the host"; return 1; }
	done
	scratch=$(mktemp -d)
	cp --sparse=always "$DISK" "$scratch/pristine.img" || return 1
	UUID=$(dumpe2fs -h "$scratch/pristine.img" 2>/dev/null | sed -n 's/^Filesystem UUID: *//p' | tr -d -)
	SEQ=$(dumpe2fs -h "$scratch/pristine.img" 2>/dev/null | sed -n 's/^Journal sequence: *//p')
	read -r ITABLE IOFF < <(debugfs -R "imap <2>" "$scratch/pristine.img" 2>/dev/null |
		sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1 \2/p')
	DIRBLK=$(debugfs -R "bmap / 0" "$scratch/pristine.img" 2>/dev/null)
	FILEBLK=$(debugfs -R "bmap /www/index.html 0" "$scratch/pristine.img" 2>/dev/null)
	[ ${#UUID} -eq 32 ] && [ -n "$SEQ" ] && [ -n "$ITABLE" ] && [ -n "$IOFF" ] && [ -n "$DIRBLK" ] && [ -n "$FILEBLK" ] ||
		{ echo "cannot read the image: uuid '$UUID' sequence '$SEQ' root inode at '$ITABLE' '$IOFF', / at '$DIRBLK', /www/index.html at '$FILEBLK'"; return 1; }
	debugfs -R "ls /" "$scratch/pristine.img" 2>/dev/null | grep -qw www ||
		{ echo "the image has no /www"; return 1; }
	SEQ=$((SEQ))
	echo "image: uuid $UUID, journal sequence $SEQ, root inode in block $ITABLE at $IOFF, / in $DIRBLK, /www/index.html in $FILEBLK"
}
teardown() { rm -rf "$scratch"; }

# mkrec OUT JSON: the records file.  JSON: {"head": N, "commit_seq": N,
# "txns": [{"tid": N, "committing": bool, "log_start": N, "revokes": [N...],
# "blocks": [[BLOCKNR, FILE]...]}...]} plus optional "uuid" (hex), "flags",
# "why", "dropped_tid", "dropped_blocks", "open_handles", "first", "last",
# "blocksize"; the rest is this disk's.
mkrec() {
	python3 - "$1" "$2" "$UUID" <<'PY'
import json, struct, sys
out, spec, uuid = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
bs = spec.get("blocksize", 1024)
body = b""
for t in spec["txns"]:
    blocks = t.get("blocks", [])
    revokes = t.get("revokes", [])
    body += struct.pack("<6I", t["tid"], 4 if t.get("committing") else 0, t.get("log_start", 0),
                        1 if t.get("committing") else 0, len(blocks), len(revokes))
    body += b"".join(struct.pack("<Q", r) for r in revokes)
    for nr, path in blocks:
        data = open(path, "rb").read()
        assert len(data) == bs, path
        body += struct.pack("<Q", nr) + data
size = 240 + len(body)
head = struct.pack("<10IQ16s4I160s", 0x4f4a524e, 1, spec.get("flags", 0), bs, len(spec["txns"]),
                   spec.get("first", 1), spec.get("last", 8192), spec["head"], spec["commit_seq"],
                   spec.get("last", 8192), size, bytes.fromhex(spec.get("uuid", uuid)),
                   spec.get("dropped_tid", 0), spec.get("dropped_blocks", 0), spec.get("open_handles", 0), 0,
                   spec.get("why", "").encode())
assert len(head) == 240
open(out, "wb").write(head + body)
PY
}

# fresh NAME: a copy of the pristine image with needs_recovery set, as a mounted
# file system has it (a fresh image does not)
fresh() {
	cp --sparse=always "$scratch/pristine.img" "$scratch/$1" &&
		debugfs -w -R "feature needs_recovery" "$scratch/$1" >/dev/null 2>&1 &&
		dumpe2fs -h "$scratch/$1" 2>/dev/null | grep -q needs_recovery
}

# blk IMG N: block N of IMG on stdout
blk() { dd if="$1" bs=1024 skip="$2" count=1 status=none; }

# root_inode IN OUT MTIME MODE: the inode-table block IN with the root inode's mtime and mode changed
root_inode() {
	python3 - "$1" "$2" "$IOFF" "$3" "$4" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
off, mtime, mode = int(sys.argv[3], 16), int(sys.argv[4]), int(sys.argv[5], 8)
struct.pack_into("<H", b, off, mode)
struct.pack_into("<I", b, off + 0x10, mtime)
open(sys.argv[2], "wb").write(b)
PY
}

# rename_www IN OUT NAME: the root directory block IN with www renamed NAME (3 letters)
rename_www() {
	python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
off = 0
while off < len(b):
    ino, rec_len, name_len = struct.unpack_from("<IHB", b, off)
    if ino and b[off + 8:off + 8 + name_len] == b"www":
        b[off + 8:off + 11] = sys.argv[3].encode()
        open(sys.argv[2], "wb").write(b)
        sys.exit(0)
    if rec_len < 8:
        break
    off += rec_len
sys.exit("no www in the directory block")
PY
}

# replay IMG: e2fsck replays the journal as the mount would, then must find it clean
replay() {
	local out rc
	out=$(e2fsck -fy "$1" 2>&1)
	rc=$?
	[ $rc -le 1 ] || { echo "$out"; fail "e2fsck -fy: exit $rc"; return 1; }
	out=$(e2fsck -fn "$1" 2>&1) || { echo "$out"; fail "e2fsck -fn is not clean after the replay"; return 1; }
	dumpe2fs -h "$1" 2>/dev/null | grep -q '^Journal start: *0$' || fail "the journal is not empty after the replay"
}

# same_block IMG N FILE WHAT
same_block() {
	cmp -s <(blk "$1" "$2") "$3" || fail "$4: block $2 does not hold what was logged"
}

# refused IMG RECORDS WANT: finish refuses (exit 1) saying WANT, and IMG is unchanged
refused() {
	local before out rc
	before=$(md5sum <"$1")
	out=$("$TOOL" finish "$1" --records "$2" 2>&1)
	rc=$?
	echo "$out"
	expect_eq "exit status" "$rc" 1 || return 1
	grep -q -- "$3" <<<"$out" || fail "the refusal does not say '$3'" || return 1
	expect_eq "the image's md5" "$(md5sum <"$1")" "$before"
}

# the two blocks of a running transaction: the root inode (mode, mtime) and / (www renamed)
two_blocks() { # PREFIX MTIME MODE NAME
	blk "$scratch/pristine.img" "$ITABLE" >"$scratch/itable.orig" &&
		blk "$scratch/pristine.img" "$DIRBLK" >"$scratch/dir.orig" &&
		root_inode "$scratch/itable.orig" "$scratch/$1.itable" "$2" "$3" &&
		rename_www "$scratch/dir.orig" "$scratch/$1.dir" "$4"
}

t_scan_pristine_log_is_empty() {
	local out
	out=$("$TOOL" scan "$scratch/pristine.img") || fail "scan failed: $out" || return 1
	echo "$out"
	grep -q "log: empty" <<<"$out" || fail "scan does not say the log is empty" || return 1
	out=$("$TOOL" scan "$scratch/pristine.img" --json)
	python3 -c 'import json,sys; j = json.loads(sys.argv[1]); sys.exit(0 if j["empty"] and j["journal"]["start"] == 0 and j["error"] is None else 1)' "$out" ||
		fail "scan --json: $out"
}

t_running_transaction_is_replayed() {
	local img=$scratch/r.img out tid=$((SEQ + 1))
	fresh r.img || return 1
	two_blocks r 1700000000 40750 wwx || return 1
	mkrec "$scratch/r.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $tid,
		\"blocks\": [[$ITABLE, \"$scratch/r.itable\"], [$DIRBLK, \"$scratch/r.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/r.rec" 2>&1) || fail "finish: $out" || return 1
	echo "$out"
	grep -q "tid $tid (running): 2 blocks, 0 revokes, log blocks 1-4" <<<"$out" || fail "finish does not name the transaction" || return 1
	out=$(debugfs -R "logdump -a" "$img" 2>&1)
	echo "$out"
	# two tags: the first without SAME_UUID, the last with LAST_TAG
	grep -q "FS block $ITABLE logged at journal block 2 (flags 0x0)" <<<"$out" &&
		grep -q "FS block $DIRBLK logged at journal block 3 (flags 0xa)" <<<"$out" &&
		grep -q "Found expected sequence $tid, type 2 (commit block)" <<<"$out" ||
		fail "logdump does not show the transaction" || return 1
	out=$("$TOOL" scan "$img")
	grep -q "tid $tid: log blocks 1-4, 2 data blocks" <<<"$out" || fail "scan: $out" || return 1
	replay "$img" || return 1
	same_block "$img" "$ITABLE" "$scratch/r.itable" "the root inode" || return 1
	same_block "$img" "$DIRBLK" "$scratch/r.dir" "the root directory" || return 1
	debugfs -R "ls /" "$img" 2>/dev/null | grep -qw wwx || fail "/www is not /wwx after the replay"
}

t_committing_and_running_pair_gives_running_version() {
	local img=$scratch/p.img out c=$((SEQ + 1)) r=$((SEQ + 2)) i
	fresh p.img || return 1
	two_blocks c 1700000000 40700 wwa && two_blocks r 1800000000 40750 wwb || return 1
	# the dead kernel's partial C in log blocks 1-11 (log block n is block 788+n
	# on this disk: the first 12 are direct): headers of C's tid, to be zeroed
	local j0
	j0=$(debugfs -R "bmap <8> 0" "$img" 2>/dev/null)
	for i in $(seq 1 11); do
		python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack(">III", 0xC03B3998, 2, int(sys.argv[1])) + b"x" * 1012)' "$c" |
			dd of="$img" bs=1024 seek=$((j0 + i)) conv=notrunc status=none
	done
	mkrec "$scratch/p.rec" "{\"head\": 12, \"commit_seq\": $SEQ, \"txns\": [
		{\"tid\": $c, \"committing\": true, \"log_start\": 1, \"blocks\": [[$DIRBLK, \"$scratch/c.dir\"], [$ITABLE, \"$scratch/c.itable\"]]},
		{\"tid\": $r, \"blocks\": [[$ITABLE, \"$scratch/r.itable\"], [$DIRBLK, \"$scratch/r.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/p.rec" --json 2>&1) || fail "finish: $out" || return 1
	echo "$out"
	grep -q "tid $c (committing): 2 blocks" <<<"$out" && grep -q "tid $r (running): 2 blocks" <<<"$out" ||
		fail "finish does not name both" || return 1
	for i in 9 10 11; do
		cmp -s <(blk "$img" $((j0 + i))) <(head -c 1024 /dev/zero) || fail "log block $i: the dead kernel's block is still there" || return 1
	done
	out=$("$TOOL" scan "$img")
	echo "$out"
	grep -q "log: 2 committed transactions, end 9, next tid $((r + 1))" <<<"$out" || fail "scan after finish" || return 1
	replay "$img" || return 1
	same_block "$img" "$ITABLE" "$scratch/r.itable" "the root inode (R's)" || return 1
	same_block "$img" "$DIRBLK" "$scratch/r.dir" "the root directory (R's)"
}

t_escaped_block_comes_back_intact() {
	local img=$scratch/e.img out tid=$((SEQ + 1)) j2
	fresh e.img || return 1
	python3 -c 'import struct,sys; sys.stdout.buffer.write((struct.pack(">I", 0xC03B3998) + b"escaped " * 200)[:1024])' >"$scratch/e.data"
	mkrec "$scratch/e.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $tid,
		\"blocks\": [[$FILEBLK, \"$scratch/e.data\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/e.rec" 2>&1) || fail "finish: $out" || return 1
	echo "$out"
	# in the log (log block 2, its data) the magic is zeroed; the tag says escaped
	j2=$(debugfs -R "bmap <8> 2" "$img" 2>/dev/null)
	expect_eq "the logged copy's first word" "$(blk "$img" "$j2" | head -c 4 | od -An -tx1 | tr -d ' ')" 00000000 || return 1
	out=$(debugfs -R "logdump -a" "$img" 2>&1)
	grep -q "FS block $FILEBLK logged at journal block 2 (flags 0x9)" <<<"$out" || fail "the tag is not ESCAPE|LAST_TAG: $out" || return 1
	replay "$img" || return 1
	same_block "$img" "$FILEBLK" "$scratch/e.data" "the escaped block"
}

# more blocks than one descriptor holds (122 tags with 1 KiB blocks, as
# commit.c packs them: 245 blocks take 3 descriptors, 2 with 127 a descriptor)
# and more revokes than one revoke block (252): free blocks, each image naming
# its block
t_large_transaction_spans_descriptors_and_revoke_blocks() {
	local img=$scratch/l.img out tid=$((SEQ + 1)) free
	fresh l.img || return 1
	free=$(debugfs -R "ffb 600 $((FILEBLK + 1000))" "$img" 2>/dev/null | sed 's/^Free blocks found: //')
	[ "$(wc -w <<<"$free")" -eq 600 ] || fail "600 free blocks not found: $free" || return 1
	python3 - "$scratch/l.rec" "$UUID" "$SEQ" $free <<'PY' || return 1
import struct, sys
out, uuid, seq, free = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4:]]
logged, revoked = free[:245], free[300:]
body = struct.pack("<6I", seq + 1, 0, 0, 0, len(logged), len(revoked))
body += b"".join(struct.pack("<Q", r) for r in revoked)
for b in logged:
    body += struct.pack("<Q", b) + (b"block %d " % b * 200)[:1024]
head = struct.pack("<10IQ16s4I160s", 0x4f4a524e, 1, 0, 1024, 1, 1, 8192, 1, seq, 8192, 240 + len(body),
                   bytes.fromhex(uuid), 0, 0, 0, 0, b"")
open(out, "wb").write(head + body)
PY
	out=$("$TOOL" finish "$img" --records "$scratch/l.rec" --json 2>/dev/null) || fail "finish: $out" || return 1
	python3 -c 'import json,sys; w = json.loads(sys.argv[1])["written"][0]
sys.exit(0 if (w["descriptors"], w["revoke_blocks"], w["log_first"], w["log_last"]) == (3, 2, 1, 251) else 1)' "$out" ||
		fail "not 2 revoke blocks, 3 descriptors, log blocks 1-251: $out" || return 1
	out=$("$TOOL" scan "$img" --json)
	python3 -c 'import json,sys; t = json.loads(sys.argv[1])["transactions"]
sys.exit(0 if len(t) == 1 and (t[0]["descriptors"], t[0]["data_blocks"], t[0]["revokes"], t[0]["log_end"]) == (3, 245, 300, 252) else 1)' "$out" ||
		fail "scan: $out" || return 1
	expect_eq "tags in logdump" "$(debugfs -R "logdump -a" "$img" 2>/dev/null | grep -c "logged at journal block")" 245 || return 1
	replay "$img" || return 1
	for b in $(echo $free | cut -d' ' -f1,122,123,244,245); do
		cmp -s <(blk "$img" "$b") <(python3 -c 'import sys; sys.stdout.buffer.write((b"block %d " % int(sys.argv[1]) * 200)[:1024])' "$b") ||
			fail "block $b does not hold its image after the replay" || return 1
	done
}

# a transaction that runs past the log's last block goes on at s_first
t_log_wraps_from_last_to_first() {
	local img=$scratch/w.img out tid=$((SEQ + 1)) last
	fresh w.img && two_blocks w 1700000000 40750 wwx || return 1
	last=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Total journal blocks: *//p')
	mkrec "$scratch/w.rec" "{\"head\": $((last - 2)), \"last\": $last, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $tid,
		\"blocks\": [[$ITABLE, \"$scratch/w.itable\"], [$DIRBLK, \"$scratch/w.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/w.rec" 2>&1) || fail "finish: $out" || return 1
	echo "$out"
	grep -q "tid $tid (running): 2 blocks, 0 revokes, log blocks $((last - 2))-2" <<<"$out" || fail "not wrapped" || return 1
	out=$(debugfs -R "logdump -a" "$img" 2>&1)
	echo "$out"
	grep -q "FS block $DIRBLK logged at journal block 1 " <<<"$out" || fail "logdump: the second block is not at log block 1" || return 1
	replay "$img" || return 1
	same_block "$img" "$ITABLE" "$scratch/w.itable" "the root inode" || return 1
	same_block "$img" "$DIRBLK" "$scratch/w.dir" "the root directory"
}

# C logs a block, R revokes it: the replay must not write C's copy
t_revoke_in_running_hides_committing_copy() {
	local img=$scratch/v.img out c=$((SEQ + 1)) r=$((SEQ + 2))
	fresh v.img || return 1
	blk "$img" "$FILEBLK" >"$scratch/v.orig"
	head -c 1024 /dev/zero | tr '\0' 'C' >"$scratch/v.c"
	two_blocks v 1700000000 40750 wwv || return 1
	mkrec "$scratch/v.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [
		{\"tid\": $c, \"committing\": true, \"log_start\": 1, \"blocks\": [[$FILEBLK, \"$scratch/v.c\"]]},
		{\"tid\": $r, \"revokes\": [$FILEBLK], \"blocks\": [[$DIRBLK, \"$scratch/v.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/v.rec" 2>&1) || fail "finish: $out" || return 1
	echo "$out"
	dumpe2fs -h "$img" 2>/dev/null | grep -q '^Journal features:.*journal_incompat_revoke' ||
		fail "the journal superblock lacks the revoke feature" || return 1
	replay "$img" || return 1
	same_block "$img" "$FILEBLK" "$scratch/v.orig" "the revoked block (must be untouched)" || return 1
	same_block "$img" "$DIRBLK" "$scratch/v.dir" "the root directory"
}

# a log that is not empty: the second finish lands after the first, unreplayed
t_second_finish_lands_after_first() {
	local img=$scratch/n.img out t1=$((SEQ + 1)) t2=$((SEQ + 2))
	fresh n.img || return 1
	two_blocks n1 1700000000 40700 wwa && two_blocks n2 1800000000 40755 wwb || return 1
	mkrec "$scratch/n1.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $t1,
		\"blocks\": [[$DIRBLK, \"$scratch/n1.dir\"], [$ITABLE, \"$scratch/n1.itable\"]]}]}" || return 1
	"$TOOL" finish "$img" --records "$scratch/n1.rec" || return 1
	out=$("$TOOL" scan "$img" --json)
	echo "$out"
	python3 -c 'import json,sys; j = json.loads(sys.argv[1]); t = j["transactions"]
sys.exit(0 if len(t) == 1 and t[0]["tid"] == int(sys.argv[2]) and t[0]["data_blocks"] == 2 and j["end"] == 5 and j["next_tid"] == int(sys.argv[2]) + 1 else 1)' "$out" "$t1" ||
		fail "scan does not find the first transaction" || return 1
	mkrec "$scratch/n2.rec" "{\"head\": 5, \"commit_seq\": $t1, \"txns\": [{\"tid\": $t2,
		\"blocks\": [[$DIRBLK, \"$scratch/n2.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/n2.rec" 2>&1) || fail "second finish: $out" || return 1
	echo "$out"
	grep -q "tid $t2 (running): 1 blocks, 0 revokes, log blocks 5-7" <<<"$out" || fail "not at the end of the first" || return 1
	out=$("$TOOL" scan "$img")
	grep -q "log: 2 committed transactions, end 8, next tid $((t2 + 1))" <<<"$out" || fail "scan: $out" || return 1
	replay "$img" || return 1
	same_block "$img" "$DIRBLK" "$scratch/n2.dir" "the root directory (the second's)" || return 1
	same_block "$img" "$ITABLE" "$scratch/n1.itable" "the root inode (the first's)"
}

# C's commit block landed before the death: C is on the disk, only R is appended
t_committed_committing_is_left_alone() {
	local img=$scratch/d.img out c=$((SEQ + 1)) r=$((SEQ + 2))
	fresh d.img || return 1
	two_blocks d1 1700000000 40700 wwa && two_blocks d2 1800000000 40755 wwb || return 1
	mkrec "$scratch/d1.rec" "{\"head\": 5, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $c, \"committing\": true, \"log_start\": 1,
		\"blocks\": [[$DIRBLK, \"$scratch/d1.dir\"], [$ITABLE, \"$scratch/d1.itable\"]]}]}" || return 1
	"$TOOL" finish "$img" --records "$scratch/d1.rec" || return 1
	mkrec "$scratch/d2.rec" "{\"head\": 5, \"commit_seq\": $SEQ, \"txns\": [
		{\"tid\": $c, \"committing\": true, \"log_start\": 1, \"blocks\": [[$DIRBLK, \"$scratch/d1.dir\"], [$ITABLE, \"$scratch/d1.itable\"]]},
		{\"tid\": $r, \"blocks\": [[$DIRBLK, \"$scratch/d2.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/d2.rec" 2>&1) || fail "finish: $out" || return 1
	echo "$out"
	grep -q "committing tid $c is committed on the disk already" <<<"$out" &&
		grep -q "tid $r (running): 1 blocks, 0 revokes, log blocks 5-7" <<<"$out" || fail "C not left alone" || return 1
	replay "$img" || return 1
	same_block "$img" "$DIRBLK" "$scratch/d2.dir" "the root directory (R's)"
}

t_refuses_other_uuid() {
	local img=$scratch/u.img
	fresh u.img && two_blocks u 1700000000 40750 wwx || return 1
	mkrec "$scratch/u.rec" "{\"uuid\": \"11111111111111111111111111111111\", \"head\": 1, \"commit_seq\": $SEQ,
		\"txns\": [{\"tid\": $((SEQ + 1)), \"blocks\": [[$DIRBLK, \"$scratch/u.dir\"]]}]}" || return 1
	refused "$img" "$scratch/u.rec" "uuid"
}

t_refuses_block_in_journal() {
	local img=$scratch/j.img jb
	fresh j.img && two_blocks j 1700000000 40750 wwx || return 1
	jb=$(debugfs -R "bmap <8> 100" "$img" 2>/dev/null)
	mkrec "$scratch/j.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $((SEQ + 1)),
		\"blocks\": [[$DIRBLK, \"$scratch/j.dir\"], [$jb, \"$scratch/j.itable\"]]}]}" || return 1
	refused "$img" "$scratch/j.rec" "block $jb is one of the journal inode's own blocks"
}

t_refuses_block_beyond_file_system() {
	local img=$scratch/b.img n
	fresh b.img && two_blocks b 1700000000 40750 wwx || return 1
	n=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Block count: *//p')
	mkrec "$scratch/b.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $((SEQ + 1)),
		\"blocks\": [[$n, \"$scratch/b.dir\"]]}]}" || return 1
	refused "$img" "$scratch/b.rec" "block $n is outside the file system"
}

t_refuses_tid_not_following_log() {
	local img=$scratch/t.img t1=$((SEQ + 1))
	fresh t.img && two_blocks t 1700000000 40750 wwx || return 1
	mkrec "$scratch/t1.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $t1,
		\"blocks\": [[$DIRBLK, \"$scratch/t.dir\"]]}]}" || return 1
	"$TOOL" finish "$img" --records "$scratch/t1.rec" >/dev/null || return 1
	# the log's next tid is t1+1 at log block 4; t1+2 is one too far
	mkrec "$scratch/t2.rec" "{\"head\": 4, \"commit_seq\": $((t1 + 1)), \"txns\": [{\"tid\": $((t1 + 2)),
		\"blocks\": [[$ITABLE, \"$scratch/t.itable\"]]}]}" || return 1
	refused "$img" "$scratch/t2.rec" "does not follow the log's last committed transaction: the log's next tid is $((t1 + 1))" || return 1
	# the right tid, at the wrong place
	mkrec "$scratch/t3.rec" "{\"head\": 6, \"commit_seq\": $t1, \"txns\": [{\"tid\": $((t1 + 1)),
		\"blocks\": [[$ITABLE, \"$scratch/t.itable\"]]}]}" || return 1
	refused "$img" "$scratch/t3.rec" "the dead j_head is 6, the log ends at 4"
}

t_refuses_without_needs_recovery() {
	local img=$scratch/nr.img
	cp --sparse=always "$scratch/pristine.img" "$img" && two_blocks nr 1700000000 40750 wwx || return 1
	mkrec "$scratch/nr.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $((SEQ + 1)),
		\"blocks\": [[$DIRBLK, \"$scratch/nr.dir\"]]}]}" || return 1
	refused "$img" "$scratch/nr.rec" "needs_recovery is not set"
}

t_dry_run_and_nothing_to_do_write_nothing() {
	local img=$scratch/dr.img before out
	fresh dr.img && two_blocks dr 1700000000 40750 wwx || return 1
	before=$(md5sum <"$img")
	mkrec "$scratch/dr.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"txns\": [{\"tid\": $((SEQ + 1)),
		\"blocks\": [[$DIRBLK, \"$scratch/dr.dir\"]]}]}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/dr.rec" --dry-run 2>&1) || fail "dry run: $out" || return 1
	echo "$out"
	grep -q "dry run: would append 1 transaction" <<<"$out" || fail "the dry run does not say its plan" || return 1
	# the kernel dropped R (a handle open in it): said, nothing written
	mkrec "$scratch/dr0.rec" "{\"head\": 1, \"commit_seq\": $SEQ, \"why\": \"running transaction has open handles\",
		\"dropped_tid\": $((SEQ + 1)), \"dropped_blocks\": 3, \"open_handles\": 1, \"txns\": []}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/dr0.rec" 2>&1) || fail "nothing to finish: $out" || return 1
	echo "$out"
	grep -q "warning: the kernel left out: running transaction has open handles (tid $((SEQ + 1)), 3 blocks, 1 open handles)" <<<"$out" &&
		grep -q "nothing to finish" <<<"$out" || fail "the dropped transaction is not named" || return 1
	mkrec "$scratch/dr1.rec" "{\"flags\": 2, \"head\": 1, \"commit_seq\": $SEQ, \"txns\": []}" || return 1
	out=$("$TOOL" finish "$img" --records "$scratch/dr1.rec" 2>&1) || fail "aborted: $out" || return 1
	grep -q "aborted" <<<"$out" || fail "ABORTED not said: $out" || return 1
	expect_eq "the image's md5" "$(md5sum <"$img")" "$before"
}

run_tests
