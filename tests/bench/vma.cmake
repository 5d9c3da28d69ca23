# bench_vma — memvisor's VMA tree against Linux 6.1's maple tree and the <=6.0 augmented rbtree
# (tests/bench/bench_vma.c). The two Linux peers are GPL: tools/bench-peers/build-linux-mm.sh
# unpacks Debian's linux-source-6.1 into ${CMAKE_BINARY_DIR}/linux-mm-peers at build time and
# compiles our glue (tests/bench/peers/*.c) against it there, into one object linked into
# bench_vma. Nothing GPL enters the source tree.
set(MV_LINUX_SOURCE_TARBALL /usr/src/linux-source-6.1.tar.xz)
find_path(MV_URCU_INCLUDE_DIR urcu.h)
find_library(MV_URCU_LIB urcu)
find_library(MV_URCU_COMMON_LIB urcu-common)
if(NOT EXISTS ${MV_LINUX_SOURCE_TARBALL} OR NOT MV_URCU_INCLUDE_DIR OR NOT MV_URCU_LIB
   OR NOT MV_URCU_COMMON_LIB)
  message(FATAL_ERROR
    "bench_vma (MV_BENCH=ON) needs the Linux peers' sources and libraries: "
    "${MV_LINUX_SOURCE_TARBALL} (Debian package linux-source-6.1) and liburcu "
    "(liburcu-dev). Install them with: apt-get install linux-source-6.1 liburcu-dev "
    "(or run tools/bench-peers/build-linux-mm.sh as root once), then configure again.")
endif()

set(MV_LINUX_MM_PEERS_DIR ${CMAKE_BINARY_DIR}/linux-mm-peers)
set(MV_LINUX_MM_PEERS_OBJ ${MV_LINUX_MM_PEERS_DIR}/linux_mm_peers.o)
add_custom_command(
  OUTPUT ${MV_LINUX_MM_PEERS_OBJ}
  COMMAND ${CMAKE_COMMAND} -E env LD=${CMAKE_LINKER} OBJCOPY=${CMAKE_OBJCOPY} AR=${CMAKE_AR} NM=${CMAKE_NM}
          ${PROJECT_SOURCE_DIR}/tools/bench-peers/build-linux-mm.sh ${MV_LINUX_MM_PEERS_DIR}
          ${CMAKE_C_COMPILER}
  DEPENDS ${PROJECT_SOURCE_DIR}/tools/bench-peers/build-linux-mm.sh
          ${CMAKE_CURRENT_LIST_DIR}/peers/vma_peer.h
          ${CMAKE_CURRENT_LIST_DIR}/peers/maple_peer.c
          ${CMAKE_CURRENT_LIST_DIR}/peers/rbtree_peer.c
          ${CMAKE_CURRENT_LIST_DIR}/peers/peer_slab.c
          ${MV_LINUX_SOURCE_TARBALL}
  COMMENT "Building the Linux 6.1 maple tree and rbtree peers (GPL, build directory only)"
  VERBATIM)
set_source_files_properties(${MV_LINUX_MM_PEERS_OBJ} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)

mv_add_bench(NAME bench_vma
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_vma.c ${MV_LINUX_MM_PEERS_OBJ}
             LIBS ${MV_URCU_LIB} ${MV_URCU_COMMON_LIB})
