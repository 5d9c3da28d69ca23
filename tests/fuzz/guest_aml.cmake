# fuzz_guest_aml: AML bytes into guest/aml.c's device walk (see fuzz_guest_aml.c). Seeds in
# tests/fuzz/corpus/fuzz_guest_aml/: a memvisor-style virtio device, the unit test's scope with
# skipped definitions, a nested scope.
mv_add_fuzzer(NAME fuzz_guest_aml
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_guest_aml.c ${PROJECT_SOURCE_DIR}/guest/aml.c)
