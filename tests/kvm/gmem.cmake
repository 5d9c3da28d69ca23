# kvm.gmem.*: host-side guest memory (vmm/gmem.c) under real KVM. The memtest guest writes a
# pattern over all of its RAM on every node, then verifies it (guest/README.md); budgets below
# the node sizes force clusters out to host swap between the two passes.
set(MV_MEMTEST_CHECK ${CMAKE_CURRENT_LIST_DIR}/memtest_check.sh)
set(MV_GMEM_OUT ${CMAKE_CURRENT_BINARY_DIR})

# Acceptance: every node's budget is half its size; a full write-verify pass with 0 mismatches,
# and per node the pages the guest touched are what the host holds for it in its pool and swap.
mv_add_kvm_test(NAME gmem.memtest_half_budget COMMAND ${MV_MEMTEST_CHECK}
    --stats ${MV_GMEM_OUT}/gmem-half.json --expect-swap
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/memtest.elf --cmdline memtest --cpus 2
       --numa size=32M,budget=16M --numa size=32M,budget=16M
       --swap ${MV_GMEM_OUT}/gmem-half.swap --stats ${MV_GMEM_OUT}/gmem-half.json
    TIMEOUT 300)

# Three nodes, one not overcommitted, clusters of one page (the per-page path end to end).
mv_add_kvm_test(NAME gmem.memtest_three_nodes_page_clusters COMMAND ${MV_MEMTEST_CHECK}
    --stats ${MV_GMEM_OUT}/gmem-three.json
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/memtest.elf --cmdline memtest --cpus 3
       --numa size=16M,budget=8M --numa size=8M --numa size=16M,budget=4M --fault-around 1
       --swap ${MV_GMEM_OUT}/gmem-three.swap --stats ${MV_GMEM_OUT}/gmem-three.json
    TIMEOUT 300)

# The guest asks for its own pages to go out and come back (include/memvisor/hostmem.h), and its
# malformed requests get the documented error codes.
mv_add_kvm_test(NAME gmem.guest_page_out_requests COMMAND ${MV_MEMTEST_CHECK}
    --stats ${MV_GMEM_OUT}/gmem-pageout.json --expect-swap
    -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/memtest-pageout.elf --cmdline "memtest pageout"
       --numa size=16M --numa size=16M
       --swap ${MV_GMEM_OUT}/gmem-pageout.swap --stats ${MV_GMEM_OUT}/gmem-pageout.json
    TIMEOUT 300)

# A budget below what the guest touches, without swap: a clear message and status 10, no hang.
mv_add_kvm_test(NAME gmem.budget_used_up_without_swap COMMAND ${MV_BOOT_CHECK} --status 10
    --expect-re "node 0: host memory budget \\(4096 KiB\\) is used up and nothing can be evicted \\(no host swap: give --swap\\)"
    -- sh -c "\"$0\" \"$@\" 2>&1" $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/memtest.elf
       --cmdline memtest --numa size=16M,budget=4M)

# Operator requests while the guest runs (--mem-request): node 0's pages move to node 1's pool
# as the guest boots, and the guest does not notice (its checks pass; the end-of-run check holds).
mv_add_kvm_test(NAME gmem.migrate_while_the_guest_runs COMMAND ${MV_BOOT_CHECK} --status 1
    --expect-re "^memvisor: request migrate node 0 to node 1 at 0 ms: done, [1-9][0-9]* pages$"
    --expect "memvisor: guest memory consistency check: ok"
    -- sh -c "\"$0\" \"$@\" 2>&1" $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/default.elf
       --mem-request migrate,at=0,node=0,to=1)

# Page a node out and back in while the memtest writes and verifies it (status 1: every check of
# the guest passed; guest and VMM lines interleave, so only the VMM's are matched, in order).
mv_add_kvm_test(NAME gmem.page_out_and_in_while_the_guest_runs COMMAND ${MV_BOOT_CHECK} --status 1
    --expect-re "^memvisor: request page-out node 1 at 100 ms: done, [0-9]+ pages$"
    --expect-re "^memvisor: request page-in node 1 at 300 ms: (done, [0-9]+ pages|not run \\(the guest ended first\\))$"
    --expect "memvisor: guest memory consistency check: ok"
    -- sh -c "\"$0\" \"$@\" 2>&1" $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/memtest.elf
       --cmdline memtest --numa size=16M --numa size=16M --swap ${MV_GMEM_OUT}/gmem-req.swap
       --mem-request page-out,at=100,node=1 --mem-request page-in,at=300,node=1)

# A budget too small for the boot image itself, without swap: the loader's faults cannot be
# served, and memvisor says so with status 10 before it ever opens /dev/kvm (so label host).
add_test(NAME gmem.boot_image_larger_than_budget
         COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"exit status $?\"" $<TARGET_FILE:memvisor> run
                 ${MV_IMAGES_DIR}/default.elf --numa size=16M,budget=64K)
set_tests_properties(gmem.boot_image_larger_than_budget PROPERTIES LABELS host TIMEOUT 60
    PASS_REGULAR_EXPRESSION "node 0: host memory budget \\(64 KiB\\) is used up.*the boot image does not fit guest memory as configured.*exit status 10")
