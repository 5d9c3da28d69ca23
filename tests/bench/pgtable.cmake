# Page-table walker: map / translate / unmap per format against an ideal inline walk.
mv_add_bench(NAME bench_pgtable SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_pgtable.c)
