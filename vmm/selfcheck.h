/* selfcheck.h — `memvisor selfcheck`: exercise every mm/ module on host memory (selfcheck.c). */
#ifndef MEMVISOR_SELFCHECK_H
#define MEMVISOR_SELFCHECK_H

/* Run the self-check over two nodes of node_mib MiB each; prints its report; 0 = passed. */
int selfcheck_run(unsigned node_mib);

#endif
