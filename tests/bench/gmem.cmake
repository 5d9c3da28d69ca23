# bench_gmem — the host-side guest memory engine (vmm/gmem.c, vmm/swap.c) against raw userfaultfd
# and file-I/O peers in the same run (tests/bench/bench_gmem.c). Needs userfaultfd (root, or
# vm.unprivileged_userfaultfd=1); writes its swap and peer files in the build directory.
mv_add_bench(NAME bench_gmem SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_gmem.c LIBS vmm_core)
