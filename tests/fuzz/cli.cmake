# fuzz_cli: memvisor run's option values (--numa, --swap, --mem-request, --balloon, --qmp,
# --trace, --fault-inject, --seccomp, sizes, --cpus) into their parsers, then machine_finish; an
# accepted machine must satisfy what ACPI and gmem rely on (see fuzz_cli.c). The parsers that
# decide the machine are compiled in with coverage; the rest link from vmm_core.
# Seeds: tests/fuzz/corpus/fuzz_cli/, one command line per file.
mv_add_fuzzer(NAME fuzz_cli
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cli.c ${PROJECT_SOURCE_DIR}/vmm/machine.c
          ${PROJECT_SOURCE_DIR}/vmm/memreq.c ${PROJECT_SOURCE_DIR}/vmm/faultinj.c
          ${PROJECT_SOURCE_DIR}/vmm/trace.c ${PROJECT_SOURCE_DIR}/vmm/error.c
  LIBS vmm_core)
if(TARGET fuzz_cli)
  target_include_directories(fuzz_cli PRIVATE ${PROJECT_SOURCE_DIR}/vmm ${PROJECT_SOURCE_DIR}/include)
endif()
