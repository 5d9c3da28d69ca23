# Build helpers shared by every directory.
#
#   mv_hosted(target)        warnings + sanitizer flags for code that runs on the host
#   mv_add_test_binary(NAME n LABEL l SOURCES ... [LIBS ...])
#                            a test executable; one ctest case "n.test" per `TEST(test)` line
#   mv_add_fuzzer(NAME n SOURCES ... [LIBS ...])
#                            a libFuzzer target run for MV_FUZZ_SECONDS as ctest case fuzz.n
#
# The host engine tests (MV_ENGINE_TESTS below: the binaries whose threads run the guest memory
# engine, its allocators and devices) also get the ctest label `engine`, and the target
# `engine_tests` builds just them: the ThreadSanitizer step of tools/test.sh builds and runs
# exactly those. Under MV_TSAN every test case runs with TSAN_OPTIONS naming tests/tsan.supp.

set(MV_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wpointer-arith -Wno-unused-parameter)
if(MV_WERROR)
  list(APPEND MV_WARNINGS -Werror)
endif()

set(MV_SAN_FLAGS "")
if(MV_ASAN)
  list(APPEND MV_SAN_FLAGS -fsanitize=address -fno-omit-frame-pointer)
endif()
if(MV_UBSAN)
  list(APPEND MV_SAN_FLAGS -fsanitize=undefined -fno-sanitize-recover=undefined)
endif()
if(MV_TSAN)
  list(APPEND MV_SAN_FLAGS -fsanitize=thread)
endif()

# ThreadSanitizer: stop at the first report (a race fails its test case), show both stacks of a
# lock-order inversion, and read the few documented suppressions.
set(MV_TSAN_OPTIONS "halt_on_error=1 second_deadlock_stack=1 suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp")

# (test_faultinj comes with main's fault-injection merge; checked clean under TSan there.)
set(MV_ENGINE_TESTS test_gmem test_swap test_virtio test_qmp test_hostmem_pv test_fault_attr
    test_buddy test_slab test_seccomp test_faultinj)
add_custom_target(engine_tests)

function(mv_hosted target)
  target_compile_options(${target} PRIVATE ${MV_WARNINGS} ${MV_SAN_FLAGS})
  target_link_options(${target} PRIVATE ${MV_SAN_FLAGS})
endfunction()

set(MV_TEST_LIB_SOURCES
    ${PROJECT_SOURCE_DIR}/tests/lib/mvtest.c
    ${PROJECT_SOURCE_DIR}/tests/lib/mm_env_test.c
    ${PROJECT_SOURCE_DIR}/vmm/mm_env_host.c)

# The names of the TEST(name) cases in SOURCES (lines starting "TEST(name)"), in file order, into
# OUT; a binary with none is a configure error. Shared by mv_add_test_binary and mv_add_kvm_test_binary
# so unit and kvm binaries find their cases the same way.
function(mv_test_names OUT BINARY)
  set(names)
  foreach(src ${ARGN})
    file(STRINGS ${src} lines REGEX "^TEST\\([A-Za-z0-9_]+\\)")
    foreach(line ${lines})
      string(REGEX REPLACE "^TEST\\(([A-Za-z0-9_]+)\\).*" "\\1" tname "${line}")
      list(APPEND names ${tname})
    endforeach()
  endforeach()
  if(NOT names)
    message(FATAL_ERROR "${BINARY}: no TEST() found in ${ARGN}")
  endif()
  set(${OUT} ${names} PARENT_SCOPE)
endfunction()

function(mv_add_test_binary)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES} ${MV_TEST_LIB_SOURCES})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/include)
  target_link_libraries(${T_NAME} PRIVATE mm ${T_LIBS} Threads::Threads)
  mv_hosted(${T_NAME})
  string(REGEX REPLACE "^test_" "" short ${T_NAME})
  mv_test_names(names ${T_NAME} ${T_SOURCES})
  set(labels ${T_LABEL})
  if(T_NAME IN_LIST MV_ENGINE_TESTS)
    list(APPEND labels engine)
    add_dependencies(engine_tests ${T_NAME})
  endif()
  foreach(tname ${names})
    add_test(NAME ${short}.${tname} COMMAND ${T_NAME} ${tname})
    set_tests_properties(${short}.${tname} PROPERTIES LABELS "${labels}" TIMEOUT 300)
    if(MV_TSAN)
      set_tests_properties(${short}.${tname} PROPERTIES ENVIRONMENT "TSAN_OPTIONS=${MV_TSAN_OPTIONS}")
    endif()
  endforeach()
endfunction()

function(mv_add_fuzzer)
  cmake_parse_arguments(F "" "NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT MV_FUZZ)
    return()
  endif()
  add_executable(${F_NAME} ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/lib/mm_env_test.c
                 ${PROJECT_SOURCE_DIR}/vmm/mm_env_host.c)
  target_include_directories(${F_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests/include)
  target_link_libraries(${F_NAME} PRIVATE mm_fuzz ${F_LIBS} Threads::Threads)
  target_compile_options(${F_NAME} PRIVATE ${MV_WARNINGS} -fsanitize=fuzzer,address,undefined)
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(work ${CMAKE_CURRENT_BINARY_DIR}/corpus-${F_NAME})
  set(seed ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${F_NAME})
  file(MAKE_DIRECTORY ${work})
  set(dirs ${work})
  if(EXISTS ${seed})
    list(APPEND dirs ${seed})
  endif()
  add_test(NAME fuzz.${F_NAME}
           COMMAND ${F_NAME} -max_total_time=${MV_FUZZ_SECONDS} -rss_limit_mb=2048
                   -print_final_stats=1 ${dirs})
  math(EXPR limit "${MV_FUZZ_SECONDS} + 120")
  set_tests_properties(fuzz.${F_NAME} PROPERTIES LABELS fuzz TIMEOUT ${limit})
endfunction()

find_package(Threads REQUIRED)
