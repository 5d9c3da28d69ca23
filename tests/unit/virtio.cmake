# test_virtio: the virtio-mmio transport, split virtqueues and the balloon device model driven by
# a hostile guest through fake guest RAM (two exact-size buffers: ASan sees any stray access) and
# a recorder standing in for gmem. No KVM, no userfaultfd.
mv_add_test_binary(NAME test_virtio LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_virtio.c LIBS vmm_core)
