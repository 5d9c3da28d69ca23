# fuzz_pvh: ELF images into the PVH loader over three guest regions (see fuzz_pvh.c). The loader
# sources are compiled into the fuzzer itself (with its coverage instrumentation) rather than
# linked from vmm_core, which is built without -fsanitize=fuzzer. Seeds:
# tests/fuzz/corpus/fuzz_pvh/, written by tests/fuzz/pvh_seeds.py.
mv_add_fuzzer(NAME fuzz_pvh
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_pvh.c ${PROJECT_SOURCE_DIR}/vmm/loader_pvh.c
          ${PROJECT_SOURCE_DIR}/vmm/loader_common.c
          ${PROJECT_SOURCE_DIR}/vmm/guest_mem.c ${PROJECT_SOURCE_DIR}/vmm/error.c)
if(TARGET fuzz_pvh)
  target_include_directories(fuzz_pvh PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
