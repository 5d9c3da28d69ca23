# fuzz_multiboot: a command line, a module and a multiboot ELF32 image into the multiboot loader
# over three guest regions (see fuzz_multiboot.c). The loader sources are compiled into the
# fuzzer itself (with its coverage instrumentation) rather than linked from vmm_core, which is
# built without -fsanitize=fuzzer. Seeds: tests/fuzz/corpus/fuzz_multiboot/, written by
# tests/fuzz/multiboot_seeds.py.
mv_add_fuzzer(NAME fuzz_multiboot
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_multiboot.c ${PROJECT_SOURCE_DIR}/vmm/loader_multiboot.c
          ${PROJECT_SOURCE_DIR}/vmm/loader_common.c ${PROJECT_SOURCE_DIR}/vmm/boot_pvh.c
          ${PROJECT_SOURCE_DIR}/vmm/guest_mem.c ${PROJECT_SOURCE_DIR}/vmm/error.c)
if(TARGET fuzz_multiboot)
  target_include_directories(fuzz_multiboot PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
