#!/bin/busybox sh
# linux_init.sh — /init of the initramfs tests/kvm/linux_check.sh builds around Debian's kernel.
# Runs as PID 1 under memvisor: loads the virtio modules from Debian 6.1 in their dependency
# order, prints what Linux made of memvisor's machine as "LINUXTEST ..." lines (the NUMA nodes
# from SRAT with their CPUs and memory blocks, the balloon driver's binding), touches memory so
# the host backs it, then waits for the balloon the host inflates over QMP to take free memory
# and, once the host deflates it again, for that memory to come back; ends the VM by powering
# off if everything here worked, else through the isa-debug-exit port with code 1.
# Parameters from the kernel command line: linuxtest.balloon_kib=N (how much MemFree must drop).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=90% tmpfs /tmp
# Everything below goes to the kernel log, which the kernel prints on COM1 itself with its
# timestamps (linux_check.sh reads the lines from there), and cannot interleave with a tty's.
exec </dev/null >/dev/kmsg 2>&1
rc=0
say() { echo "LINUXTEST $*"; }
bad() { echo "LINUXTEST FAIL $*"; rc=1; }
finish() {
	say "END rc=$rc"
	# Everything worked: power off through ACPI (S5 on the FADT's sleep control port), memvisor
	# exits with status 0. Otherwise port 0xf4 (244): memvisor exits with (rc << 1) | 1.
	[ "$rc" -eq 0 ] && poweroff -f
	printf "\\$(printf '%03o' "$rc")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	sleep 5
	bad "the exit port did not end the VM"
}

want_kib=0
for arg in $(cat /proc/cmdline); do
	case $arg in linuxtest.balloon_kib=*) want_kib=${arg#*=} ;; esac
done

say "kernel $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) online=$(cat /sys/devices/system/cpu/online)"
for m in virtio_ring virtio virtio_mmio virtio_balloon; do
	insmod /modules/$m.ko && say "insmod $m ok" || bad "insmod $m"
done

block=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
say "nodes online=$(cat /sys/devices/system/node/online) memory_block_bytes=$block"
for n in /sys/devices/system/node/node[0-9]*; do
	id=${n##*node}
	blocks=$(ls -d "$n"/memory[0-9]* 2>/dev/null | wc -l)
	total=$(awk '/MemTotal/ { print $4 }' "$n/meminfo")
	say "node $id cpus=$(cat "$n/cpulist") span_mib=$((blocks * block / 1048576)) memtotal_kib=$total"
done
dmesg | grep -E 'ACPI: SRAT: Node|NUMA: Initialized|Initmem setup node|ACPI: SLIT' | sed 's/^/LINUXTEST dmesg /'

bound=$(ls /sys/bus/virtio/drivers/virtio_balloon 2>/dev/null | grep '^virtio')
[ -n "$bound" ] && say "virtio_balloon bound to $bound ($(cat /sys/bus/virtio/devices/$bound/device))" \
	|| bad "virtio_balloon is not bound to any device"

# memfree: now = MemFree in KiB, read without forking (the wait loops below should not touch
# fresh memory while the host measures it).
memfree() {
	while read -r key now rest; do
		[ "$key" = MemFree: ] && return 0
	done </proc/meminfo
}

# Touch the memory the balloon may take: fill tmpfs with all but 64 MiB of the free memory and
# delete the file, so the free pages are backed on the host (the balloon driver takes whichever
# free pages it gets; untouched ones would free nothing there).
memfree
dd if=/dev/zero of=/tmp/fill bs=1M count=$(((now - 65536) / 1024)) 2>/dev/null
rm -f /tmp/fill
memfree
before=$now
say "READY memfree_kib=$before"

# memfree_moves FROM SIGN: poll MemFree every 0.1 s for up to 120 s until it has moved from FROM
# by want_kib in the direction SIGN (-1 down, 1 up); 0 if it did. Leaves now (the last MemFree)
# and i (tenths of a second waited).
memfree_moves() {
	i=0
	while [ $i -lt 1200 ]; do
		memfree
		[ $(($2 * (now - $1))) -ge "$want_kib" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The host raises the balloon target after READY: MemFree must drop.
if memfree_moves "$before" -1; then
	say "BALLOON memfree_kib=$now dropped_kib=$((before - now)) after $((i / 10)).$((i % 10)) s"
else
	bad "MemFree dropped by $((before - now)) KiB only, not $want_kib"
fi
# The host takes its figures while the balloon is inflated, then sets the target back to all of
# memory: MemFree must rise by as much again.
low=$now
if memfree_moves "$low" 1; then
	say "DEFLATE memfree_kib=$now risen_kib=$((now - low)) after $((i / 10)).$((i % 10)) s"
else
	bad "MemFree rose by $((now - low)) KiB only after deflation, not $want_kib"
fi
finish
