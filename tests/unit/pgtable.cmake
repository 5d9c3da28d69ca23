# Page tables (mm/pgtable.c and its three formats): unit tests, EPT/ARM64 stage-2 tests and the
# model-based randomized test (one binary each so ctest names read pgtable.* and stage2.*).
set(PGTABLE_TEST_MEM ${CMAKE_CURRENT_LIST_DIR}/pgtable_testmem.c)
mv_add_test_binary(NAME test_pgtable LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pgtable.c
                           ${CMAKE_CURRENT_LIST_DIR}/test_pgtable_model.c ${PGTABLE_TEST_MEM})
mv_add_test_binary(NAME test_stage2 LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_stage2.c ${PGTABLE_TEST_MEM})
