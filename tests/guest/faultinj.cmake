# tests/guest/faultinj.cmake — the guest's fault-injection sites (guest/faultinj.c) under QEMU TCG:
# one ctest case guest.qemu.faultinj_<case> (label host) per case of qemu_faultinj.sh, each a short
# boot of images/scenario-faultinj.elf. The same sites under memvisor, label faultinj:
# tests/kvm/faultinj_guest.cmake.
set(MV_FAULTINJ_QEMU_CASES none mixed bad_knobs outside)
foreach(site page_alloc slab balloon)
  foreach(mode once 1pct always)
    list(APPEND MV_FAULTINJ_QEMU_CASES ${site}_${mode})
  endforeach()
endforeach()
foreach(case ${MV_FAULTINJ_QEMU_CASES})
  add_test(NAME guest.qemu.faultinj_${case}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/qemu_faultinj.sh ${case} ${MV_IMAGES_DIR})
  set_tests_properties(guest.qemu.faultinj_${case} PROPERTIES LABELS host TIMEOUT 120)
endforeach()
