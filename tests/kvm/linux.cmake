# kvm.linux.*: a stock Linux guest — Debian's own kernel (/boot/vmlinuz-*, the one the sandbox
# boots) through the Linux boot protocol with a busybox initramfs built at test time
# (linux_check.sh says what it checks): Linux up on 2 vCPUs, the NUMA nodes it finds in our
# SRAT, the virtio balloon bound through the DSDT, and memory given back by guest and host when
# QMP raises the balloon's target, and returned when it lowers it again.
#
# Not in the kvm batch: it boots a nested host of its own with one vCPU (linux_sandbox.sh says
# why), directly where /dev/kvm exists. RUN_SERIAL keeps it from sharing the cores with the
# batch's boot.
add_test(NAME kvm.linux.numa_nodes_and_balloon
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/linux_sandbox.sh ${PROJECT_SOURCE_DIR}/tools/sandbox
            ${CMAKE_BINARY_DIR}
            ${CMAKE_CURRENT_LIST_DIR}/linux_check.sh $<TARGET_FILE:memvisor>
            ${PROJECT_SOURCE_DIR}/tools/qmp-client ${CMAKE_CURRENT_LIST_DIR}/linux_init.sh
            ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(kvm.linux.numa_nodes_and_balloon PROPERTIES
    LABELS kvm TIMEOUT 1500 RUN_SERIAL TRUE)
