/*
 * run.c — `memvisor run` (run.h): guest RAM first (ram.c), then everything the guest finds in
 * it (ACPI tables, the image, the PVH start info), then the KVM VM over that RAM. Building the
 * RAM image before opening /dev/kvm means a bad image is refused the same way on every host.
 * Single-threaded until vm_run starts the vCPUs; no lock of its own.
 */
#include "run.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <memvisor/layout.h>
#include <memvisor/multiboot.h>

#include "boot_linux.h"
#include "boot_multiboot.h"
#include "boot_pvh.h"
#include "hostmem_pv.h"
#include "error.h"
#include "loader_common.h"
#include "ram.h"
#include "run_qmp.h"
#include "testdev.h"
#include "vm.h"

/* The boot protocol of the image at path, from its first bytes (boot_detect). */
static int run_detect(const char *path, enum boot_protocol *p)
{
	uint8_t head[MULTIBOOT_SEARCH];
	size_t got;
	int err = loader_read_head(path, head, sizeof(head), &got);

	if (!err)
		*p = boot_detect(head, got);
	return err;
}

int run_fill_ram(const struct machine_config *m, struct guest_mem *mem, const char *image,
		 const char *initrd, const struct acpi_virtio_mmio *vio, unsigned nr_vio,
		 struct boot_entry *e, struct acpi_layout *acpi)
{
	void *area = guest_mem_ptr(mem, MV_GPA_ACPI, MV_ACPI_SIZE);
	enum boot_protocol proto;
	struct pvh_image img;
	struct linux_image li;
	int err;

	if (!area)
		return mv_fail(EINVAL, "the ACPI area 0x%llx+0x%llx is not guest RAM",
			       (unsigned long long)MV_GPA_ACPI, (unsigned long long)MV_ACPI_SIZE);
	err = run_detect(image, &proto);
	if (err)
		return err;
	err = acpi_build_devices(m, vio, nr_vio, area, MV_ACPI_SIZE, MV_GPA_ACPI, acpi);
	if (err)
		return err;
	switch (proto) {
	case BOOT_LINUX:
		return linux_load_files(m, mem, image, initrd, m->cmdline, acpi->rsdp_gpa, e, &li);
	case BOOT_MULTIBOOT:
		return multiboot_load_files(m, mem, image, m->cmdline, initrd, e);
	case BOOT_PVH:
	default:
		err = pvh_load_file(image, mem, &img);     /* its messages name the image */
		if (err)
			return err;
		*e = (struct boot_entry){ .protocol = BOOT_PVH, .rip = img.entry,
					  .rbx = MV_GPA_START_INFO };
		/* the initrd, if any, is module 0, above the image; its messages name its path */
		return pvh_write_boot_info_file(m, mem, acpi->rsdp_gpa, m->cmdline, img.load_end,
						initrd, NULL);
	}
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

/*
 * The boot image is written into guest RAM on a thread of its own: every write is a userfaultfd
 * fault served by gmem, and if guest memory cannot be served (a budget smaller than the image,
 * no swap) that thread waits for ever. The main thread then reports and tears down instead.
 */
struct run_fill {
	const struct machine_config *m;
	struct guest_mem *mem;
	const char *image;
	const char *initrd;
	struct acpi_virtio_mmio vio[1];     /* the balloon, with --balloon */
	unsigned nr_vio;
	struct boot_entry entry;
	struct acpi_layout acpi;
	int err;
	char msg[512];                  /* the filler's mv_error() (it is per thread) */
	bool done, mem_failed;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *run_fill_thread(void *arg)
{
	struct run_fill *f = arg;
	int err = run_fill_ram(f->m, f->mem, f->image, f->initrd, f->vio, f->nr_vio, &f->entry,
			       &f->acpi);

	pthread_mutex_lock(&f->lock);
	f->err = err;
	snprintf(f->msg, sizeof(f->msg), "%s", err ? mv_error() : "");
	f->done = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void run_fill_mem_failed(void *arg)
{
	struct run_fill *f = arg;

	pthread_mutex_lock(&f->lock);
	f->mem_failed = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* The guest's page-out / page-in requests (hostmem_pv.c) are gmem requests. */
static int run_page_out(void *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_page_out(g, gpa, len, pages);
}

static int run_page_in(void *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_page_in(g, gpa, len, pages);
}

static int run_node_page_out(void *g, unsigned node, uint64_t *pages)
{
	return gmem_node_page_out(g, node, pages);
}

static int run_node_page_in(void *g, unsigned node, uint64_t *pages)
{
	return gmem_node_page_in(g, node, pages);
}

static const struct hostmem_pv_ops run_hostmem_ops = {
	.page_out = run_page_out, .page_in = run_page_in,
	.node_page_out = run_node_page_out, .node_page_in = run_node_page_in,
};

/* The balloon's backend is gmem; its interrupt an edge on its IOAPIC pin; its window the bus. */
static int run_balloon_inflate(void *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_balloon(g, gpa, len, false, pages);
}

static int run_balloon_discard(void *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_balloon(g, gpa, len, true, pages);
}

static int run_balloon_deflate(void *g, gpa_t gpa, uint64_t len, uint64_t *pages)
{
	return gmem_deflate(g, gpa, len, pages);
}

static void run_irq(void *vm, uint32_t gsi)
{
	vm_irq_pulse(vm, gsi);
}

static void run_mmio_virtio(void *t, uint64_t off, uint8_t *data, unsigned len, bool write)
{
	virtio_mmio_access(t, off, data, len, write);
}

static void run_balloon_target(void *b, uint64_t bytes)
{
	virtio_balloon_set_target(b, bytes);
}

static int run_balloon_create(struct virtio_balloon *b, const struct run_options *o,
			      const struct machine_config *m, struct guest_mem *mem,
			      struct gmem *g, struct vm *vm)
{
	struct virtio_balloon_backend be = {
		.granule_pages = g->cluster_pages, .inflate = run_balloon_inflate,
		.deflate = run_balloon_deflate, .discard = run_balloon_discard, .arg = g,
	};
	int err = virtio_balloon_init(b, &o->balloon, &be, mem, m->ram_end, MV_GPA_VIRTIO_BALLOON,
				      MV_GSI_VIRTIO_BALLOON, run_irq, vm);

	if (err)
		return err;
	err = vm_add_mmio(vm, MV_GPA_VIRTIO_BALLOON, MV_VIRTIO_MMIO_SIZE, run_mmio_virtio, &b->t);
	if (!err)
		err = virtio_balloon_start(b);
	if (err)
		virtio_balloon_destroy(b);
	return err;
}

static void run_balloon_report(struct virtio_balloon *b, FILE *out)
{
	struct virtio_balloon_stats s;
	struct virtio_mmio_stats t;

	virtio_balloon_get_stats(b, &s);
	virtio_mmio_get_stats(&b->t, &t);
	fprintf(out, "  virtio-balloon: target %" PRIu32 " pages, actual %" PRIu32 ", held %" PRIu64
		", inflated %" PRIu64 ", deflated %" PRIu64 ", host freed %" PRIu64 " / returned %"
		PRIu64 ", reported %" PRIu64 "; bad requests: pfns %" PRIu64 ", duplicates %" PRIu64
		", not held %" PRIu64 ", over target %" PRIu64 ", malformed %" PRIu64
		"; transport: ro writes %" PRIu64 ", bad accesses %" PRIu64 ", bad sequence %" PRIu64
		", needs reset %" PRIu64 ", interrupts %" PRIu64 "\n", s.num_pages, s.actual, s.held,
		s.inflated, s.deflated, s.host_inflated, s.host_deflated, s.reported, s.bad_pfns,
		s.duplicates, s.not_held, s.over_target, s.bad_requests, t.ro_writes, t.bad_accesses,
		t.bad_sequence, t.needs_reset, t.interrupts);
}

/* The "balloon" member of the --stats JSON. */
static void run_balloon_json(FILE *f, void *arg)
{
	struct virtio_balloon *b = arg;
	struct virtio_balloon_stats s;
	struct virtio_mmio_stats t;

	virtio_balloon_get_stats(b, &s);
	virtio_mmio_get_stats(&b->t, &t);
	fprintf(f, ",\n  \"balloon\": {\"num_pages\": %" PRIu32 ", \"actual\": %" PRIu32
		", \"held\": %" PRIu64 ", \"inflated\": %" PRIu64 ", \"deflated\": %" PRIu64
		", \"host_inflated\": %" PRIu64 ", \"host_deflated\": %" PRIu64
		", \"reported\": %" PRIu64 ", \"bad_pfns\": %" PRIu64 ", \"duplicates\": %" PRIu64
		", \"not_held\": %" PRIu64 ", \"over_target\": %" PRIu64
		", \"bad_requests\": %" PRIu64 ", \"backend_errors\": %" PRIu64
		", \"stats_updates\": %" PRIu64 ", \"ro_writes\": %" PRIu64
		", \"bad_accesses\": %" PRIu64 ", \"bad_sequence\": %" PRIu64
		", \"needs_reset\": %" PRIu64 ", \"interrupts\": %" PRIu64 "}", s.num_pages,
		s.actual, s.held, s.inflated, s.deflated, s.host_inflated, s.host_deflated,
		s.reported, s.bad_pfns, s.duplicates, s.not_held, s.over_target, s.bad_requests,
		s.backend_errors, s.stats_updates, t.ro_writes, t.bad_accesses, t.bad_sequence,
		t.needs_reset, t.interrupts);
}

/* --trace's extra fields: the balloon's target and size in pages. */
static void run_trace_balloon(FILE *f, void *arg)
{
	struct virtio_balloon_stats s;

	virtio_balloon_get_stats(arg, &s);
	fprintf(f, ", \"balloon\": {\"num_pages\": %" PRIu32 ", \"actual\": %" PRIu32 "}",
		s.num_pages, s.actual);
}

/* QEMU's test devices (testdev.h): Bochs shutdown ends the VM cleanly; flush goes to gmem. */
struct run_testdev_ctx {
	struct vm *vm;
	struct gmem *g;
};

static void run_testdev_shutdown(void *arg)
{
	struct run_testdev_ctx *c = arg;

	serial_flush(&c->vm->serial);
	vm_stop(c->vm, 0);
}

static int run_testdev_flush(void *arg, gpa_t gpa)
{
	struct run_testdev_ctx *c = arg;

	return gmem_flush_page(c->g, gpa);
}

static void run_testdev_iomem(void *t, uint64_t off, uint8_t *data, unsigned len, bool write)
{
	testdev_iomem_access(t, off, data, len, write);
}

/* What the guest did with the test devices, if anything (a test kernel's checks can be held
 * against it: e.g. one flush-page write, one page flushed). */
static void run_testdev_report(struct testdev *td, FILE *out)
{
	struct testdev_stats s;

	testdev_get_stats(td, &s);
	if (s.fw_cfg_reads || s.latch_writes || s.flushes || s.flush_refused || s.iomem_accesses)
		fprintf(out, "  test devices: fw_cfg bytes read %" PRIu64 ", latch writes %" PRIu64
			", pages flushed %" PRIu64 " (refused %" PRIu64 "), iomem accesses %" PRIu64
			"\n", s.fw_cfg_reads, s.latch_writes, s.flushes, s.flush_refused,
			s.iomem_accesses);
}

static void run_vm_mem_failed(void *arg)
{
	vm_stop(arg, GMEM_STATUS_FATAL);
}

/* Swap device for --swap: the size given, or as much as all guest RAM. */
static int run_open_swap(const struct machine_config *m, const struct run_options *o,
			 struct swap_dev *sw)
{
	unsigned cp = gmem_cluster_pages(m, o->mem.cluster_pages);
	uint64_t size = o->swap.size;

	if (!size)
		for (unsigned n = 0; n < m->nr_nodes; n++)
			size += m->nodes[n].size;
	return swap_open(sw, o->swap.path, size, cp);
}

/* Returns 0 with the image in guest RAM, or the exit status to stop with (message printed). */
static int run_fill(struct run_fill *f, struct gmem *g)
{
	pthread_t t;
	int err;

	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	gmem_set_fatal_handler(g, run_fill_mem_failed, f);
	err = pthread_create(&t, NULL, run_fill_thread, f);
	if (err) {
		fprintf(stderr, "memvisor: cannot start the loader thread: %s\n", strerror(err));
		return RUN_STATUS_NO_VM;
	}
	pthread_mutex_lock(&f->lock);
	while (!f->done && !f->mem_failed)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	if (!f->done) {
		/* Closing the userfaultfd lets the waiting loader finish on memory we discard. */
		fprintf(stderr, "memvisor: the boot image does not fit guest memory as configured\n");
		gmem_destroy(g);
		pthread_join(t, NULL);
		return GMEM_STATUS_FATAL;
	}
	pthread_join(t, NULL);
	if (f->err) {
		fprintf(stderr, "memvisor: %s\n", f->msg);
		return RUN_STATUS_BAD_IMAGE;
	}
	return 0;
}

/*
 * After the guest: the consistency check of guest memory (stage 2, pools, swap and the host
 * mappings must agree; a disagreement turns the status into GMEM_STATUS_FATAL), the statistics
 * and the guest's page-out requests. Returns the status to exit with.
 */
static int run_end(const struct machine_config *m, const struct run_options *o,
		   struct guest_mem *mem, struct gmem *g, struct hostmem_pv *pv,
		   struct virtio_balloon *balloon, int status)
{
	struct hostmem_pv_stats ps;

	if (!__atomic_load_n(&g->fatal, __ATOMIC_ACQUIRE)) {
		if (gmem_check(g)) {
			fprintf(stderr, "memvisor: guest memory consistency check FAILED: %s\n",
				mv_error());
			status = GMEM_STATUS_FATAL;
		} else {
			fprintf(stderr, "memvisor: guest memory consistency check: ok\n");
		}
	}
	gmem_print_stats(g, stderr);
	hostmem_pv_get_stats(pv, &ps);
	fprintf(stderr, "  guest page-out/page-in requests: %" PRIu64 " (page-outs %" PRIu64
		", page-ins %" PRIu64 ", rejected %" PRIu64 ", failed %" PRIu64 ", blocks ignored %"
		PRIu64 ", pages %" PRIu64 ")\n", ps.requests, ps.page_outs, ps.page_ins, ps.rejected,
		ps.failed, ps.blocks_ignored, ps.pages);
	if (balloon)
		run_balloon_report(balloon, stderr);
	if (o->stats_path && gmem_write_stats_json_extra(g, o->stats_path,
							 balloon ? run_balloon_json : NULL, balloon))
		fprintf(stderr, "memvisor: %s\n", mv_error());
	faultinj_print_stats(o->fi, stderr);
	if (o->memory_report)
		ram_report(m, mem, stdout);
	return status;
}

int run_machine(const struct machine_config *m, struct run_options *o)
{
	struct guest_mem mem = { 0 };
	struct run_fill fill = { .m = m, .mem = &mem, .image = o->image, .initrd = o->initrd };
	struct swap_dev sw;
	struct gmem_config mcfg = o->mem;
	struct gmem g;
	struct vm vm;
	struct hostmem_pv pv;
	struct virtio_balloon balloon;
	struct testdev *td = NULL;
	struct run_testdev_ctx tdc = { .vm = &vm, .g = &g };
	struct testdev_ops tdops = { run_testdev_shutdown, run_testdev_flush, &tdc };
	struct run_qmp rq = { 0 };
	struct trace tr = { 0 };
	bool swap_open_ok = false, gmem_ok = false, balloon_ok = false;
	int serial_fd = -1, status;

	if (seccomp_setup(o->seccomp) || ram_create(m, &mem)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		return RUN_STATUS_NO_VM;
	}
	status = RUN_STATUS_NO_VM;
	if (o->swap_given) {
		if (run_open_swap(m, o, &sw)) {
			fprintf(stderr, "memvisor: %s\n", mv_error());
			goto out;
		}
		swap_open_ok = true;
		sw.fi = o->fi;
		mcfg.swap = &sw;
	}
	mcfg.fi = o->fi;
	if (gmem_create(&g, m, &mem, &mcfg)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		goto out;
	}
	gmem_ok = true;
	if (o->balloon.given)
		fill.vio[fill.nr_vio++] = (struct acpi_virtio_mmio){
			.base = MV_GPA_VIRTIO_BALLOON, .size = MV_VIRTIO_MMIO_SIZE,
			.gsi = MV_GSI_VIRTIO_BALLOON };
	status = run_fill(&fill, &g);
	if (status) {
		gmem_ok = status != GMEM_STATUS_FATAL;     /* run_fill destroyed it */
		goto out;
	}
	serial_fd = run_open_serial(m);
	if (serial_fd < 0) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		status = RUN_STATUS_NO_VM;
		goto out;
	}
	if (vm_create(&vm, m, &mem, serial_fd)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		status = RUN_STATUS_NO_VM;
		goto out;
	}
	if (hostmem_pv_init(&pv, m, &mem, &run_hostmem_ops, &g)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		vm_destroy(&vm);
		status = RUN_STATUS_NO_VM;
		goto out;
	}
	vm.hostmem = &pv;
	td = malloc(sizeof(*td));
	if (!td || vm_add_mmio(&vm, MV_GPA_TESTDEV_IOMEM, MV_TESTDEV_IOMEM_SIZE, run_testdev_iomem,
			       td)) {
		fprintf(stderr, "memvisor: %s\n", td ? mv_error() : "out of memory for the test devices");
		free(td);
		hostmem_pv_destroy(&pv);
		vm_destroy(&vm);
		status = RUN_STATUS_NO_VM;
		goto out;
	}
	testdev_init(td, m, &tdops);
	vm.testdev = td;
	if (o->balloon.given) {
		if (run_balloon_create(&balloon, o, m, &mem, &g, &vm)) {
			fprintf(stderr, "memvisor: %s\n", mv_error());
			testdev_destroy(td);
			free(td);
			hostmem_pv_destroy(&pv);
			vm_destroy(&vm);
			status = RUN_STATUS_NO_VM;
			goto out;
		}
		balloon_ok = true;
		o->requests.balloon_target = run_balloon_target;
		o->requests.balloon_arg = &balloon;
	}
	gmem_set_fatal_handler(&g, run_vm_mem_failed, &vm);
	gmem_refuse_after_fatal(&g);            /* from here only vCPUs touch guest RAM */
	if (o->qmp_given && run_qmp_start(&rq, m, &o->qmp, &vm, &g, balloon_ok ? &balloon : NULL,
					  o->fi)) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		status = RUN_STATUS_NO_VM;
	} else if (memreq_start(&o->requests, &g) ||
		   (o->trace_given && (trace_open(&tr, &o->trace, &g, balloon_ok ? run_trace_balloon
						  : NULL, &balloon) || trace_start(&tr)))) {
		fprintf(stderr, "memvisor: %s\n", mv_error());
		status = RUN_STATUS_NO_VM;
	} else {
		status = __atomic_load_n(&g.fatal, __ATOMIC_ACQUIRE) ? GMEM_STATUS_FATAL
								       : vm_run(&vm, &fill.entry);
	}
	memreq_stop(&o->requests);
	if (trace_close(&tr))                   /* the last sample: the state at the end */
		fprintf(stderr, "memvisor: %s\n", mv_error());
	run_qmp_stop(&rq, status);              /* no command touches the VM after this */
	gmem_set_fatal_handler(&g, NULL, NULL); /* nor the engine: the VM is going away */
	if (balloon_ok)
		virtio_balloon_stop(&balloon);      /* the stats timer touches the VM */
	vm_destroy(&vm);
	status = run_end(m, o, &mem, &g, &pv, balloon_ok ? &balloon : NULL, status);
	if (balloon_ok)
		virtio_balloon_destroy(&balloon);
	run_testdev_report(td, stderr);
	testdev_destroy(td);
	free(td);
	hostmem_pv_destroy(&pv);
out:
	if (serial_fd >= 0 && serial_fd != STDOUT_FILENO)
		close(serial_fd);
	if (gmem_ok)
		gmem_destroy(&g);
	if (swap_open_ok)
		swap_close(&sw);
	ram_destroy(&mem);
	return status;
}
