# mm/vma: scenario tests (test_vma.c) and the model-based randomized test (test_vma_model.c,
# sharing its model with tests/fuzz/fuzz_vma.c through vma_model.h).
mv_add_test_binary(NAME test_vma LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vma.c)
mv_add_test_binary(NAME test_vma_model LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_vma_model.c)
