mv_add_bench(NAME bench_buddy SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_buddy.c)
