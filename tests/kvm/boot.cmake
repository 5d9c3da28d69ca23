# kvm.boot.*: `memvisor run` booting the guest images under real KVM (through the kvm.batch
# sandbox boot), each checking the exit status and the guest's report line by line
# (tests/kvm/boot_check.sh). The "numa:" lines are the guest's reading of our ACPI tables, so
# they must equal exactly what the command line asked for.
set(MV_BOOT_CHECK ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh)
set(MV_RUN $<TARGET_FILE:memvisor> run)

# Default machine: 2 nodes of 64 MiB, one vCPU each, distance 20. Guest exit code 0 → status 1.
mv_add_kvm_test(NAME boot.default_two_nodes COMMAND ${MV_BOOT_CHECK} --status 1
    --expect "TAP version 13"
    --expect "numa: nodes=2 cpus=2"
    --expect "numa: node 0 cpus=0 mem=64MiB ranges=0x0-0x3ffffff distances=10,20"
    --expect "numa: node 1 cpus=1 mem=64MiB ranges=0x4000000-0x7ffffff distances=20,10"
    --expect-re "^1\\.\\.[0-9]+$"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/default.elf)

# 3 nodes of unequal sizes and distances, 4 vCPUs spread unevenly.
mv_add_kvm_test(NAME boot.three_nodes_unequal COMMAND ${MV_BOOT_CHECK} --status 1
    --expect "numa: nodes=3 cpus=4"
    --expect "numa: node 0 cpus=0 mem=32MiB ranges=0x0-0x1ffffff distances=10,15,30"
    --expect "numa: node 1 cpus=1,2 mem=64MiB ranges=0x2000000-0x5ffffff distances=15,10,25"
    --expect "numa: node 2 cpus=3 mem=128MiB ranges=0x6000000-0xdffffff distances=30,25,10"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/default.elf --cpus 4
       --numa node=0,size=32M,cpus=0,distances=1@15:2@30
       --numa node=1,size=64M,cpus=1-2,distances=2@25
       --numa node=2,size=128M,cpus=3)

# A node crossing 3 GiB is two ranges around the MMIO hole (two memory slots); a memory-only node.
mv_add_kvm_test(NAME boot.node_split_around_the_hole COMMAND ${MV_BOOT_CHECK} --status 1
    --expect "numa: nodes=3 cpus=1"
    --expect "numa: node 0 cpus=0 mem=2048MiB ranges=0x0-0x7fffffff distances=10,20,20"
    --expect "numa: node 1 cpus=- mem=2048MiB ranges=0x80000000-0xbfffffff,0x100000000-0x13fffffff distances=20,10,20"
    --expect "numa: node 2 cpus=- mem=4KiB ranges=0x140000000-0x140000fff distances=20,20,10"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/default.elf --cpus 1 --numa size=2G --numa size=2G --numa size=4K)

# Guest node 0 bound to host node 1: every page it touched is resident there, none elsewhere.
mv_add_kvm_test(NAME boot.host_node_binding COMMAND ${MV_BOOT_CHECK} --status 1
    --expect "numa: nodes=2 cpus=2"
    --expect-re "^  guest node 0: 65536 KiB, bound to host node 1, resident [1-9][0-9]* KiB \\[host node 1: [1-9][0-9]* KiB\\]$"
    --expect "  guest node 1: 65536 KiB, bound to host node 0, resident 0 KiB"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/default.elf --memory-report
       --numa size=64M,host-node=1 --numa size=64M,host-node=0)

# A CPU exception in the guest: the register dump on COM1 (to a file), exit code 0x7f → 255.
mv_add_kvm_test(NAME boot.guest_exception_dump_to_serial_file COMMAND ${MV_BOOT_CHECK} --status 255
    --file ${CMAKE_CURRENT_BINARY_DIR}/boot-exception-pf.serial
    --expect-re "^Bail out! exception 14 #PF"
    --expect-re "CR2=0x0*badc0de0000"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/exception-pf.elf --cmdline exception=pf
       --serial ${CMAKE_CURRENT_BINARY_DIR}/boot-exception-pf.serial)

# The guest's command line arrives through hvm_start_info; an unknown option fails a check.
mv_add_kvm_test(NAME boot.cmdline_reaches_the_guest COMMAND ${MV_BOOT_CHECK} --status 3
    --expect "# cmdline: \"frobnicate=1\""
    --expect-re "^not ok [0-9]+ - command line options are known"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/default.elf --cmdline frobnicate=1)

# scenario=smp under memvisor: every vCPU started (INIT-SIPI-SIPI through KVM's in-kernel LAPIC)
# with its APIC id and node, call IPIs, a contended ticket lock, TLB shootdown; the APs halted
# with interrupts off before the exit. 2 vCPUs on 2 nodes, then 4 vCPUs two per node.
mv_add_kvm_test(NAME guest.scenario_smp COMMAND ${MV_BOOT_CHECK} --status 1
    --expect "numa: nodes=2 cpus=2"
    --expect-re "^ok [0-9]+ - smp: cpu 1 \\(APIC id 1\\) came online$"
    --expect "smp: cpus=2 online=2"
    --expect "smp: cpu 0 apic=0 node=0"
    --expect "smp: cpu 1 apic=1 node=1"
    --expect-re "^ok [0-9]+ - spinlock: 2 CPUs x [0-9]+ increments under contention"
    --expect-re "^ok [0-9]+ - tlb_shootdown: each of the 2 CPUs ran both rounds$"
    --expect-re "^ok [0-9]+ - smp: the other 1 CPUs halted with interrupts off$"
    --expect-re "^1\\.\\.[0-9]+$"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/smp.elf --cmdline scenario=smp --cpus 2 --numa size=64M,cpus=0 --numa size=64M,cpus=1)
mv_add_kvm_test(NAME guest.scenario_smp_four COMMAND ${MV_BOOT_CHECK} --status 1
    --expect "numa: nodes=2 cpus=4"
    --expect "smp: cpus=4 online=4"
    --expect "smp: cpu 0 apic=0 node=0"
    --expect "smp: cpu 1 apic=1 node=0"
    --expect "smp: cpu 2 apic=2 node=1"
    --expect "smp: cpu 3 apic=3 node=1"
    --expect-re "^ok [0-9]+ - spinlock: 4 CPUs x [0-9]+ increments under contention"
    --expect-re "^ok [0-9]+ - tlb_shootdown: each of the 4 CPUs ran both rounds$"
    --expect-re "^ok [0-9]+ - smp: the other 3 CPUs halted with interrupts off$"
    --expect-re "^1\\.\\.[0-9]+$"
    -- ${MV_RUN} ${MV_IMAGES_DIR}/smp.elf --cmdline scenario=smp --cpus 4 --numa size=64M,cpus=0-1 --numa size=64M,cpus=2-3)
