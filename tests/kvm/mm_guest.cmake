# kvm.guest.scenario_*: `memvisor run` booting the scenario-* images under real KVM (through the
# kvm.batch sandbox boot): the guest's own memory manager on mm/ (guest/mmtest.c) — buddy over
# its RAM by SRAT node, its own page table and CR3 switch, slab, vmalloc — on 2 vCPUs and 2 nodes
# of 128 MiB (memvisor run does not read the .cmdline files: --cmdline gives it). Each checks the exit status and the lines that prove the layer ran
# (tests/kvm/boot_check.sh; MV_BOOT_CHECK and MV_RUN come from boot.cmake).
set(MV_MM_MACHINE --cpus 2 --numa node=0,size=128M,cpus=0,distances=1@20
                  --numa node=1,size=128M,cpus=1)

foreach(sc buddy numa slab vmalloc integrity)
  mv_add_kvm_test(NAME guest.scenario_${sc} COMMAND ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh
      --status 1
      --expect "numa: nodes=2 cpus=2"
      --expect-re "^ok [0-9]+ - vmem: direct map of [0-9]+ MiB of RAM at 0xffff888000000000 "
      --expect-re "^ok [0-9]+ - vmem: all 2 online CPUs switched to the kernel page table "
      --expect-re "^ok [0-9]+ - buddy_check after setup$"
      --expect-re "^ok [0-9]+ - no unexpected out-of-memory report \\(0\\)$"
      --expect-re "^1\\.\\.[0-9]+$"
      -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-${sc}.elf ${MV_MM_MACHINE}
         --cmdline scenario=${sc})
endforeach()

# High RAM: node 0 fills the RAM below the 3 GiB hole, node 1 lies entirely above 4 GiB, so its
# frames are reachable only through the direct map (docs/memory-map.md). scenario=numa binds pages
# there; the guest touches little of the 3 GiB (the memory pools fill on demand).
mv_add_kvm_test(NAME guest.scenario_numa_high_ram COMMAND ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh
    --status 1
    --expect-re "^numa: node 1 cpus=1 mem=256MiB ranges=0x100000000-0x10fffffff "
    --expect-re "^ok [0-9]+ - numa: bind to node 1: 64 of 64 pages there "
    --expect-re "^ok [0-9]+ - no unexpected out-of-memory report \\(0\\)$"
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-numa.elf --cpus 2
       --numa node=0,size=3G,cpus=0,distances=1@20 --numa node=1,size=256M,cpus=1
       --cmdline scenario=numa
    TIMEOUT 300)

# Exhausted memory and one ordinary allocation: one "not ok" OOM line, exit FAIL (status 3).
mv_add_kvm_test(NAME guest.scenario_oom COMMAND ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh --status 3
    --expect-re "^not ok [0-9]+ - out of memory: node 0 order 0 for scenario_oom$"
    --expect-re "^1\\.\\.[0-9]+$"
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-oom.elf ${MV_MM_MACHINE}
       --cmdline scenario=oom)

# break=buddy: mm/'s checker catches the corrupted frame; Bail out!, exit BAIL (status 5).
mv_add_kvm_test(NAME guest.scenario_break_buddy COMMAND ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh
    --status 5
    --expect-re "^# mm: buddy_check: "
    --expect-re "^Bail out! buddy_check after setup: -117 "
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-buddy.elf ${MV_MM_MACHINE}
       --cmdline "scenario=buddy break=buddy")

# scenario=hostagree: 1024 pages touched on node 1 under bind(1) must show in the host's pool 1
# (--stats; one host frame per guest page with --fault-around 1); tests/kvm/hostagree_check.sh.
mv_add_kvm_test(NAME guest.scenario_hostagree COMMAND ${CMAKE_CURRENT_LIST_DIR}/hostagree_check.sh
    --stats ${CMAKE_CURRENT_BINARY_DIR}/hostagree.json
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-hostagree.elf --cmdline scenario=hostagree
       --cpus 2 --numa size=32M --numa size=32M --fault-around 1
       --stats ${CMAKE_CURRENT_BINARY_DIR}/hostagree.json
    TIMEOUT 300)

# scenario=balloon against memvisor's virtio-balloon (vmm/virtio_balloon.c): the guest's driver
# inflates to the 128 MiB target (half of each 128 MiB node: its blocks alternate between the
# nodes), has free blocks reported, serves a memory hog by deflating on OOM, deflates, inflates
# again and stays so; 3 vCPUs (vCPU 2 on node 0), so that ring-3 processes and slab work run on
# the two other CPUs at once during the inflate and the deflate;
# the host's per-node ballooned pages must equal the guest's per-node figures
# (tests/kvm/balloon_check.sh).
mv_add_kvm_test(NAME guest.scenario_balloon COMMAND ${CMAKE_CURRENT_LIST_DIR}/balloon_check.sh
    --stats ${CMAKE_CURRENT_BINARY_DIR}/balloon.json --pages 32768
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-balloon.elf
       --cpus 3 --numa node=0,size=128M,cpus=0:2,distances=1@20 --numa node=1,size=128M,cpus=1
       --cmdline scenario=balloon --balloon target=128M,free-page-reporting=on,deflate-on-oom=on
       --stats ${CMAKE_CURRENT_BINARY_DIR}/balloon.json
    TIMEOUT 300)
