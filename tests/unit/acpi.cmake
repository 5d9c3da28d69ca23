# vmm/acpi.c and vmm/aml.c.
#   test_aml    the AML encoder (label unit)
#   test_acpi   the tables read back field by field (label unit)
#   acpi_dump + acpi_iasl.sh   each fixture machine's tables disassembled and recompiled by
#               ACPICA's iasl, one ctest case acpi.iasl.<config> each (label host: runs a tool)
mv_add_test_binary(NAME test_aml LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_aml.c
                   LIBS vmm_core)
mv_add_test_binary(NAME test_acpi LABEL unit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_acpi.c
                   LIBS vmm_core)

add_executable(acpi_dump ${CMAKE_CURRENT_LIST_DIR}/acpi_dump.c)
target_link_libraries(acpi_dump PRIVATE vmm_core)
mv_hosted(acpi_dump)
foreach(config one two three split virtio)
  add_test(NAME acpi.iasl.${config}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/acpi_iasl.sh $<TARGET_FILE:acpi_dump> ${config})
  set_tests_properties(acpi.iasl.${config} PROPERTIES LABELS host TIMEOUT 120)
endforeach()

# test_guest_aml: guest/aml.c (the guest's DSDT device walk) built hosted, fed the DSDT that
# vmm/acpi.c builds and hand-written AML (label unit).
mv_add_test_binary(NAME test_guest_aml LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_guest_aml.c ${PROJECT_SOURCE_DIR}/guest/aml.c
                   LIBS vmm_core)
