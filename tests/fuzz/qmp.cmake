# fuzz_qmp: messages into the JSON parser and the QMP dispatcher against a fake machine (see
# fuzz_qmp.c). The sources are compiled into the fuzzer (with its coverage instrumentation).
# Seeds: tests/fuzz/corpus/fuzz_qmp/, one QMP message (or near miss) per file.
mv_add_fuzzer(NAME fuzz_qmp
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_qmp.c ${PROJECT_SOURCE_DIR}/vmm/json.c
          ${PROJECT_SOURCE_DIR}/vmm/qmp.c ${PROJECT_SOURCE_DIR}/vmm/machine.c
          ${PROJECT_SOURCE_DIR}/vmm/error.c
          ${PROJECT_SOURCE_DIR}/vmm/faultinj.c ${PROJECT_SOURCE_DIR}/vmm/seccomp_filter.c
  LIBS ${MV_SECCOMP_LIB})
if(TARGET fuzz_qmp)
  target_include_directories(fuzz_qmp PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
