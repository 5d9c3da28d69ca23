# tests/guest/ — the guest kernel booted under QEMU TCG (PVH via -kernel), independent of the VMM:
# one ctest case guest.qemu.<case> (label host) per case of qemu_guest.sh, each a ~1 s boot of an
# image from images/ (see that script for what each case checks).
foreach(case two_nodes three_nodes no_srat bad_tables microvm_virtio exception_ud exception_pf
             memtest_two_nodes memtest_high_ram memtest_high_ram_1g memtest_corrupt memtest_pageout
             smp_two smp_four scenario_buddy scenario_oom scenario_numa scenario_slab
             scenario_vmalloc scenario_integrity scenario_high_ram scenario_balloon
             scenario_break_buddy)
  add_test(NAME guest.qemu.${case}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/qemu_guest.sh ${case} ${MV_IMAGES_DIR} ${CMAKE_NM})
  set_tests_properties(guest.qemu.${case} PROPERTIES LABELS host TIMEOUT 60)
endforeach()

# The same guest under real KVM (through tools/sandbox, in the shared kvm.batch boot): the CPU
# state checks of VMX/SVM are stricter than TCG's (GDT, paging, exception delivery); the memtest
# cases run the extended identity map (2 MiB and 1 GiB pages) above 4 GiB under EPT/NPT.
foreach(case two_nodes exception_pf memtest_high_ram memtest_high_ram_1g smp_four)
  mv_add_kvm_test(NAME guest.qemu_kvm.${case} TIMEOUT 120
                  COMMAND ${CMAKE_CURRENT_LIST_DIR}/qemu_guest.sh ${case} ${MV_IMAGES_DIR} ${CMAKE_NM} kvm)
endforeach()
