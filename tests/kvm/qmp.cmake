# kvm.qmp.*: the QMP control socket (vmm/qmp.h, docs/qmp.md) against a running memtest guest,
# driven by tools/qmp-client (see qmp_check.sh for what each case checks).
set(MV_QMP_CHECK ${CMAKE_CURRENT_LIST_DIR}/qmp_check.sh)

# stop, status, per-node stats, page-out/page-in of a node while paused, bad input, set-budget,
# a fault-injection site armed over the socket (its failure count moves),
# cpus, cont; then the guest verifies all its memory and memvisor's consistency check holds.
mv_add_kvm_test(NAME qmp.drive_a_running_guest COMMAND ${MV_QMP_CHECK} drive
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/memtest.elf ${PROJECT_SOURCE_DIR}/tools/qmp-client
    ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 300)

# quit ends a running guest cleanly: the reply, a SHUTDOWN event, exit status 0.
mv_add_kvm_test(NAME qmp.quit_ends_the_guest COMMAND ${MV_QMP_CHECK} quit
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/memtest.elf ${PROJECT_SOURCE_DIR}/tools/qmp-client
    ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 120)

# guest memory runs out (a budget below what the memtest touches, no swap): the MEMVISOR_OOM
# event names the cause, SHUTDOWN says host-error, memvisor exits 10.
mv_add_kvm_test(NAME qmp.oom_event_when_guest_memory_fails COMMAND ${MV_QMP_CHECK} oom
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/memtest.elf ${PROJECT_SOURCE_DIR}/tools/qmp-client
    ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 120)

# balloon over QMP against the guest's driver (scenario=balloon): query-balloon, balloon, the
# BALLOON_CHANGE events as the driver inflates, deflates and inflates again.
mv_add_kvm_test(NAME qmp.balloon_drives_the_guest_driver COMMAND ${MV_QMP_CHECK} balloon
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/scenario-balloon.elf
    ${PROJECT_SOURCE_DIR}/tools/qmp-client ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 300)

# qom-get / qom-set on the balloon's guest statistics (QEMU's properties): the polling interval
# read, refused above an hour, set; a bad path is DeviceNotFound; guest-stats read while the
# guest runs carries the figures its driver sent (scenario=balloon, --balloon stats-interval=1).
mv_add_kvm_test(NAME qmp.balloon_guest_stats COMMAND ${MV_QMP_CHECK} balloon_stats
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/scenario-balloon.elf
    ${PROJECT_SOURCE_DIR}/tools/qmp-client ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 300)

# migration over QMP: paused at once, node 0's pages move to node 1's pool (the reply counts
# them, the per-node figures show them), a request without `to` is refused; after cont the
# memtest verifies every page, including those it wrote before the move.
mv_add_kvm_test(NAME qmp.migrate_a_paused_guest_node COMMAND ${MV_QMP_CHECK} migrate
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/memtest.elf ${PROJECT_SOURCE_DIR}/tools/qmp-client
    ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 120)
