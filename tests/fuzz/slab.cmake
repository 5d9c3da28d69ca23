# Operation-sequence fuzzer for the slab allocator and kmalloc (see fuzz_slab.c).
mv_add_fuzzer(NAME fuzz_slab
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_slab.c ${PROJECT_SOURCE_DIR}/tests/lib/slab_test_provider.c)
