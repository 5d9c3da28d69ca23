/*
 * run.h — `memvisor run`: build the machine described by a machine_config, load a PVH image,
 * run it under KVM and turn the outcome into the process exit status.
 *
 * Exit statuses (docs/cli.md): 0 every vCPU halted; (c<<1)|1 the guest wrote c to the exit port;
 * 2 bad image (or its placement), named on stderr; VM_STATUS_SHUTDOWN, VM_STATUS_UNEXPECTED
 * (vm.h); RUN_STATUS_NO_VM when the machine could not be built (no /dev/kvm, a capability
 * missing, host memory or host node unavailable); GMEM_STATUS_FATAL when guest memory could not
 * be served (gmem.h).
 */
#ifndef MV_RUN_H
#define MV_RUN_H

#include <stdbool.h>

#include "acpi.h"
#include "boot.h"
#include "faultinj.h"
#include "gmem.h"
#include "guest_mem.h"
#include "loader.h"
#include "machine.h"
#include "memreq.h"
#include "qmp.h"
#include "seccomp_filter.h"
#include "swap.h"
#include "trace.h"
#include "virtio_balloon.h"

#define RUN_STATUS_BAD_IMAGE  2
#define RUN_STATUS_NO_VM      8

struct run_options {
	const char *image;            /* IMAGE or --kernel */
	const char *initrd;           /* --initrd: the initrd (Linux, PVH module 0) or multiboot
					 * modules; NULL: none */
	bool memory_report;           /* print host per-node memory figures at the end */
	bool swap_given;              /* --swap */
	struct swap_spec swap;
	const char *stats_path;       /* --stats: JSON statistics at the end */
	struct gmem_config mem;       /* --fault-around, --fault-threads, --prefault (swap: run.c) */
	struct memreq_list requests;  /* --mem-request (run while the guest runs) */
	struct virtio_balloon_opts balloon;   /* --balloon */
	bool qmp_given;               /* --qmp */
	struct qmp_spec qmp;
	enum seccomp_mode seccomp;    /* --seccomp (main sets ON by default) */
	bool trace_given;             /* --trace */
	struct trace_spec trace;
	struct faultinj *fi;          /* --fault-inject, --fault-seed (NULL: no injection) */
};

/*
 * Fill guest RAM with everything the guest reads at boot: the ACPI tables at MV_GPA_ACPI (with
 * the virtio-mmio devices vio[0..nr_vio) in the DSDT), then the image by its protocol (boot.h):
 * a PVH image with its start info, memory map, m->cmdline and initrd (module 0); a Linux
 * bzImage with its zero page, command line and initrd; a multiboot kernel with its information
 * structure and the modules of initrd (QEMU's spec). *e is the boot vCPU's entry state. 0 or
 * -errno with mv_error() set.
 */
int run_fill_ram(const struct machine_config *m, struct guest_mem *mem, const char *image,
		 const char *initrd, const struct acpi_virtio_mmio *vio, unsigned nr_vio,
		 struct boot_entry *e, struct acpi_layout *acpi);

int run_machine(const struct machine_config *m, struct run_options *o);

#endif /* MV_RUN_H */
