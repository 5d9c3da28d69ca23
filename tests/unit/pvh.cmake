# test_pvh: the PVH ELF loader and boot info writer (vmm/loader.h, vmm/boot_pvh.h) over
# in-memory ELF images and guard-checked guest memory.
mv_add_test_binary(NAME test_pvh LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_pvh.c
                   LIBS vmm_core)
