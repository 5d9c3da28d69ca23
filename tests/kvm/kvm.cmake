# tests/kvm/ — tests of the KVM environment itself (cmake/kvm.cmake must be included first).
#   kvm_probe     real KVM (API version, a real-mode guest's exits) and userfaultfd (label kvm,
#                 one case kvm.probe.<test> per TEST(), all run in the shared kvm.batch boot)
#   sandbox.cli   tools/sandbox's options and usage errors, without booting (label host)
#   sandbox.direct  tools/sandbox run where /dev/kvm exists (label kvm, in the kvm.batch boot)
#   sandbox.stall  tools/sandbox --stall notices a nested host that stopped (label host: boots a
#                 nested host of its own under QEMU TCG, KVM or not; about 30 s)
mv_add_kvm_test_binary(NAME kvm_probe SOURCES ${CMAKE_CURRENT_LIST_DIR}/kvm_probe.c)

add_test(NAME sandbox.cli
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/sandbox_cli.sh ${PROJECT_SOURCE_DIR}/tools/sandbox)
set_tests_properties(sandbox.cli PROPERTIES LABELS host TIMEOUT 60)

add_test(NAME sandbox.stall
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/sandbox_stall.sh ${PROJECT_SOURCE_DIR}/tools/sandbox)
set_tests_properties(sandbox.stall PROPERTIES LABELS host TIMEOUT 300)

# tools/sandbox's direct path, exercised where it is taken: wherever the kvm cases run.
mv_add_kvm_test(NAME sandbox.direct
                COMMAND ${CMAKE_CURRENT_LIST_DIR}/sandbox_direct.sh ${PROJECT_SOURCE_DIR}/tools/sandbox
                TIMEOUT 60)
