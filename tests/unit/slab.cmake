# Slab allocator and kmalloc (mm/slab.c) over the hosted test provider.
mv_add_test_binary(NAME test_slab LABEL unit
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_slab.c
          ${CMAKE_CURRENT_LIST_DIR}/test_slab_debug.c
          ${CMAKE_CURRENT_LIST_DIR}/test_slab_stress.c
          ${PROJECT_SOURCE_DIR}/tests/lib/slab_test_provider.c)
