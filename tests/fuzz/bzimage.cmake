# fuzz_bzimage: bzImage, command line and initrd into the Linux loader over three guest regions
# (see fuzz_bzimage.c for the input format and the checks). The loader sources are compiled into
# the fuzzer itself (with its coverage instrumentation) rather than linked from vmm_core, which
# is built without -fsanitize=fuzzer. Seeds: tests/fuzz/corpus/fuzz_bzimage/, written by
# tests/fuzz/bzimage_seeds.py.
mv_add_fuzzer(NAME fuzz_bzimage
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_bzimage.c ${PROJECT_SOURCE_DIR}/vmm/loader_linux.c
          ${PROJECT_SOURCE_DIR}/vmm/loader_common.c ${PROJECT_SOURCE_DIR}/vmm/boot_pvh.c
          ${PROJECT_SOURCE_DIR}/vmm/guest_mem.c
          ${PROJECT_SOURCE_DIR}/vmm/error.c)
if(TARGET fuzz_bzimage)
  target_include_directories(fuzz_bzimage PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
