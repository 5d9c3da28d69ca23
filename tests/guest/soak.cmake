# tests/guest/soak.cmake — scenario=soak (guest/soak.c) under QEMU TCG: one ctest case
# guest.qemu.soak_<case> (label host) per case of qemu_soak.sh (short boots: 8 guest seconds at
# most). The whole soak under memvisor with the host driven over QMP: tests/kvm/soak.cmake.
foreach(case short guest_faults bad_seconds outside)
  add_test(NAME guest.qemu.soak_${case}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/qemu_soak.sh ${case} ${MV_IMAGES_DIR})
  set_tests_properties(guest.qemu.soak_${case} PROPERTIES LABELS host TIMEOUT 120)
endforeach()
