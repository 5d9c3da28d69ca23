# test_seccomp: the vCPU and device threads' system-call filters (vmm/seccomp_filter.h), each case
# in a forked child that loads a real filter: allowed calls work, a forbidden one ends the
# process with status 12 and a message naming the thread and the call.
mv_add_test_binary(NAME test_seccomp LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_seccomp.c LIBS vmm_core)
