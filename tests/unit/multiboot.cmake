# test_multiboot: the multiboot v1 loader (vmm/boot_multiboot.h) over in-memory ELF32 images and
# guard-checked guest memory, and multiboot_load_files() over temporary files.
mv_add_test_binary(NAME test_multiboot LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_multiboot.c
                   LIBS vmm_core)
