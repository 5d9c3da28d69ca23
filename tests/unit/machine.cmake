mv_add_test_binary(NAME test_machine LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_machine.c
                   LIBS vmm_core)
