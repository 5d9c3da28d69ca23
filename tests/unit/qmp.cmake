# test_json: the strict JSON parser and writer (vmm/json.h).
# test_qmp: the QMP server (vmm/qmp.h) over socketpairs and a Unix socket against a fake machine.
mv_add_test_binary(NAME test_json LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_json.c LIBS vmm_core)
mv_add_test_binary(NAME test_qmp LABEL unit
                   SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_qmp.c LIBS vmm_core)
# test_qmp also runs tools/qmp-client (python3) against its server.
target_compile_definitions(test_qmp PRIVATE MV_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
