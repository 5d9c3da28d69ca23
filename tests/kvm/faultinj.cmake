# kvm.faultinj.*: the host fault-injection suite (label faultinj; docs/fault-injection.md). Every
# host site x {once (probability 100, times 1), 1% (probability 1, times -1), always
# (probability 100, times -1)} under the memtest guest: one node of 4 MiB with a 2 MiB host
# budget and swap, so first-touch faults, evictions to swap and swap-ins all happen while the
# guest writes a pattern over its RAM and reads it back. faultinj_check.sh passes a case when the
# workload finished with every checksum intact, or memvisor stopped with the site's documented
# error and status 10 — never on a wrong page. once and always must have injected (failures > 0);
# once must also finish, except at uffd-fail, whose one failure is a documented stop.
set(MV_FAULTINJ_CHECK ${CMAKE_CURRENT_LIST_DIR}/faultinj_check.sh)
set(MV_FAULTINJ_OUT ${CMAKE_CURRENT_BINARY_DIR})

# site | regex of its documented stop (docs/fault-injection.md); empty: it never stops the VM
set(MV_FAULTINJ_SITES
    "frame-alloc|frame allocation failed [0-9]+ times in a row"
    "swap-write-eio|no cluster could be written to host swap"
    "swap-write-enospc|no cluster could be written to host swap"
    "swap-write-short|no cluster could be written to host swap"
    "swap-read-eio|back from swap failed 3 times"
    "uffd-eagain|UFFDIO_WAKE of gpa 0x[0-9a-f]+ failed: Resource temporarily unavailable, every try"
    "uffd-fail|UFFDIO_WAKE of gpa 0x[0-9a-f]+ failed: Invalid argument|cannot make spare registered memory for unmapping: Invalid argument"
    "mmap|mapping pool frames at gpa 0x[0-9a-f]+: Cannot allocate memory, 3 tries"
    "slow-fault|")

# mode name | knobs
set(MV_FAULTINJ_MODES
    "once|probability=100,times=1"
    "p1|probability=1,times=-1"
    "always|probability=100,times=-1")

foreach(entry IN LISTS MV_FAULTINJ_SITES)
  string(FIND "${entry}" "|" bar)
  string(SUBSTRING "${entry}" 0 ${bar} site)
  math(EXPR bar "${bar} + 1")
  string(SUBSTRING "${entry}" ${bar} -1 stop_re)
  foreach(mode_entry IN LISTS MV_FAULTINJ_MODES)
    string(REPLACE "|" ";" mode_parts "${mode_entry}")
    list(GET mode_parts 0 mode)
    list(GET mode_parts 1 knobs)
    set(extra)
    if(site STREQUAL "slow-fault")
      string(APPEND knobs ",delay-us=300")
    endif()
    if(NOT mode STREQUAL "p1")
      list(APPEND extra --must-inject)
    endif()
    if(stop_re AND NOT (mode STREQUAL "once" AND NOT site STREQUAL "uffd-fail"))
      list(APPEND extra --stop-re "${stop_re}")
    else()
      list(APPEND extra --expect-ok)
    endif()
    set(base ${MV_FAULTINJ_OUT}/faultinj-${site}-${mode})
    mv_add_kvm_test(NAME faultinj.${site}.${mode} LABELS faultinj TIMEOUT 120
        COMMAND ${MV_FAULTINJ_CHECK} --site ${site} ${extra} --remove ${base}.swap
        -- $<TARGET_FILE:memvisor> run ${MV_IMAGES_DIR}/memtest.elf --cmdline memtest --cpus 1
           --numa size=4M,budget=2M --swap ${base}.swap,size=8M
           --fault-seed 8 --fault-inject ${site},${knobs})
  endforeach()
endforeach()
