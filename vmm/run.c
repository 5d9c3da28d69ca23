/*
 * run.c — `memvisor run` (run.h): guest RAM first (ram.c), then everything the guest finds in
 * it (ACPI tables, the image, the PVH start info), then the KVM VM over that RAM. Building the
 * RAM image before opening /dev/kvm means a bad image is refused the same way on every host.
 * Single-threaded until vm_run starts the vCPUs; no lock of its own.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <memvisor/layout.h>

#include "boot_pvh.h"
#include "error.h"
#include "ram.h"
#include "vm.h"

int run_fill_ram(const struct machine_config *m, struct guest_mem *mem, const char *image,
		 struct pvh_image *img, struct acpi_layout *acpi)
{
	void *area = guest_mem_ptr(mem, MV_GPA_ACPI, MV_ACPI_SIZE);
	int err;

	if (!area)
		return mv_fail(EINVAL, "the ACPI area 0x%llx+0x%llx is not guest RAM",
			       (unsigned long long)MV_GPA_ACPI, (unsigned long long)MV_ACPI_SIZE);
	err = acpi_build(m, area, MV_ACPI_SIZE, MV_GPA_ACPI, acpi);
	if (err)
		return err;
	err = pvh_load_file(image, mem, img);       /* its messages name the image */
	if (err)
		return err;
	return pvh_write_boot_info(m, mem, acpi->rsdp_gpa, m->cmdline);
}

static int run_open_serial(const struct machine_config *m)
{
	int fd;

	if (!m->serial_path)
		return STDOUT_FILENO;
	fd = open(m->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return mv_fail(errno, "--serial %s: %s", m->serial_path, strerror(errno));
	return fd;
}

int run_machine(const struct machine_config *m, const struct run_options *o)
{
	struct guest_mem mem = { 0 };
	struct pvh_image img;
	struct acpi_layout acpi;
	struct vm vm;
	int serial_fd, status;

	if (ram_create(m, &mem)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		return RUN_STATUS_NO_VM;
	}
	if (run_fill_ram(m, &mem, o->image, &img, &acpi)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		ram_destroy(&mem);
		return RUN_STATUS_BAD_IMAGE;
	}
	serial_fd = run_open_serial(m);
	if (serial_fd < 0) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		ram_destroy(&mem);
		return RUN_STATUS_NO_VM;
	}
	if (vm_create(&vm, m, &mem, serial_fd)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		status = RUN_STATUS_NO_VM;
		goto out;
	}
	status = vm_run(&vm, img.entry);
	vm_destroy(&vm);
	if (o->memory_report)
		ram_report(m, &mem, stdout);
out:
	if (serial_fd != STDOUT_FILENO)
		close(serial_fd);
	ram_destroy(&mem);
	return status;
}
