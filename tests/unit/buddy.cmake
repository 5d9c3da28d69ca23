mv_add_test_binary(NAME test_buddy LABEL unit SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_buddy.c
    ${CMAKE_CURRENT_LIST_DIR}/test_buddy_pcp.c
    ${CMAKE_CURRENT_LIST_DIR}/test_buddy_model.c)
