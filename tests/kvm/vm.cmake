# kvm_vm: the VMM core (vmm/vm.c) under real KVM with guests of a few instructions.
mv_add_kvm_test_binary(NAME kvm_vm SOURCES ${CMAKE_CURRENT_LIST_DIR}/kvm_vm.c
                       ${CMAKE_CURRENT_LIST_DIR}/vm_guests.S LIBS vmm_core)
