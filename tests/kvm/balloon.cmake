# kvm.balloon.*: the virtio-balloon device under real KVM, before any guest driver exists: the
# default image runs its ACPI/topology checks with the device in the DSDT (status 1: all passed),
# the target-change hook runs, and the end-of-run report carries the device's counters. The
# driver side (inflate, stats, reporting) is the `balloon` scenario's job (issue 7, guest/).
# (boot_check.sh by path: this fragment is included before boot.cmake sets MV_BOOT_CHECK.)
mv_add_kvm_test(NAME balloon.device_present_guest_unaffected COMMAND ${CMAKE_CURRENT_LIST_DIR}/boot_check.sh --status 1
    --expect-re "^memvisor: request balloon-target 16384 KiB at 0 ms: done, 4096 pages$"
    --expect "memvisor: guest memory consistency check: ok"
    --expect-re "virtio-balloon: target 4096 pages, actual 0, held 0, .*needs reset 0"
    -- sh -c "\"$0\" \"$@\" 2>&1" $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/default.elf
       --balloon target=8M,stats-interval=1,deflate-on-oom=on,free-page-reporting=on
       --mem-request balloon-target,at=0,size=16M)
