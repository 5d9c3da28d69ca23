/*
 * guest/hostmem.c — the guest side of the paravirtual host-memory interface
 * (include/memvisor/hostmem.h): build a request block, hand its address to the VMM through the
 * two ports, print one TAP check per request (the `memtest pageout` scenario, memtest.c).
 *
 * Check lines (guest/README.md):
 *   ok N - page-out node I: status 0 pages=P
 *   ok N - page-out range 0x..-0x..: status 0 pages=P          (page-in likewise)
 *   ok N - page-out rejects <defect>: status -22 (EINVAL)
 *   not ok N - <what>: no host-memory device answered          (status still the sentinel)
 *   not ok N - <what>: status S (NAME), expected W (NAME)
 *   not ok N - <what>: status S pages=P, more than the M pages it may change
 *
 * "No device answered" is told apart from every real answer by writing HOSTMEM_NO_ANSWER into
 * `status` before each request: hostmem.h's codes are 0 or negative. Under QEMU (no such device)
 * every request but the bad-magic one therefore fails, as it should.
 * One CPU, interrupts off: the single request block needs no lock.
 */
#include <memvisor/hostmem.h>
#include <memvisor/layout.h>

#include "memtest.h"

#define PAGE_SIZE            UINT64_C(4096)
#define HOSTMEM_NO_ANSWER    INT32_C(0x7fffffff)   /* never a status the VMM writes */
#define BAD_OP_LOW           0u                     /* below MV_HOSTMEM_OP_PAGE_OUT */
#define BAD_OP_HIGH          (MV_HOSTMEM_OP_PAGE_IN + 1)
#define BAD_FLAG             (MV_HOSTMEM_F_VALID + 1)   /* MV_HOSTMEM_F_VALID is a mask of low bits */
#define WRAP_GPA             (UINT64_MAX - PAGE_SIZE + 1)   /* + 2 pages wraps past 2^64 */

/* 64-byte aligned: wholly inside one 4 KiB page, as hostmem.h requires. */
static struct mv_hostmem_req req __attribute__((aligned(64)));

static void req_init(uint32_t op, uint32_t flags, uint32_t node, uint64_t gpa, uint64_t len)
{
	memset(&req, 0, sizeof(req));
	req.magic = MV_HOSTMEM_MAGIC;
	req.op = op;
	req.flags = flags;
	req.node = node;
	req.gpa = gpa;
	req.len = len;
	req.status = HOSTMEM_NO_ANSWER;
}

/* hostmem.h: high dword, then low dword; the second `out` performs the request. outl's
 * "memory" clobber makes the compiler store req before and reload it after. */
static void req_send(void)
{
	uint64_t pa = (uint64_t)(uintptr_t)&req;       /* identity map */

	outl(MV_PORT_HOSTMEM_HI, (uint32_t)(pa >> 32));
	outl(MV_PORT_HOSTMEM_LO, (uint32_t)pa);
}

static const char *status_name(int32_t s)
{
	switch (s) {
	case MV_HOSTMEM_OK:     return "OK";
	case MV_HOSTMEM_EIO:    return "EIO";
	case MV_HOSTMEM_ENOMEM: return "ENOMEM";
	case MV_HOSTMEM_EINVAL: return "EINVAL";
	case MV_HOSTMEM_ENOSPC: return "ENOSPC";
	case MV_HOSTMEM_ERANGE: return "ERANGE";
	default:                return "unknown";
	}
}

/*
 * Send req and print its check: ok when the answer is `want` with at most max_pages pages
 * (a rejected request changes nothing: max_pages 0). fmt names the request.
 */
__attribute__((format(printf, 3, 4)))
static bool req_check(int32_t want, uint64_t max_pages, const char *fmt, ...)
{
	bool answered, ok;
	va_list ap;

	req_send();
	answered = req.status != HOSTMEM_NO_ANSWER;
	ok = answered && req.status == want && req.pages <= max_pages;
	tap_begin(ok);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	if (!answered)
		kprintf(": no host-memory device answered\n");
	else if (req.status != want)
		kprintf(": status %d (%s), expected %d (%s)\n", req.status,
			status_name(req.status), want, status_name(want));
	else if (req.pages > max_pages)
		kprintf(": status %d pages=%lu, more than the %lu pages it may change\n",
			req.status, req.pages, max_pages);
	else if (want == MV_HOSTMEM_OK)
		kprintf(": status 0 pages=%lu\n", req.pages);
	else
		kprintf(": status %d (%s)\n", req.status, status_name(req.status));
	return ok;
}

void hostmem_bad_requests(uint64_t ram, unsigned bad_node)
{
	const uint32_t out = MV_HOSTMEM_OP_PAGE_OUT;

	if (ram) {
		req_init(out, 0, 0, ram + PAGE_SIZE / 2, PAGE_SIZE);
		req_check(MV_HOSTMEM_EINVAL, 0, "page-out rejects unaligned gpa 0x%lx", req.gpa);
		req_init(out, 0, 0, ram, PAGE_SIZE / 2);
		req_check(MV_HOSTMEM_EINVAL, 0, "page-out rejects unaligned len 0x%lx", req.len);
		req_init(out, 0, 0, ram, 0);
		req_check(MV_HOSTMEM_EINVAL, 0, "page-out rejects len 0");
		req_init(BAD_OP_LOW, 0, 0, ram, PAGE_SIZE);
		req_check(MV_HOSTMEM_EINVAL, 0, "hostmem rejects op %u", req.op);
		req_init(BAD_OP_HIGH, 0, 0, ram, PAGE_SIZE);
		req_check(MV_HOSTMEM_EINVAL, 0, "hostmem rejects op %u", req.op);
		req_init(out, BAD_FLAG, 0, ram, PAGE_SIZE);
		req_check(MV_HOSTMEM_EINVAL, 0, "page-out rejects unknown flag 0x%x", req.flags);
		req_init(out, 0, 0, ram, PAGE_SIZE);
		req.reserved0 = 1;
		req_check(MV_HOSTMEM_EINVAL, 0, "page-out rejects nonzero reserved0");
		req_init(out, 0, 0, ram, PAGE_SIZE);
		req.reserved1[1] = 1;
		req_check(MV_HOSTMEM_EINVAL, 0, "page-out rejects nonzero reserved1[1]");
	}
	req_init(out, 0, 0, WRAP_GPA, 2 * PAGE_SIZE);
	req_check(MV_HOSTMEM_ERANGE, 0, "page-out rejects range 0x%lx+0x%lx wrapping past 2^64",
		  req.gpa, req.len);
	req_init(out, 0, 0, MV_GPA_MMIO_BASE, PAGE_SIZE);
	req_check(MV_HOSTMEM_ERANGE, 0, "page-out rejects range 0x%lx-0x%lx in the MMIO hole",
		  req.gpa, req.gpa + req.len - 1);
	req_init(out, MV_HOSTMEM_F_NODE, bad_node, 0, 0);
	req_check(MV_HOSTMEM_ERANGE, 0, "page-out rejects node %u (no such node)", bad_node);

	/* A block with a bad magic is ignored (hostmem.h): status must keep the sentinel. */
	req_init(out, MV_HOSTMEM_F_NODE, 0, 0, 0);
	req.magic = ~MV_HOSTMEM_MAGIC;
	req_send();
	tap_check(req.status == HOSTMEM_NO_ANSWER,
		  "hostmem ignores a block with a bad magic (status 0x%x)", (uint32_t)req.status);
}

void hostmem_range(uint32_t op, uint64_t base, uint64_t len)
{
	req_init(op, 0, 0, base, len);
	req_check(MV_HOSTMEM_OK, len / PAGE_SIZE, "%s range 0x%lx-0x%lx",
		  op == MV_HOSTMEM_OP_PAGE_IN ? "page-in" : "page-out", base, base + len - 1);
}

void hostmem_node(unsigned node, uint64_t node_pages)
{
	req_init(MV_HOSTMEM_OP_PAGE_OUT, MV_HOSTMEM_F_NODE, node, 0, 0);
	req_check(MV_HOSTMEM_OK, node_pages, "page-out node %u", node);
}
