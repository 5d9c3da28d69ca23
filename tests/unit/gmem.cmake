# test_gmem: the guest memory engine (vmm/gmem.c) with host threads playing vCPUs. Labelled host:
# it needs userfaultfd (root, or vm.unprivileged_userfaultfd=1), not KVM.
mv_add_test_binary(NAME test_gmem LABEL host SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gmem.c
                   LIBS vmm_core)
