mv_add_fuzzer(NAME fuzz_buddy SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_buddy.c)
