# kvm.boot.pvh_initrd_*: `memvisor run` of the memvisor guest (a PVH image) with --initrd, under
# real KVM through the kvm.batch sandbox boot. tests/kvm/pvh_initrd_check.sh writes the initrd
# at test time and compares its size and CRC-32 with what the guest reports for module 0 of
# hvm_start_info, and its place with memvisor's rule (vmm/boot_pvh.h): page-aligned at the top of
# the highest run of RAM below 3 GiB, above the image (the guest loads to ~2.3 MiB).
set(MV_PVH_INITRD_CHECK ${CMAKE_CURRENT_LIST_DIR}/pvh_initrd_check.sh)

# Default machine, 2 nodes of 64 MiB that touch: the initrd ends within the last page below
# 128 MiB, in node 1.
mv_add_kvm_test(NAME boot.pvh_initrd_module0 COMMAND ${MV_PVH_INITRD_CHECK}
    --size 1060421 --top 0x8000000
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/default.elf)

# Nodes of 16 MiB and 4 MiB that touch: a 6 MiB initrd runs from node 0 into node 1.
mv_add_kvm_test(NAME boot.pvh_initrd_across_nodes COMMAND ${MV_PVH_INITRD_CHECK}
    --size 6291789 --top 0x1400000
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/default.elf --cpus 1 --numa size=16M --numa size=4M)

# 8 MiB of RAM: one byte more than the room between the image's end and 8 MiB is refused
# (status 2) before the guest runs.
mv_add_kvm_test(NAME boot.pvh_initrd_too_large COMMAND ${MV_PVH_INITRD_CHECK}
    --too-large --top 0x800000
    $<TARGET_FILE:memvisor> ${MV_IMAGES_DIR}/default.elf --cpus 1 --numa size=8M)
