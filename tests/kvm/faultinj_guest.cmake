# kvm.faultinj.guest_{page_alloc,slab,balloon}_{once,1pct,always} (labels kvm, faultinj): the
# guest's fault-injection sites (guest/faultinj.c, docs/fault-injection.md (guest sites)) under memvisor
# and real KVM, each with Linux's knobs on the guest's command line: once 1,100,0,1 (the first
# eligible call fails), 1pct 1,1,0,-1, always 1,100,0,-1. The integrity workload
# (scenario=faultinj, guest/faultinj_test.c) runs on 2 vCPUs and 2 nodes of 128 MiB; the balloon
# site adds memvisor's virtio-balloon device. Verdict (tests/kvm/faultinj_guest.sh with
# tests/guest/faultinj_check.sh): never a wrong page; the workload finished with every pattern
# intact and free pages back (the guest sites' documented outcome); once/always: the site fired
# (its "# faultinj SITE calls N failures M" has M > 0); the balloon ends with actual 0, held 0 on
# the host; memvisor's guest memory consistency check is ok.
set(MV_FAULTINJ_GUEST_MACHINE --cpus 2 --numa node=0,size=128M,cpus=0,distances=1@20
                              --numa node=1,size=128M,cpus=1)
set(MV_FAULTINJ_KNOBS_once 1,100,0,1)
set(MV_FAULTINJ_KNOBS_1pct 1,1,0,-1)
set(MV_FAULTINJ_KNOBS_always 1,100,0,-1)
foreach(site page_alloc slab balloon)
  if(site STREQUAL page_alloc)
    set(option fail_page_alloc)
    set(extra)
  elseif(site STREQUAL slab)
    set(option failslab)
    set(extra)
  else()
    set(option fail_balloon)
    set(extra --balloon target=8M)     # 2048 pages: the workload's 512 stay within it
  endif()
  foreach(mode once 1pct always)
    mv_add_kvm_test(NAME faultinj.guest_${site}_${mode} TIMEOUT 60 LABELS faultinj
        COMMAND ${CMAKE_CURRENT_LIST_DIR}/faultinj_guest.sh ${option} ${mode}
                ${MV_FAULTINJ_KNOBS_${mode}} $<TARGET_FILE:memvisor>
                ${MV_IMAGES_DIR}/scenario-faultinj.elf ${MV_FAULTINJ_GUEST_MACHINE} ${extra})
  endforeach()
endforeach()
