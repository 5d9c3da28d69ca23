# fuzz_balloon: a hostile driver's program (register accesses, ring and PFN-array writes,
# notifications, stats polls, target changes) against the virtio-balloon device behind its
# virtio-mmio transport (see fuzz_balloon.c). The device sources are compiled in with coverage.
# Seeds: tests/fuzz/corpus/fuzz_balloon/, written by tests/fuzz/balloon_seeds.py.
mv_add_fuzzer(NAME fuzz_balloon
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_balloon.c ${PROJECT_SOURCE_DIR}/vmm/virtio_balloon.c
          ${PROJECT_SOURCE_DIR}/vmm/virtio_mmio.c ${PROJECT_SOURCE_DIR}/vmm/virtqueue.c
          ${PROJECT_SOURCE_DIR}/vmm/guest_mem.c ${PROJECT_SOURCE_DIR}/vmm/error.c
          ${PROJECT_SOURCE_DIR}/vmm/seccomp_filter.c ${PROJECT_SOURCE_DIR}/vmm/machine.c
  LIBS ${MV_SECCOMP_LIB})
if(TARGET fuzz_balloon)
  target_include_directories(fuzz_balloon PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
