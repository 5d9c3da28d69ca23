mv_add_test_binary(NAME test_swap LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_swap.c
                   LIBS vmm_core)
