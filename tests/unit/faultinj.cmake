# test_faultinj: the host fault-injection registry (vmm/faultinj.c): --fault-inject parsing,
# arming, the decision's counters and seeds.
mv_add_test_binary(NAME test_faultinj LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_faultinj.c
                   LIBS vmm_core)
