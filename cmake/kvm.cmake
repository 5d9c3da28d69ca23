# Tests that need real KVM (ctest label kvm). They always run, through tools/sandbox: directly
# where /dev/kvm exists, else in one nested KVM host booted under QEMU TCG. Never skipped.
#
#   mv_add_kvm_test(NAME n COMMAND cmd [args...] [TIMEOUT s] [WORKING_DIRECTORY dir]
#                   [LABELS extra...])
#       ctest case kvm.n: cmd (generator expressions allowed) run inside the sandbox, labelled kvm
#       and the extra labels (e.g. faultinj, soak), so `ctest -L faultinj` selects a suite.
#   mv_add_kvm_test_binary(NAME kvm_x SOURCES ... [LIBS ...] [TIMEOUT s])
#       a test executable built like mv_add_test_binary's (mvtest.h); every `TEST(t)` line in
#       its sources becomes its own case kvm.x.t running `kvm_x t` in the sandbox.
#
# Batching: all kvm cases share ONE sandbox boot. The ctest case kvm.batch (a fixture setup)
# boots once and runs every case in order, recording each one's output and exit status under
# <build>/kvm-results/; each kvm.<n> case then prints what was recorded for it and exits with
# its status. Why: a TCG boot costs ~6 s of both cores, so one boot per case would dominate the
# suite as kvm cases grow, and two boots at once on 2 cores would each run at half speed. Per-case
# ctest entries are kept so failures are reported by name. Selecting one case (ctest -R kvm.x)
# pulls in kvm.batch, which runs them all; to iterate on one, run
# `tools/sandbox -- build/<dir>/tests/kvm_x t` by hand. If the boot fails, kvm.batch fails with
# the sandbox's message and every kvm case is reported "Not Run" (a failure, not a skip).
#
# MV_KVM_SANDBOX_ARGS (cache) sets the sandbox's topology for the batch (default 2 nodes,
# 2048 MiB, 2 vCPUs), which every kvm case sees.
include_guard(GLOBAL)

set(MV_KVM_SANDBOX_ARGS "--nodes;2;--mem;2048;--cpus;2" CACHE STRING
    "tools/sandbox options for the kvm.batch boot (a ;-list)")
set(MV_KVM_RESULTS ${CMAKE_BINARY_DIR}/kvm-results)
set(MV_KVM_CASES_FILE ${CMAKE_BINARY_DIR}/kvm-cases.list)
# Field separator of the case list: ASCII 31 (unit separator), because it cannot appear in a
# path or an argument and, unlike a tab, keeps empty arguments when bash splits on it.
string(ASCII 31 MV_KVM_SEP)

function(mv_add_kvm_test)
  cmake_parse_arguments(K "" "NAME;TIMEOUT;WORKING_DIRECTORY" "COMMAND;LABELS" ${ARGN})
  if(NOT K_NAME OR NOT K_COMMAND)
    message(FATAL_ERROR "mv_add_kvm_test: NAME and COMMAND are required")
  endif()
  if(NOT K_NAME MATCHES "^[A-Za-z0-9_.-]+$")
    message(FATAL_ERROR "mv_add_kvm_test: bad NAME '${K_NAME}' (letters, digits, _ . -)")
  endif()
  if(NOT K_TIMEOUT)
    set(K_TIMEOUT 120)
  endif()
  if(NOT K_WORKING_DIRECTORY)
    set(K_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  foreach(arg IN LISTS K_COMMAND)
    if(arg MATCHES "[\n${MV_KVM_SEP}]")
      message(FATAL_ERROR "mv_add_kvm_test(${K_NAME}): an argument holds a newline or ASCII 31: '${arg}'")
    endif()
  endforeach()

  get_property(names GLOBAL PROPERTY MV_KVM_NAMES)
  if(K_NAME IN_LIST names)
    message(FATAL_ERROR "mv_add_kvm_test: kvm.${K_NAME} is declared twice")
  endif()
  if(NOT names)
    # The batch case needs the full list, so it is added once every directory is processed.
    cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _mv_kvm_add_batch)
  endif()
  string(JOIN "${MV_KVM_SEP}" line ${K_NAME} ${K_TIMEOUT} ${K_WORKING_DIRECTORY} ${K_COMMAND})
  set_property(GLOBAL APPEND PROPERTY MV_KVM_NAMES ${K_NAME})
  set_property(GLOBAL APPEND_STRING PROPERTY MV_KVM_LINES "${line}\n")
  get_property(total GLOBAL PROPERTY MV_KVM_TOTAL_TIMEOUT)
  if(NOT total)
    set(total 0)
  endif()
  math(EXPR total "${total} + ${K_TIMEOUT} + 10")
  set_property(GLOBAL PROPERTY MV_KVM_TOTAL_TIMEOUT ${total})

  add_test(NAME kvm.${K_NAME}
           COMMAND ${PROJECT_SOURCE_DIR}/tools/sandbox.d/kvm-result ${MV_KVM_RESULTS} ${K_NAME})
  set_tests_properties(kvm.${K_NAME} PROPERTIES LABELS "kvm;${K_LABELS}" FIXTURES_REQUIRED mv_kvm_batch
                       TIMEOUT 30)
endfunction()

function(mv_add_kvm_test_binary)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_NAME MATCHES "^kvm_")
    message(FATAL_ERROR "mv_add_kvm_test_binary: NAME must start with kvm_ (got '${T_NAME}')")
  endif()
  add_executable(${T_NAME} ${T_SOURCES} ${MV_TEST_LIB_SOURCES})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/include)
  target_link_libraries(${T_NAME} PRIVATE mm ${T_LIBS} Threads::Threads)
  mv_hosted(${T_NAME})
  string(REGEX REPLACE "^kvm_" "" short ${T_NAME})
  set(timeout_arg)
  if(T_TIMEOUT)
    set(timeout_arg TIMEOUT ${T_TIMEOUT})
  endif()
  mv_test_names(names ${T_NAME} ${T_SOURCES})
  foreach(tname ${names})
    mv_add_kvm_test(NAME ${short}.${tname} COMMAND $<TARGET_FILE:${T_NAME}> ${tname}
                    ${timeout_arg})
  endforeach()
endfunction()

# kvm.batch: one sandbox boot running every kvm case (see the header).
function(_mv_kvm_add_batch)
  get_property(lines GLOBAL PROPERTY MV_KVM_LINES)
  get_property(total GLOBAL PROPERTY MV_KVM_TOTAL_TIMEOUT)
  file(GENERATE OUTPUT ${MV_KVM_CASES_FILE} CONTENT "${lines}")
  # Room for the boot (and a first initramfs build) on top of the cases' own limits.
  math(EXPR sandbox_timeout "${total} + 120")
  math(EXPR ctest_timeout "${sandbox_timeout} + 30")
  add_test(NAME kvm.batch
           COMMAND ${PROJECT_SOURCE_DIR}/tools/sandbox --rw ${CMAKE_BINARY_DIR}
                   --timeout ${sandbox_timeout} ${MV_KVM_SANDBOX_ARGS}
                   -- ${PROJECT_SOURCE_DIR}/tools/sandbox.d/kvm-batch
                   ${MV_KVM_CASES_FILE} ${MV_KVM_RESULTS}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(kvm.batch PROPERTIES LABELS kvm FIXTURES_SETUP mv_kvm_batch
                       TIMEOUT ${ctest_timeout})
endfunction()
