# images/soak.cmake — scenario=soak (guest/soak.c): the long mixed workload tools/soak runs under
# memvisor while it drives the host over QMP (docs/soak.md). soak_seconds= and the guest's
# fault-injection sites come on the command line tools/soak passes.
mv_guest_image(NAME scenario-soak GUEST guest CMDLINE "scenario=soak")
