mv_add_test_binary(NAME test_list LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_list.c)
