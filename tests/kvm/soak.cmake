# kvm.soak.ninety_seconds (labels kvm, soak): issue 8's soak in CI — tools/soak --duration 90:
# scenario=soak (guest/soak.c) on 2 vCPUs and 2 NUMA nodes of 128 MiB with 96 MiB host budgets,
# host swap, a virtio-balloon (deflate-on-OOM, free page reporting, statistics), host
# fault-injection sites at 1% (slow-fault, swap-write-eio, uffd-eagain), while tools/soak cycles
# the balloon target, migrates a node's pages away and back, pages a node out and in and queries
# the faults over QMP. Passes only with zero integrity mismatches, every TAP line ok, the
# consistency check ok, and injected failures, balloon cycles and migrations all > 0
# (docs/soak.md). Its outputs (serial, stderr, QMP log, trace, summary) stay in
# <build>/tests/kvm/soak/. The 10-minute run is on demand: docs/soak.md.
mv_add_kvm_test(NAME soak.ninety_seconds TIMEOUT 300 LABELS soak
    COMMAND ${PROJECT_SOURCE_DIR}/tools/soak --duration 90
            --memvisor $<TARGET_FILE:memvisor> --image ${MV_IMAGES_DIR}/scenario-soak.elf
            --out ${CMAKE_CURRENT_BINARY_DIR}/soak)
