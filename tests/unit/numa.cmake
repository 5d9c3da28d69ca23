mv_add_test_binary(NAME test_numa LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_numa.c)
