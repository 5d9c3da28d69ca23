/* Unit tests for mm/list.h: ordering, splicing, deletion poisoning and the checker. */
#include <mm/list.h>
#include <mm/env.h>

#include "mvtest.h"

struct item {
	int v;
	struct list_head node;
};

static int values(struct list_head *h, int *out, int max)
{
	struct list_head *p;
	int n = 0;

	list_for_each(p, h)
		if (n < max)
			out[n++] = list_entry(p, struct item, node)->v;
	return n;
}

TEST(add_and_add_tail_order)
{
	struct list_head h = LIST_HEAD_INIT(h);
	struct item a = { 1, { 0, 0 } }, b = { 2, { 0, 0 } }, c = { 3, { 0, 0 } };
	int v[4];

	CHECK(list_empty(&h));
	list_add_tail(&a.node, &h);
	list_add_tail(&b.node, &h);
	list_add(&c.node, &h);
	CHECK_EQ(values(&h, v, 4), 3);
	CHECK_EQ(v[0], 3);
	CHECK_EQ(v[1], 1);
	CHECK_EQ(v[2], 2);
	CHECK_EQ(list_check(&h, 10), 3);
}

TEST(del_poisons_and_checker_catches_reuse)
{
	struct list_head h = LIST_HEAD_INIT(h);
	struct item a = { 1, { 0, 0 } }, b = { 2, { 0, 0 } };

	list_add_tail(&a.node, &h);
	list_add_tail(&b.node, &h);
	list_del(&a.node);
	CHECK_EQ_PTR(a.node.next, LIST_POISON_NEXT);
	CHECK_EQ(list_check(&h, 10), 1);
	/* Corrupt: relink the poisoned node's neighbour to it. */
	h.next = &a.node;
	CHECK_EQ(list_check(&h, 10), -MM_EUCLEAN);
	CHECK_REPORTED("poisoned");
}

TEST(splice_moves_everything)
{
	struct list_head src = LIST_HEAD_INIT(src), dst = LIST_HEAD_INIT(dst);
	struct item it[4] = { { 0, { 0, 0 } }, { 1, { 0, 0 } }, { 2, { 0, 0 } }, { 3, { 0, 0 } } };
	int v[4];

	list_add_tail(&it[0].node, &src);
	list_add_tail(&it[1].node, &src);
	list_add_tail(&it[2].node, &dst);
	list_add_tail(&it[3].node, &dst);
	list_splice_init(&src, &dst);
	CHECK(list_empty(&src));
	CHECK_EQ(values(&dst, v, 4), 4);
	CHECK_EQ(v[0], 0);
	CHECK_EQ(v[3], 3);
	CHECK_EQ(list_check(&dst, 10), 4);
}

TEST(check_rejects_null_and_broken_back_link)
{
	struct list_head h = LIST_HEAD_INIT(h);
	struct item a = { 1, { 0, 0 } };

	CHECK_EQ(list_check(NULL, 1), -MM_EINVAL);
	CHECK_REPORTED("NULL");
	list_add(&a.node, &h);
	a.node.prev = &a.node;
	CHECK_EQ(list_check(&h, 10), -MM_EUCLEAN);
	CHECK_REPORTED("point back");
}
