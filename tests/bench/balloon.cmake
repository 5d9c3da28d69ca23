# bench_balloon — virtio-balloon inflate throughput vs MADV_DONTNEED / hole punching of the same
# amount, and MMIO exits per MiB inflated (tests/bench/bench_balloon.c). Needs userfaultfd.
mv_add_bench(NAME bench_balloon SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_balloon.c LIBS vmm_core)
