# Slab/kmalloc against glibc, jemalloc, mimalloc and tcmalloc-minimal in one process (see the
# header comment of bench_slab.c). Installs nothing: tools/bench.sh installs libjemalloc-dev,
# libmimalloc-dev and libtcmalloc-minimal4 through tools/lib/deps.sh; missing peers are skipped.
mv_add_bench(NAME bench_slab
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_slab.c ${PROJECT_SOURCE_DIR}/tests/lib/slab_test_provider.c
  LIBS ${CMAKE_DL_LIBS})
target_compile_options(bench_slab PRIVATE -fno-builtin-malloc -fno-builtin-free)
find_library(MV_JEMALLOC_LIB NAMES jemalloc libjemalloc.so.2)
if(MV_JEMALLOC_LIB)
  # jemalloc needs the static TLS block, so it is linked (and becomes the process malloc);
  # glibc stays reachable as __libc_malloc/__libc_free.
  target_link_libraries(bench_slab PRIVATE ${MV_JEMALLOC_LIB})
  target_compile_definitions(bench_slab PRIVATE MV_BENCH_HAVE_JEMALLOC=1)
else()
  message(STATUS "bench_slab: jemalloc not found, its rows will say so")
endif()
