# kvm.seccomp.*: memvisor's system-call filters (vmm/seccomp_filter.h) in a running VM. Every
# other kvm case runs with the filters on too (memvisor run's default), so a call missing from a
# list fails them with status 12 and the call's name.
mv_add_kvm_test(NAME seccomp.every_long_lived_thread_is_filtered
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/seccomp_check.sh $<TARGET_FILE:memvisor>
            ${MV_IMAGES_DIR}/memtest.elf ${PROJECT_SOURCE_DIR}/tools/qmp-client
            ${CMAKE_CURRENT_BINARY_DIR}
    TIMEOUT 120)
