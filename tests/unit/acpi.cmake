# vmm/acpi.c and vmm/aml.c.
#   test_aml    the AML encoder (label unit)
#   test_acpi   the tables read back field by field (label unit)
mv_add_test_binary(NAME test_aml LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_aml.c
                   LIBS vmm_core)
mv_add_test_binary(NAME test_acpi LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_acpi.c
                   LIBS vmm_core)
