# kvm.multiboot.*: `memvisor run` booting the multiboot test kernel (tests/multiboot/mbtest.c,
# <build>/images/mbtest.elf) with two modules (--initrd) and its arguments (--append), through
# the kvm.batch sandbox boot. tests/multiboot/mbtest_check.sh writes the module files, runs it
# and checks the exit status and that every TAP line is ok (each case is described there):
# the multiboot information, memory map against fw_cfg, modules, BSS, QEMU's test devices
# (vmm/testdev.c) and INIT-SIPI-SIPI through KVM's in-kernel LAPIC.
set(MV_MBTEST_CHECK ${PROJECT_SOURCE_DIR}/tests/multiboot/mbtest_check.sh)
foreach(case two_cpus one_cpu bochs wrong_cpus)
  mv_add_kvm_test(NAME multiboot.${case} COMMAND ${MV_MBTEST_CHECK} memvisor ${case}
                  ${MV_IMAGES_DIR}/mbtest.elf $<TARGET_FILE:memvisor>)
endforeach()
