# test_testdev: QEMU's test devices (vmm/testdev.h): fw_cfg, Bochs shutdown, the pc-testdev latch,
# flush-page port and iomem window, driven by port and iomem accesses with recorded callbacks.
mv_add_test_binary(NAME test_testdev LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_testdev.c
                   LIBS vmm_core)
