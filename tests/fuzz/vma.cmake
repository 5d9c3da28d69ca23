# fuzz_vma: byte-decoded operation sequences on mm/vma checked against the model of
# tests/unit/vma_model.h (seed corpus: tests/fuzz/corpus/fuzz_vma/).
mv_add_fuzzer(NAME fuzz_vma SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_vma.c)
