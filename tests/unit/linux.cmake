# test_linux: the Linux bzImage loader (vmm/boot_linux.h) over synthetic bzImages and
# guard-checked guest memory, plus the host's own /boot/vmlinuz-* when there is one.
mv_add_test_binary(NAME test_linux LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_linux.c
                   LIBS vmm_core)
