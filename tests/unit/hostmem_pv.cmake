# test_hostmem_pv: the paravirtual host-memory device (vmm/hostmem_pv.h) driven through its ports
# over guard-checked guest memory with a gap, and a fake engine that records its calls.
mv_add_test_binary(NAME test_hostmem_pv LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hostmem_pv.c LIBS vmm_core)
