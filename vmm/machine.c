/*
 * machine.c — building the machine description (machine.h) from --cpus/--numa options and laying
 * the NUMA nodes out in guest-physical space (include/memvisor/layout.h).
 *
 * --numa syntax (one option per node; keys in any order, comma-separated):
 *     node=ID          node id, 0..15 (default: one past the highest id given so far)
 *     size=SIZE        RAM of the node: bytes or with K/M/G/T suffix, page-aligned, > 0 (required)
 *     cpus=LIST        vCPU ids on the node: "0-3:6" (':' separates items, '-' makes a range)
 *     host-node=N      bind the node's RAM to host NUMA node N
 *     budget=SIZE      host memory for the node's frame pool (default: size); smaller than
 *                      size overcommits the node: the rest lives in host swap (--swap)
 *     policy=P         strict (default): frames only from the node's own pool;
 *                      preferred: other pools by distance before evicting
 *     distances=LIST   SLIT distances to other nodes: "1@20:2@30" (DST@VALUE, VALUE 11..254);
 *                      a distance given on one side only is mirrored; both sides must agree
 * No lock: runs on the main thread before the machine exists.
 */
#include "machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memvisor/layout.h>

#include "error.h"

#define MACHINE_MAX_RAM     (UINT64_C(1) << 40)  /* 1 TiB of guest RAM: well past any host here */
#define MACHINE_SPEC_MAX    1024                 /* longest --numa value accepted */

void machine_init(struct machine_config *m)
{
	memset(m, 0, sizeof(*m));
	m->nr_cpus = MACHINE_DEFAULT_CPUS;
	m->cmdline = "";
	for (unsigned n = 0; n < MACHINE_MAX_NODES; n++)
		m->nodes[n].host_node = -1;
}

/* Parse a whole decimal number in [lo, hi]; 0 or -EINVAL (no message: callers name the key). */
static int parse_num(const char *s, unsigned long long lo, unsigned long long hi,
		     unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int machine_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return mv_fail(EINVAL, "size '%s' is not a number", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return mv_fail(EINVAL, "size '%s' is too large", s);
	switch (*end) {
	case '\0':                 break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default:
		return mv_fail(EINVAL, "size '%s' has an unknown suffix (use K, M, G or T)", s);
	}
	if (*end)
		return mv_fail(EINVAL, "size '%s' has trailing characters after the suffix", s);
	if (v > (UINT64_MAX >> shift))
		return mv_fail(EINVAL, "size '%s' is too large", s);
	*out = (uint64_t)v << shift;
	return 0;
}

/* cpus=0-3:6 → bits in *mask. */
static int parse_cpus(unsigned id, const char *s, uint64_t *mask)
{
	char buf[MACHINE_SPEC_MAX];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	*mask = 0;
	if (!*buf)
		return mv_fail(EINVAL, "--numa node=%u: cpus= is empty", id);
	for (char *item = strtok_r(buf, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
		unsigned long long lo, hi;
		char *dash = strchr(item, '-');

		if (dash)
			*dash = '\0';
		if (parse_num(item, 0, MACHINE_MAX_VCPUS - 1, &lo) ||
		    parse_num(dash ? dash + 1 : item, 0, MACHINE_MAX_VCPUS - 1, &hi) || hi < lo)
			return mv_fail(EINVAL, "--numa node=%u: cpus=%s: '%s%s%s' is not a vCPU id or "
				       "range within 0..%d", id, s, item, dash ? "-" : "",
				       dash ? dash + 1 : "", MACHINE_MAX_VCPUS - 1);
		for (unsigned long long c = lo; c <= hi; c++) {
			if (*mask & (UINT64_C(1) << c))
				return mv_fail(EINVAL, "--numa node=%u: cpus=%s names vCPU %llu twice",
					       id, s, c);
			*mask |= UINT64_C(1) << c;
		}
	}
	return 0;
}

/* distances=1@20:2@30 → node->distance[dst], dist_given bits. */
static int parse_distances(unsigned id, const char *s, struct machine_node *node)
{
	char buf[MACHINE_SPEC_MAX];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	if (!*buf)
		return mv_fail(EINVAL, "--numa node=%u: distances= is empty", id);
	for (char *item = strtok_r(buf, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
		unsigned long long dst, val;
		char *at = strchr(item, '@');

		if (!at)
			return mv_fail(EINVAL, "--numa node=%u: distances: '%s' is not NODE@DISTANCE",
				       id, item);
		*at = '\0';
		if (parse_num(item, 0, MACHINE_MAX_NODES - 1, &dst))
			return mv_fail(EINVAL, "--numa node=%u: distances: '%s' is not a node id "
				       "0..%d", id, item, MACHINE_MAX_NODES - 1);
		if (dst == id)
			return mv_fail(EINVAL, "--numa node=%u: distances: a node's distance to "
				       "itself is always %d; give only other nodes", id,
				       MACHINE_LOCAL_DISTANCE);
		if (parse_num(at + 1, MACHINE_LOCAL_DISTANCE + 1, 254, &val))
			return mv_fail(EINVAL, "--numa node=%u: distances: %llu@%s: a distance "
				       "between different nodes must be 11..254 (10 is a node to "
				       "itself, 255 unreachable)", id, dst, at + 1);
		if (node->dist_given & (UINT32_C(1) << dst))
			return mv_fail(EINVAL, "--numa node=%u: distances: node %llu given twice",
				       id, dst);
		node->distance[dst] = (uint8_t)val;
		node->dist_given |= UINT32_C(1) << dst;
	}
	return 0;
}

/* The node id a spec names ("node=N"), or the default: one past the highest given. */
static int spec_node_id(const struct machine_config *m, const char *spec, unsigned *id)
{
	const char *p = spec;
	unsigned next = 0;

	for (unsigned n = 0; n < MACHINE_MAX_NODES; n++)
		if (m->nodes[n].given)
			next = n + 1;
	while (p && *p) {
		if (strncmp(p, "node=", 5) == 0) {
			unsigned long long v;
			char buf[32];
			size_t len = strcspn(p + 5, ",");

			if (len >= sizeof(buf) || (memcpy(buf, p + 5, len), buf[len] = '\0',
			    parse_num(buf, 0, MACHINE_MAX_NODES - 1, &v)))
				return mv_fail(EINVAL, "--numa: node=%.*s is not a node id 0..%d",
					       (int)len, p + 5, MACHINE_MAX_NODES - 1);
			*id = (unsigned)v;
			return 0;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	if (next >= MACHINE_MAX_NODES)
		return mv_fail(EINVAL, "--numa: more than %d nodes", MACHINE_MAX_NODES);
	*id = next;
	return 0;
}

static int parse_key(struct machine_config *m, unsigned id, const char *key, const char *val,
		     bool *size_seen)
{
	struct machine_node *node = &m->nodes[id];
	unsigned long long v;
	int err;

	if (strcmp(key, "node") == 0)
		return 0;                               /* handled by spec_node_id */
	if (strcmp(key, "size") == 0) {
		err = machine_parse_size(val, &node->size);
		if (err) {
			char why[256];

			snprintf(why, sizeof(why), "%s", mv_error());   /* mv_fail rewrites it */
			return mv_fail(EINVAL, "--numa node=%u: %s", id, why);
		}
		if (node->size == 0 || node->size % MM_PAGE_SIZE)
			return mv_fail(EINVAL, "--numa node=%u: size=%s must be a non-zero multiple "
				       "of 4 KiB", id, val);
		*size_seen = true;
		return 0;
	}
	if (strcmp(key, "cpus") == 0) {
		node->cpus_given = true;
		return parse_cpus(id, val, &node->cpus);
	}
	if (strcmp(key, "host-node") == 0) {
		if (parse_num(val, 0, 1023, &v))
			return mv_fail(EINVAL, "--numa node=%u: host-node=%s is not a host node id "
				       "0..1023", id, val);
		node->host_node = (int)v;
		return 0;
	}
	if (strcmp(key, "distances") == 0)
		return parse_distances(id, val, node);
	if (strcmp(key, "budget") == 0) {
		if (machine_parse_size(val, &node->budget) || node->budget == 0 ||
		    node->budget % MM_PAGE_SIZE)
			return mv_fail(EINVAL, "--numa node=%u: budget=%s is not a non-zero "
				       "multiple of 4 KiB", id, val);
		return 0;
	}
	if (strcmp(key, "policy") == 0) {
		if (strcmp(val, "strict") == 0)
			node->policy = MACHINE_POLICY_STRICT;
		else if (strcmp(val, "preferred") == 0)
			node->policy = MACHINE_POLICY_PREFERRED;
		else
			return mv_fail(EINVAL, "--numa node=%u: policy=%s: expected strict or "
				       "preferred", id, val);
		return 0;
	}
	return mv_fail(EINVAL, "--numa node=%u: unknown key '%s' (known: node, size, cpus, "
		       "host-node, distances, budget, policy)", id, key);
}

int machine_parse_numa(struct machine_config *m, const char *spec)
{
	char buf[MACHINE_SPEC_MAX];
	char *save = NULL;
	bool size_seen = false;
	unsigned id = 0;
	int err;

	if (strlen(spec) >= sizeof(buf))
		return mv_fail(EINVAL, "--numa: value longer than %d characters", MACHINE_SPEC_MAX - 1);
	err = spec_node_id(m, spec, &id);
	if (err)
		return err;
	if (m->nodes[id].given)
		return mv_fail(EINVAL, "--numa: node %u is given twice", id);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');

		if (!eq)
			return mv_fail(EINVAL, "--numa node=%u: '%s' is not KEY=VALUE", id, kv);
		*eq = '\0';
		err = parse_key(m, id, kv, eq + 1, &size_seen);
		if (err)
			return err;
	}
	if (!size_seen)
		return mv_fail(EINVAL, "--numa node=%u: size= is required", id);
	m->nodes[id].given = true;
	return 0;
}

/* Every vCPU on exactly one node; vCPUs spread in blocks when no node names any. */
static int finish_cpus(struct machine_config *m)
{
	bool any = false;

	for (unsigned n = 0; n < m->nr_nodes; n++)
		any |= m->nodes[n].cpus_given;
	if (!any) {
		for (unsigned c = 0; c < m->nr_cpus; c++)
			m->nodes[c * m->nr_nodes / m->nr_cpus].cpus |= UINT64_C(1) << c;
		return 0;
	}
	for (unsigned c = 0; c < MACHINE_MAX_VCPUS; c++) {
		int owner = -1;

		for (unsigned n = 0; n < m->nr_nodes; n++) {
			if (!(m->nodes[n].cpus & (UINT64_C(1) << c)))
				continue;
			if (c >= m->nr_cpus)
				return mv_fail(EINVAL, "--numa node=%u: cpus names vCPU %u, but there "
					       "are only %u vCPUs (--cpus)", n, c, m->nr_cpus);
			if (owner >= 0)
				return mv_fail(EINVAL, "--numa: vCPU %u is on node %d and node %u", c,
					       owner, n);
			owner = (int)n;
		}
		if (owner < 0 && c < m->nr_cpus)
			return mv_fail(EINVAL, "--numa: vCPU %u is on no node (name it in some "
				       "node's cpus=)", c);
	}
	return 0;
}

/* Diagonal 10, one-sided distances mirrored, unspecified pairs 20, two-sided must agree. */
static int finish_distances(struct machine_config *m)
{
	for (unsigned i = 0; i < m->nr_nodes; i++) {
		struct machine_node *a = &m->nodes[i];

		if (a->dist_given >> m->nr_nodes)
			return mv_fail(EINVAL, "--numa node=%u: distances names a node that does "
				       "not exist (there are %u nodes)", i, m->nr_nodes);
		a->distance[i] = MACHINE_LOCAL_DISTANCE;
		for (unsigned j = i + 1; j < m->nr_nodes; j++) {
			struct machine_node *b = &m->nodes[j];
			bool ab = a->dist_given & (UINT32_C(1) << j);
			bool ba = b->dist_given & (UINT32_C(1) << i);

			if (ab && ba && a->distance[j] != b->distance[i])
				return mv_fail(EINVAL, "--numa: distances are asymmetric: node %u "
					       "says %u@%u, node %u says %u@%u", i, j,
					       a->distance[j], j, i, b->distance[i]);
			if (!ab && !ba)
				a->distance[j] = MACHINE_REMOTE_DISTANCE;
			else if (!ab)
				a->distance[j] = b->distance[i];
			b->distance[i] = a->distance[j];
		}
	}
	return 0;
}

/* Back to back from 0 in id order; RAM that would cross 3 GiB continues at 4 GiB. */
static int finish_layout(struct machine_config *m)
{
	gpa_t cursor = 0;
	uint64_t total = 0;

	for (unsigned n = 0; n < m->nr_nodes; n++) {
		struct machine_node *node = &m->nodes[n];
		uint64_t left = node->size;

		total += node->size;
		if (total > MACHINE_MAX_RAM)
			return mv_fail(EINVAL, "--numa: total RAM exceeds %llu GiB",
				       (unsigned long long)(MACHINE_MAX_RAM >> 30));
		node->nr_ranges = 0;
		while (left) {
			uint64_t chunk = left;

			if (cursor < MV_GPA_LOW_RAM_END && chunk > MV_GPA_LOW_RAM_END - cursor)
				chunk = MV_GPA_LOW_RAM_END - cursor;
			node->ranges[node->nr_ranges++] = (struct machine_range){ cursor, chunk };
			cursor += chunk;
			left -= chunk;
			if (cursor == MV_GPA_LOW_RAM_END)
				cursor = MV_GPA_HIGH_RAM_BASE;
		}
	}
	m->ram_end = cursor;
	return 0;
}

int machine_finish(struct machine_config *m)
{
	unsigned n;
	int err;

	if (m->nr_cpus < 1 || m->nr_cpus > MACHINE_MAX_VCPUS)
		return mv_fail(EINVAL, "--cpus %u is not in 1..%d", m->nr_cpus, MACHINE_MAX_VCPUS);
	for (n = 0; n < MACHINE_MAX_NODES && !m->nodes[n].given; n++)
		;
	if (n == MACHINE_MAX_NODES) {
		for (n = 0; n < MACHINE_DEFAULT_NODES; n++) {
			m->nodes[n].size = MACHINE_DEFAULT_NODE_SIZE;
			m->nodes[n].given = true;
		}
	}
	m->nr_nodes = 0;
	for (n = 0; n < MACHINE_MAX_NODES; n++)
		if (m->nodes[n].given)
			m->nr_nodes = n + 1;
	for (n = 0; n < m->nr_nodes; n++)
		if (!m->nodes[n].given)
			return mv_fail(EINVAL, "--numa: node %u is missing (node ids must be 0..%u "
				       "without gaps)", n, m->nr_nodes - 1);
	if (m->nodes[0].size < MV_NODE0_MIN)
		return mv_fail(EINVAL, "--numa node=0: size must be at least %llu MiB (it holds "
			       "the boot area and the kernel)",
			       (unsigned long long)(MV_NODE0_MIN >> 20));
	for (n = 0; n < m->nr_nodes; n++) {
		struct machine_node *node = &m->nodes[n];

		if (node->budget > node->size)
			return mv_fail(EINVAL, "--numa node=%u: budget (%llu KiB) is larger than the "
				       "node (%llu KiB)", n, (unsigned long long)(node->budget >> 10),
				       (unsigned long long)(node->size >> 10));
		if (!node->budget)
			node->budget = node->size;
	}
	err = finish_cpus(m);
	if (!err)
		err = finish_distances(m);
	if (!err)
		err = finish_layout(m);
	return err;
}

unsigned machine_cpu_node(const struct machine_config *m, unsigned cpu)
{
	for (unsigned n = 0; n < m->nr_nodes; n++)
		if (m->nodes[n].cpus & (UINT64_C(1) << cpu))
			return n;
	return 0;      /* unreachable after machine_finish: every vCPU is on a node */
}
