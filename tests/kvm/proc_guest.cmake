# kvm.guest.scenario_{vma,fault,stack,segv,cow,churn,interleave,shared,stress,mbind}: `memvisor run` booting the process-scenario images
# (guest/proctest.c) under real KVM, 2 vCPUs and 2 nodes of 128 MiB like mm_guest.cmake: ring 3,
# SYSCALL/SYSRET, the TSS stack switch and the guest's own page faults under EPT/NPT. Each
# checks exit status 1 (PASS: no "not ok"), that the frames came back, and the lines proving
# the scenario ran (tests/kvm/boot_check.sh; in order). No ';' in the patterns: CMake would split
# the argument there ('.' stands in for it).
set(MV_PROC_MACHINE --cpus 2 --numa node=0,size=128M,cpus=0,distances=1@20
                    --numa node=1,size=128M,cpus=1)
set(MV_PROC_COMMON
    --expect-re "^ok [0-9]+ - proc: GDT with user segments, a TSS and the SYSCALL MSRs on all 2 CPUs$")
set(MV_PROC_END
    --expect-re "^ok [0-9]+ - proc: free pages back to ([0-9]+) \\(\\1\\), kernel table pages ([0-9]+) \\(\\2\\)$"
    --expect-re "^1\\.\\.[0-9]+$")
set(MV_PROC_CHECK ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh)

# mv_proc_kvm_case(SCENARIO [BEFORE checks...] EXPECT checks...): kvm.guest.scenario_SCENARIO,
# booting scenario-SCENARIO.elf on MV_PROC_MACHINE: status 1, the BEFORE checks (lines printed
# before the GDT line), the common GDT check, the EXPECT checks, the end checks, in that order.
function(mv_proc_kvm_case scenario)
  cmake_parse_arguments(P "" "" "BEFORE;EXPECT" ${ARGN})
  mv_add_kvm_test(NAME guest.scenario_${scenario} COMMAND ${MV_PROC_CHECK} --status 1
      ${P_BEFORE} ${MV_PROC_COMMON} ${P_EXPECT} ${MV_PROC_END}
      -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/scenario-${scenario}.elf ${MV_PROC_MACHINE}
         --cmdline scenario=${scenario})
endfunction()

mv_proc_kvm_case(vma
  EXPECT
    --expect-re "^ok [0-9]+ - vma: maps after the read-only replacement: 4 VMAs as expected$"
    --expect-re "^ok [0-9]+ - vma: exited with 0 \\(expected 0\\) after [0-9]+ checks, 0 failed$")

mv_proc_kvm_case(fault
  EXPECT
    --expect-re "^ok [0-9]+ - fault: the kernel counted 112 faults \\(112\\), 0 copy-on-write$"
    --expect-re "^ok [0-9]+ - fault-node1: every page of the process bound to node 1 is there ")

mv_proc_kvm_case(stack
  EXPECT
    --expect "proc: pid 1 (stack) killed by SIGSEGV: write at 0x7fffffefe000 in VMA 0x7fffffeff000-0x7ffffffff000 rw-p: stack cannot grow (limit or guard gap)"
    --expect-re "^ok [0-9]+ - stack: one fault per page grown: 255 \\(255\\)$"
    --expect "proc: pid 2 (stack-guard) killed by SIGSEGV: write at 0x7ffffffbf000 in VMA 0x7ffffffc0000-0x7ffffffff000 rw-p: stack cannot grow (limit or guard gap)"
    --expect-re "^ok [0-9]+ - hello: exited with 42 ")

mv_proc_kvm_case(segv
  EXPECT
    --expect "proc: pid 1 (segv-unmapped) killed by SIGSEGV: read at 0x300000000 in VMA none: no VMA at the address"
    --expect "proc: pid 2 (segv-write-ro) killed by SIGSEGV: write at 0x300000000 in VMA 0x300000000-0x300001000 r--p: VMA not writable"
    --expect "proc: pid 3 (segv-exec-nx) killed by SIGSEGV: execute at 0x300000000 in VMA 0x300000000-0x300001000 rw-p: VMA not executable"
    --expect "proc: pid 4 (segv-prot-none) killed by SIGSEGV: read at 0x300000000 in VMA 0x300000000-0x300001000 ---p: VMA not readable"
    --expect "proc: pid 5 (segv-direct-map) killed by SIGSEGV: read at 0xffff888000100000 in VMA none: kernel address (outside user space)"
    --expect "proc: pid 6 (segv-kernel-image) killed by SIGSEGV: read at 0x100000 in VMA none: kernel address (outside user space)"
    --expect-re "^proc: pid 7 \\(segv-noncanonical\\) killed by SIGSEGV: exception 13 error 0x0 at RIP 0x[0-9a-f]+: general protection fault$"
    --expect-re "^ok [0-9]+ - hello: exited with 42 ")

mv_proc_kvm_case(cow
  EXPECT
    --expect-re "^ok [0-9]+ - cow: parent: writing 8 shared pages: 8 faults, 8 copies \\(8, 8\\), rss unchanged$"
    --expect-re "^ok [0-9]+ - cow: child: writing pages 0-15: 16 faults \\(16\\), 8 copies "
    --expect-re "^ok [0-9]+ - cow: wait: child 2 exited with status 0x700 \\(0x700\\)$"
    --expect "proc: pid 3 (cow) killed by SIGSEGV: read at 0x300000000 in VMA none: no VMA at the address"
    --expect-re "^ok [0-9]+ - cow: wait: child 3 killed, status 11 \\(SIGSEGV 11\\)$")

mv_proc_kvm_case(churn
  EXPECT
    --expect-re "^ok [0-9]+ - churn: 4000 random operations \\(seed 0x9e3779b97f4a7c15\\) as the model says, [0-9]+ forks$"
    --expect-re "^ok [0-9]+ - churn: 4000 random operations \\(seed 0x2545f4914f6cdd1d\\) as the model says, [0-9]+ forks$"
    --expect-re "^ok [0-9]+ - churn: 4000 random operations \\(seed 0x5851f42d4c957f2d\\) as the model says, [0-9]+ forks$")

mv_proc_kvm_case(interleave
  EXPECT
    --expect-re "^ok [0-9]+ - interleave: pid 6: 200 iterations, 400 yields, its own data at 0x200000000 after every switch \\(0 bad\\)$"
    --expect-re "^ok [0-9]+ - interleave: [0-9]+ switches between processes ")

mv_proc_kvm_case(shared
  EXPECT
    --expect-re "^ok [0-9]+ - shared: child: sees the pre-fork data. its writes copied only the 4 private pages \\(4 copies\\)$"
    --expect-re "^ok [0-9]+ - shared: parent: the child.s writes are in the shared pages, not in the private ones$")

# stress: 3 processes per vCPU run by the scheduler on both vCPUs at once, preempted by the LAPIC
# tick; every vCPU ran processes, the tick preempted some, every process exited 0 with clean
# data, and each node's free pages came back exactly.
mv_proc_kvm_case(stress
  BEFORE
    --expect-re "^smp: clock: TSC at [0-9]+ kHz \\(against the LAPIC timer\\), tick 10 ms$"
  EXPECT
    --expect-re "^ok [0-9]+ - stress: pid 6: [0-9]+ iterations, [0-9]+ forks, 0 bad pages, 0 bad heap sums$"
    --expect-re "^ok [0-9]+ - stress: every one of the 2 CPUs ran processes$"
    --expect-re "^ok [0-9]+ - stress: the tick preempted processes [1-9][0-9]* times$"
    --expect-re "^ok [0-9]+ - stress: all 6 processes exited 0 with their checks passed$"
    --expect-re "^ok [0-9]+ - stress: node 0: free pages back to ([0-9]+) \\(\\1\\)$"
    --expect-re "^ok [0-9]+ - stress: node 1: free pages back to ([0-9]+) \\(\\1\\)$")

# mbind: per-range policies place every page on the node they name (the program's rss per node
# and the kernel's page-table walk); the maps dump shows the policies.
mv_proc_kvm_case(mbind
  EXPECT
    --expect-re "^ok [0-9]+ - mbind: interleave 0-1: 8 pages on each node \\(node 0 8, node 1 8\\)$"
    --expect-re "^#   200000000-200010000 rw-p 00000000 00:00 0 +policy bind:1$"
    --expect-re "^#   200010000-200020000 rw-p 00000000 00:00 0 +policy interleave:0,1$"
    --expect-re "^ok [0-9]+ - mbind: range 1 \\(interleave 0-1\\): every page on its node \\(0 misplaced\\)$"
    --expect-re "^ok [0-9]+ - mbind: range 3 \\(the process's bind 1\\): every page on its node \\(0 misplaced\\)$")
