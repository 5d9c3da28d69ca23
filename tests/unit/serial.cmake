mv_add_test_binary(NAME test_serial LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_serial.c
                   LIBS vmm_core)
