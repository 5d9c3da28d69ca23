/*
 * fuzz_cli — memvisor run's option values into their parsers, as main.c feeds them, then the
 * machine's final check; whatever is accepted must describe a machine that makes sense.
 *
 * Input: lines; a line's first byte picks the option (modulo the table below), the rest is its
 * value. One machine, one request list and one fault-injection registry take every line in
 * order, like a command line of repeated options; then machine_finish and memreq_check run.
 * A parser may refuse a value (it must then have said why: mv_error() is not empty; and, as
 * main does, that ends the command line: a refused option may leave its target half-set), never
 * crash, leak or read past the string. When machine_finish accepts, the invariants checked at
 * the end (check_machine) must hold: they are what ACPI (SRAT/SLIT), the memory map and gmem
 * rely on.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>

#include "error.h"
#include "faultinj.h"
#include "machine.h"
#include "memreq.h"
#include "qmp.h"
#include "seccomp_filter.h"
#include "swap.h"
#include "trace.h"
#include "virtio_balloon.h"

#define MAX_VALUE 512

/* True when err is a refusal (which must name its reason). */
static bool refused(int err)
{
	if (err && !mv_error()[0]) {
		fprintf(stderr, "a parser refused without saying why (%d)\n", err);
		abort();
	}
	return err != 0;
}

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "fuzz_cli: %s\n", #c); abort(); } } while (0)

/* What machine_finish promised (machine.h). */
static void check_machine(const struct machine_config *m)
{
	uint64_t cpus = 0;

	ASSERT(m->nr_nodes >= 1 && m->nr_nodes <= MACHINE_MAX_NODES);
	ASSERT(m->nr_cpus >= 1 && m->nr_cpus <= MACHINE_MAX_VCPUS);
	for (unsigned i = 0; i < m->nr_nodes; i++) {
		const struct machine_node *n = &m->nodes[i];
		uint64_t covered = 0;

		ASSERT(n->size > 0 && n->size % 4096 == 0);
		ASSERT(n->budget > 0 && n->budget <= n->size && n->budget % 4096 == 0);
		ASSERT((cpus & n->cpus) == 0);          /* a vCPU on one node only */
		cpus |= n->cpus;
		ASSERT(n->distance[i] == 10);
		for (unsigned j = 0; j < m->nr_nodes; j++) {
			ASSERT(n->distance[j] == m->nodes[j].distance[i]);
			ASSERT(j == i || (n->distance[j] > 10 && n->distance[j] != 255));
		}
		ASSERT(n->nr_ranges == 1 || n->nr_ranges == 2);
		for (unsigned r = 0; r < n->nr_ranges; r++) {
			const struct machine_range *a = &n->ranges[r];

			ASSERT(a->size > 0 && a->gpa % 4096 == 0 && a->size % 4096 == 0);
			ASSERT(a->gpa + a->size > a->gpa && a->gpa + a->size <= m->ram_end);
			covered += a->size;
			/* no range of any node overlaps this one */
			for (unsigned k = 0; k < m->nr_nodes; k++)
				for (unsigned s = 0; s < m->nodes[k].nr_ranges; s++) {
					const struct machine_range *b = &m->nodes[k].ranges[s];

					if (k == i && s == r)
						continue;
					ASSERT(a->gpa + a->size <= b->gpa || b->gpa + b->size <= a->gpa);
				}
		}
		ASSERT(covered == n->size);
	}
	ASSERT(cpus == (m->nr_cpus == 64 ? ~UINT64_C(0) : (UINT64_C(1) << m->nr_cpus) - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memreq_list reqs;         /* large: not on the fuzzer's stack */
	struct machine_config m;
	struct faultinj fi;
	char value[MAX_VALUE + 1];
	size_t pos = 0;

	machine_init(&m);
	memset(&reqs, 0, sizeof(reqs));
	faultinj_init(&fi, 1);
	while (pos < size) {
		size_t end = pos;
		unsigned opt = data[pos];
		size_t len;
		int err = 0;

		while (end < size && data[end] != '\n')
			end++;
		len = end - pos - 1 < MAX_VALUE ? end - pos - 1 : MAX_VALUE;
		if (end > pos) {
			memcpy(value, data + pos + 1, len);
			value[len] = '\0';
			mv_error_clear();
			switch (opt % 10) {
			case 0: err = machine_parse_numa(&m, value); break;
			case 1: {
				struct swap_spec s;

				err = swap_parse_spec(value, &s);
				break;
			}
			case 2: err = memreq_parse(&reqs, value); break;
			case 3: {
				struct virtio_balloon_opts o;

				err = virtio_balloon_parse(&o, value);
				break;
			}
			case 4: {
				struct qmp_spec q;

				err = qmp_parse_spec(value, &q);
				break;
			}
			case 5: {
				struct trace_spec t;

				err = trace_parse_spec(value, &t);
				break;
			}
			case 6: {
				struct faultinj_spec f;

				err = faultinj_parse(value, &f);
				if (!err)
					err = faultinj_apply(&fi, &f);
				break;
			}
			case 7: {
				enum seccomp_mode s;

				err = seccomp_parse(value, &s);
				break;
			}
			case 8: {
				uint64_t bytes;

				/* refuses without a message: its callers name the key */
				(void)machine_parse_size(value, &bytes);
				break;
			}
			default:
				m.nr_cpus = 1 + (unsigned)(len ? (uint8_t)value[0] : 0) % MACHINE_MAX_VCPUS;
				break;
			}
			if (refused(err))
				goto out;       /* main: die_usage */
		}
		pos = end + 1;
	}
	mv_error_clear();
	if (!refused(machine_finish(&m))) {
		check_machine(&m);
		refused(memreq_check(&reqs, &m));
	}
out:
	faultinj_destroy(&fi);
	return 0;
}
