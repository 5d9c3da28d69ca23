#!/usr/bin/env bash
# build-linux-mm.sh — build the Linux VMA-tree peers of tests/bench/bench_vma.c into a build
# directory, at benchmark time.
#
#   build-linux-mm.sh OUT_DIR [CC]
#
# The peers are Linux 6.1's maple tree (lib/maple_tree.c, run on the userspace shims of
# tools/testing/radix-tree) and the augmented rbtree of tools/lib/rbtree.c. Both are GPL: this
# script unpacks them from Debian's linux-source-6.1 into OUT_DIR and compiles memvisor's glue
# (tests/bench/peers/*.c) against them there. Nothing GPL is ever written into the source tree.
#
# Output: OUT_DIR/linux_mm_peers.o, one relocatable object whose only global definitions are
# vma_peer_maple and vma_peer_rbtree (see tests/bench/peers/vma_peer.h). Every harness symbol is
# made local so it cannot collide with memvisor's. Link it with -lurcu -lpthread.
#
# Environment: PEER_CFLAGS (default "-O2 -g", the kernel's optimisation level), LD, OBJCOPY, AR, NM.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/lib/deps.sh"

die() { echo "build-linux-mm.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: build-linux-mm.sh OUT_DIR [CC]"
out=$(mkdir -p "$1" && cd "$1" && pwd)
cc=${2:-cc}
ld=${LD:-ld}
objcopy=${OBJCOPY:-objcopy}
ar=${AR:-ar}
nm=${NM:-nm}
opt=${PEER_CFLAGS:--O2 -g}
tarball=/usr/src/linux-source-6.1.tar.xz
peers=$root/tests/bench/peers

deps_install linux-source-6.1 liburcu-dev \
	|| die "the VMA benchmark's peers need Debian's linux-source-6.1 and liburcu-dev"
[ -f "$tarball" ] || die "$tarball is missing (package linux-source-6.1)"

# 1. Unpack only what the harness needs (tools/, include/, lib/), once per build directory.
src=$out/linux-source-6.1
if [ ! -f "$out/.unpacked" ] || [ "$tarball" -nt "$out/.unpacked" ]; then
	echo "unpacking tools/ include/ lib/ of $tarball into $out" >&2
	rm -rf "$src"
	tar -C "$out" -xJf "$tarball" linux-source-6.1/tools linux-source-6.1/include \
		linux-source-6.1/lib
	touch "$out/.unpacked"
fi

# 2. The radix-tree harness: generated headers and the shim objects (kmalloc in slab.o, rbtree.o,
#    and what else the glue may need: xarray/radix-tree/idr, bitmaps). Built with the peer flags
#    instead of the harness's -Og + sanitizers. Its kmem_cache shim (linux.o) is archived too but
#    not linked: peer_slab.c defines kmem_cache_* first (see why there).
rt=$src/tools/testing/radix-tree
harness="xarray.o radix-tree.o idr.o linux.o test.o find_bit.o bitmap.o slab.o rbtree.o"
make -s -C "$rt" CC="$cc" CFLAGS="$opt -D_LGPL_SOURCE -I. -I../../include -w" \
	generated/map-shift.h generated/bit-length.h radix-tree.c idr.c $harness
rm -f "$out/harness.a"
(cd "$rt" && "$ar" rcs "$out/harness.a" $harness)

# 3. memvisor's glue. maple_peer.c includes lib/maple_tree.c relative to the harness directory,
#    so it is compiled from there with the harness's include paths.
(cd "$rt" && "$cc" $opt -D_LGPL_SOURCE -I. -I../../include -I"$peers" -w \
	-c "$peers/maple_peer.c" -o "$out/maple_peer.o")
(cd "$rt" && "$cc" $opt -I. -I../../include -Wall \
	-c "$peers/peer_slab.c" -o "$out/peer_slab.o")
"$cc" $opt -I"$src/tools/include" -I"$peers" -Wall -Wno-unused-function \
	-c "$peers/rbtree_peer.c" -o "$out/rbtree_peer.o"

# 4. One object: the glue plus the harness members it needs (ld -r pulls archive members the
#    way a final link does), with every global except the two ops tables made local.
"$ld" -r -o "$out/linux_mm_peers.tmp.o" "$out/maple_peer.o" "$out/rbtree_peer.o" \
	"$out/peer_slab.o" "$out/harness.a"
if "$nm" "$out/linux_mm_peers.tmp.o" | grep -qw kmem_cache_free_locked; then
	die "the harness's kmem_cache shim (linux.o) got linked: peer_slab.c must define what it did"
fi
"$objcopy" --keep-global-symbol=vma_peer_maple --keep-global-symbol=vma_peer_rbtree \
	"$out/linux_mm_peers.tmp.o" "$out/linux_mm_peers.o"
rm -f "$out/linux_mm_peers.tmp.o"
echo "built $out/linux_mm_peers.o (GPL peers: stays in the build directory)" >&2
