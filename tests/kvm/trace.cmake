# --trace (vmm/trace.h, docs/trace.md) and tools/plot-trace.
#   kvm.trace.*   a real run's trace: consistent samples, last one == --stats, a PNG rendered
#   trace.plot_*  plot-trace on good and broken input (label host: needs gnuplot, not KVM)
set(MV_TRACE_OUT ${CMAKE_CURRENT_BINARY_DIR})
mv_add_kvm_test(NAME trace.memtest_swap_migrate_page_out
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/trace_check.sh $<TARGET_FILE:memvisor>
            ${MV_IMAGES_DIR}/memtest.elf ${PROJECT_SOURCE_DIR}/tools/plot-trace ${MV_TRACE_OUT}
    TIMEOUT 180)

add_test(NAME trace.plot_rejects_a_broken_line
         COMMAND sh -c "printf '{\"t_ms\": 0, \"nodes\": []}\\nnot json\\n' >\"$1\"; \"$0\" \"$1\" \"$1.png\""
                 ${PROJECT_SOURCE_DIR}/tools/plot-trace ${MV_TRACE_OUT}/broken.jsonl)
set_tests_properties(trace.plot_rejects_a_broken_line PROPERTIES LABELS host
                     PASS_REGULAR_EXPRESSION "broken.jsonl:2: not a memvisor trace sample")
add_test(NAME trace.plot_renders_a_png
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/trace_plot_check.sh ${PROJECT_SOURCE_DIR}/tools/plot-trace
                 ${MV_TRACE_OUT})
set_tests_properties(trace.plot_renders_a_png PROPERTIES LABELS host)
