# images/proc.cmake — the process scenarios (guest/proctest.c, guest/README.md): user programs in
# ring 3 on the guest's own VMAs, page tables and fault handler; one image per scenario.
foreach(sc vma fault stack segv cow churn interleave shared stress mbind)
  mv_guest_image(NAME scenario-${sc} GUEST guest CMDLINE "scenario=${sc}")
endforeach()
