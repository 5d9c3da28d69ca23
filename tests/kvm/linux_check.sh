#!/usr/bin/env bash
# linux_check.sh — boot Debian's own kernel under memvisor with 2 NUMA nodes and a virtio-balloon,
# and check what Linux found (issue 9's Linux test).
#
#   linux_check.sh MEMVISOR QMP_CLIENT INIT_SCRIPT DIR
#
# Builds an initramfs at test time: /bin/busybox (busybox-static), INIT_SCRIPT as /init
# (tests/kvm/linux_init.sh) and virtio_ring, virtio, virtio_mmio, virtio_balloon from
# /lib/modules of the kernel in /boot (the newest one that has them). Boots it with 2 vCPUs on
# 2 nodes of 256 MiB (vCPU n on node n) with --balloon, then over QMP: once the guest says
# READY, reads the host's per-node pool figures (x-memvisor-query-memory frames_used), asks for
# 128 MiB back (balloon value = 384 MiB), waits for the guest to report MemFree down by
# 100 MiB, reads the pool figures again, then gives the memory back (value = 512 MiB) and waits
# for the guest to see MemFree rise again and power off. Checks: status 0 (the guest's checks
# passed and `poweroff` reached memvisor through ACPI S5); Linux up on both vCPUs; node 0 and
# node 1 online with 256 MiB each (memory blocks), cpu 0 on node 0 and cpu 1 on node 1, node 1's
# range read from our SRAT; the balloon driver bound; the guest's MemFree dropped by at least
# 100 MiB, the host's pools hold as much as ballooned and their frames in use dropped by at least
# half that; MemFree rose again on deflation; memvisor's consistency check ok. The serial log
# stays in DIR/linux.serial. MV_LINUX_KERNEL names another image of the same kernel to boot
# instead, e.g. its vmlinux (PVH entry; docs/boot.md).
#
# One boot. A boot whose serial log stays still for $stall_s seconds is killed and the check
# exits 2 naming the last line (linux_sandbox.sh, which runs it in the nested sandbox, then
# boots again: docs/sandbox.md, "QEMU's SVM and interrupts"); any other failure exits 1.
set -uo pipefail
memvisor=$1 client=$2 init=$3 dir=$4
node_mib=256 balloon_mib=128 want_drop_mib=100

# fail MESSAGE: report and exit 1 (2 with stall_status=2: Linux stalled, linux_sandbox.sh boots
# again)
fail() {
    echo "FAIL: $*"
    echo "---- serial:"; cat "$serial" 2>/dev/null; echo "---- stderr:"; cat "$err" 2>/dev/null
    echo "---- qmp:"; cat "$replies" 2>/dev/null
    exit "${stall_status:-1}"
}

kver=
for img in /boot/vmlinuz-*; do
    v=${img#/boot/vmlinuz-}
    [[ -f /lib/modules/$v/kernel/drivers/virtio/virtio_balloon.ko ]] && kver=$v
done
[[ -n $kver ]] || { echo "FAIL: no /boot/vmlinuz-* with virtio_balloon.ko in /lib/modules (apt-get install linux-image-amd64)"; exit 1; }
kernel=${MV_LINUX_KERNEL:-/boot/vmlinuz-$kver}  # another image of that version: PVH vmlinux
[[ -x /bin/busybox ]] || { echo "FAIL: /bin/busybox missing (apt-get install busybox-static)"; exit 1; }

work=$(mktemp -d /tmp/linux_check.XXXXXX)
sock=$work/qmp.sock serial=$dir/linux.serial err=$work/stderr replies=$work/replies
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/bin" "$work/root/modules" "$work/root/"{proc,sys,dev,tmp}
cp /bin/busybox "$work/root/bin/busybox"
cp "$init" "$work/root/init"
chmod +x "$work/root/init"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio \
         drivers/virtio/virtio_balloon; do
    src=/lib/modules/$kver/kernel/$m.ko
    if [[ -f $src ]]; then cp "$src" "$work/root/modules/"
    elif [[ -f $src.xz ]]; then xz -dc "$src.xz" >"$work/root/modules/${m##*/}.ko"
    else fail "module $m missing in /lib/modules/$kver"; fi
done
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz") ||
    fail "building the initramfs"
echo "kernel $kernel, initramfs $(stat -c %s "$work/initrd.gz") bytes"

# the guest's report lines, from the kernel log on COM1 (linux_init.sh writes to /dev/kmsg;
# the kernel's console ends its lines with CR LF)
report() { [[ -f $serial ]] && tr -d '\r' <"$serial" | sed -n 's/^\[ *[0-9.]*\] \(LINUXTEST \)/\1/p'; }
mib() {             # mib FIELD REPLY: MiB of FIELD summed over the nodes of a query-memory reply
    python3 -c 'import json,sys; r=json.loads(sys.argv[2])["return"]
print(sum(n[sys.argv[1]] for n in r["nodes"]) * r["page_size"] // 1048576)' "$1" "$2"
}
# wait_for REGEX: 0 once the report has a line matching REGEX; 1 if memvisor ended first;
# 2 if the serial log stopped growing for $stall_s seconds (a stalled boot, killed).
wait_for() {
    local size=-1 still=0 now
    while ! report | grep -Eq "$1"; do
        kill -0 $pid 2>/dev/null || return 1
        now=$(stat -c %s "$serial" 2>/dev/null || echo 0)
        if (( now == size )); then still=$((still + 1)); else still=0 size=$now; fi
        if (( still >= stall_s * 2 )); then
            kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
            return 2
        fi
        sleep 0.5
    done
}

stall_s=90
rm -f "$serial" "$replies"
"$memvisor" run --kernel "$kernel" --initrd "$work/initrd.gz" \
    --append "console=ttyS0 panic=-1 linuxtest.balloon_kib=$((want_drop_mib * 1024))" \
    --cpus 2 --numa size=${node_mib}M --numa size=${node_mib}M --balloon \
    --serial "$serial" --qmp "unix:$sock,server=on,wait=off" >"$work/stdout" 2>"$err" &
pid=$!
# step REGEX WHAT: wait for the guest's report to match REGEX; fail naming WHAT if it does not
step() {
    wait_for "$1"
    case $? in
    1) wait $pid; fail "memvisor ended (status $?) before $2" ;;
    2) stall_status=2 fail "Linux stalled before $2: no serial output for $stall_s s" \
           "after: $(tail -n 1 "$serial" | cut -c1-160)" ;;
    esac
}
step '^LINUXTEST READY' "the guest said READY"
before=$(python3 "$client" --wait 10 "$sock" x-memvisor-query-memory) || fail "query-memory: $before"
echo "$before" >>"$replies"
python3 "$client" "$sock" balloon "{\"value\": $(( (2 * node_mib - balloon_mib) << 20 ))}" \
    >>"$replies" || fail "the balloon command failed"
step '^LINUXTEST (BALLOON|FAIL)' "the guest's balloon report"
after=$(python3 "$client" "$sock" x-memvisor-query-memory -- query-balloon) || fail "query: $after"
echo "$after" >>"$replies"
python3 "$client" "$sock" balloon "{\"value\": $(( (2 * node_mib) << 20 ))}" >>"$replies" ||
    fail "the balloon command (deflate) failed"
step '^LINUXTEST (DEFLATE|FAIL)' "the guest's deflate report"
wait $pid
status=$?

report >"$work/report"
cat "$work/report"
(( status == 0 )) || fail "memvisor exited with status $status, not 0 (the guest's checks passed and it powered off)"
grep -q 'reboot: Power down' "$serial" || fail "Linux did not power down through ACPI"
grep -q '^LINUXTEST FAIL' "$work/report" && fail "a guest check failed"
grep -Eq '^LINUXTEST nodes online=0-1 ' "$work/report" || fail "Linux does not have nodes 0-1 online"
grep -Eq "^LINUXTEST node 0 cpus=0 span_mib=$node_mib memtotal_kib=[0-9]+$" "$work/report" ||
    fail "node 0 is not cpu 0 with $node_mib MiB"
grep -Eq "^LINUXTEST node 1 cpus=1 span_mib=$node_mib memtotal_kib=[0-9]+$" "$work/report" ||
    fail "node 1 is not cpu 1 with $node_mib MiB"
grep -Eq '^LINUXTEST kernel .* cpus=2 online=0-1$' "$work/report" || fail "Linux is not up on both vCPUs"
grep -Eq '^LINUXTEST dmesg .*ACPI: SRAT: Node 1 PXM 1 \[mem 0x10000000-0x1fffffff\]' "$work/report" ||
    fail "Linux did not read node 1's range from our SRAT"

grep -Eq '^LINUXTEST virtio_balloon bound to virtio[0-9]+ \(0x0005\)$' "$work/report" ||
    fail "virtio_balloon is not bound"
grep -Eq '^LINUXTEST BALLOON memfree_kib=' "$work/report" || fail "the guest's free memory did not drop"
grep -Eq '^LINUXTEST DEFLATE memfree_kib=' "$work/report" || fail "the guest's free memory did not rise again"
# The host's side: the pages the balloon holds are ballooned in the pools (their frames freed),
# and the frames in use drop with them — by at least half of what the guest gave: the guest
# backed all but 64 MiB of its free memory before READY, but goes on touching pages meanwhile.
after_mem=$(sed -n 1p <<<"$after")       # the x-memvisor-query-memory reply
b=$(mib frames_used "$before") a=$(mib frames_used "$after_mem")
held=$(mib pages_ballooned "$after_mem")
echo "host: $held MiB ballooned; frames in use $b MiB before the balloon, $a MiB after"
(( held >= want_drop_mib )) || fail "the host's pools hold $held MiB ballooned, not $want_drop_mib"
(( b - a >= want_drop_mib / 2 )) ||
    fail "the host's frames in use dropped by $((b - a)) MiB, not $((want_drop_mib / 2))"
grep -q 'guest memory consistency check: ok' "$err" || fail "no consistency check ok"
grep -E 'virtio-balloon:' "$err"
echo "ok: Linux $kver on 2 vCPUs saw 2 nodes of $node_mib MiB, bound the balloon; guest and host gave back memory, and the guest got it again"
