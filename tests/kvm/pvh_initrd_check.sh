#!/usr/bin/env bash
# pvh_initrd_check.sh — boot the memvisor guest (a PVH image) with `--initrd FILE`, FILE written
# here at test time, and check that the guest was handed exactly that file as module 0 of
# hvm_start_info, where memvisor says it puts it (vmm/boot_pvh.h): page-aligned at the top of
# the highest run of RAM below 3 GiB.
#
#   pvh_initrd_check.sh --size N --top T MEMVISOR IMAGE [RUN ARGS...]
#       FILE is N pseudo-random bytes (a fixed seed). The guest must exit with status 1 (every
#       TAP check ok), report "# module 0: paddr P size N crc32 C" with P = (T - N) rounded
#       down to 4 KiB (and above the image's end) and C the file's CRC-32 (zlib's, computed
#       here), and pass its checks that the module lies in RAM of the memory map and in its
#       boot identity map. T is the end of the highest run of RAM below 3 GiB.
#   pvh_initrd_check.sh --too-large --top T MEMVISOR IMAGE [RUN ARGS...]
#       FILE is one byte more than the room between the image's end (its highest PT_LOAD
#       p_paddr + p_memsz, rounded up to 4 KiB, read from IMAGE here) and T, the top of the one
#       run of RAM: memvisor must refuse it with status 2 before the guest runs, naming the
#       file, its size and that room in its message.
#
# On failure prints the guest's output and memvisor's stderr and exits 1.
set -uo pipefail

size= top= too_large=
while [[ $# -gt 0 ]]; do
    case $1 in
    --size) size=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --too-large) too_large=1; shift ;;
    *) break ;;
    esac
done
memvisor=${1:-} image=${2:-}
[[ ( -n $size || -n $too_large ) && -n $top && -x $memvisor && -f $image ]] || {
    echo "usage: pvh_initrd_check.sh (--size N | --too-large) --top T MEMVISOR IMAGE [ARGS...]" >&2
    exit 2; }
shift 2

# The image's end: one past the highest byte of its PT_LOADs (ELF64, as the guest is).
image_end=$(python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
phoff, = struct.unpack_from("<Q", b, 32)
phentsize, phnum = struct.unpack_from("<HH", b, 54)
end = 0
for i in range(phnum):
    o = phoff + i * phentsize
    typ, = struct.unpack_from("<I", b, o)
    paddr, _, memsz = struct.unpack_from("<QQQ", b, o + 24)
    if typ == 1 and memsz:
        end = max(end, paddr + memsz)
print(end)' "$image") || { echo "cannot read the program headers of $image" >&2; exit 2; }
room=$(( top - ((image_end + 0xfff) & ~0xfff) ))
[[ -n $too_large ]] && size=$((room + 1))

dir=$(mktemp -d "${TMPDIR:-/tmp}/pvh-initrd.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT
initrd=$dir/initrd.img out=$dir/out err=$dir/err
# The file and its CRC-32, as the guest computes it (crc32_ieee in guest/main.c).
crc=$(python3 -c '
import random, sys, zlib
data = random.Random(20261124).randbytes(int(sys.argv[2]))
open(sys.argv[1], "wb").write(data)
print("0x%08x" % zlib.crc32(data))' "$initrd" "$size") ||
    { echo "cannot write $initrd" >&2; exit 2; }

timeout 100 "$memvisor" run "$image" --initrd "$initrd" "$@" >"$out" 2>"$err"
rc=$?

fail() {
    echo "FAIL: $*"
    echo "---- command: $memvisor run $image --initrd $initrd $*"
    echo "---- stdout:"; cat "$out"; echo "---- stderr:"; cat "$err"
    exit 1
}

if [[ -n $too_large ]]; then
    [[ $rc == 2 ]] || fail "exit status $rc, expected 2 (the initrd does not fit)"
    want="$initrd: initrd of $size bytes does not fit in guest RAM below 0xc0000000"
    want+=" (largest room: $room bytes, above the image ending at 0x"
    grep -qF -- "$want" "$err" || fail "stderr lacks '$want...'"
    grep -q '^TAP version' "$out" && fail "the guest ran"
    echo "ok: refused with status 2: $(cat "$err")"
    exit 0
fi

(( size <= room )) ||
    { echo "test bug: $size bytes do not fit the $room above the image" >&2; exit 2; }
paddr=$(printf '0x%x' $(( (top - size) & ~0xfff )))
[[ $rc == 1 ]] || fail "exit status $rc, expected 1 (every guest check ok)"
grep -q '^not ok' "$out" && fail "a guest check failed"
want="# module 0: paddr $paddr size $size crc32 $crc"
grep -qxF -- "$want" "$out" || fail "missing '$want'"
grep -qx '# modules: 1 at 0x[0-9a-f]*' "$out" || fail "missing '# modules: 1 at ...'"
grep -qE "^ok [0-9]+ - module 0 $paddr\\+0x[0-9a-f]+ lies in RAM of the memory map$" "$out" ||
    fail "missing 'ok N - module 0 $paddr+... lies in RAM of the memory map'"
grep -qE '^ok [0-9]+ - module 0 lies below 0x100000000, in the boot identity map$' "$out" ||
    fail "missing 'ok N - module 0 lies below 0x100000000, in the boot identity map'"
grep -qE '^1\.\.[0-9]+$' "$out" || fail "no TAP plan: the guest did not finish"
echo "ok: status 1, module 0 at $paddr, $size bytes, crc32 $crc"
