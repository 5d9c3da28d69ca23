# tests/guest/proc.cmake — the process scenarios (guest/proctest.c) under QEMU TCG: one ctest case
# guest.qemu.scenario_<name> (label host) per scenario; tests/guest/qemu_proc.sh says what each
# checks.
foreach(sc vma fault stack segv cow churn interleave shared stress mbind)
  add_test(NAME guest.qemu.scenario_${sc}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/qemu_proc.sh ${sc} ${MV_IMAGES_DIR})
  set_tests_properties(guest.qemu.scenario_${sc} PROPERTIES LABELS host TIMEOUT 120)
endforeach()
