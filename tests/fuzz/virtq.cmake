# fuzz_virtq: guest RAM images (rings, descriptors, indirect tables) into the split-virtqueue
# parser (see fuzz_virtq.c). Built from the sources so the parser has the fuzzer's coverage
# instrumentation. Seeds: tests/fuzz/corpus/fuzz_virtq/, written by tests/fuzz/virtq_seeds.py.
mv_add_fuzzer(NAME fuzz_virtq
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_virtq.c ${PROJECT_SOURCE_DIR}/vmm/virtqueue.c
          ${PROJECT_SOURCE_DIR}/vmm/guest_mem.c ${PROJECT_SOURCE_DIR}/vmm/error.c)
if(TARGET fuzz_virtq)
  target_include_directories(fuzz_virtq PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
