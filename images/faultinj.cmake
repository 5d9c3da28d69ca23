# images/faultinj.cmake — scenario=faultinj (guest/faultinj_test.c): the integrity workload for
# the guest's fault-injection sites. The sites come on the command line the tests pass
# (fail_page_alloc=, failslab=, fail_balloon=, fault_seed=, fault_verbose=; guest/README.md).
mv_guest_image(NAME scenario-faultinj GUEST guest CMDLINE "scenario=faultinj")
