mv_add_test_binary(NAME test_fault_attr LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fault_attr.c)
