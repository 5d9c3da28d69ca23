/*
 * test_testdev.c — QEMU's test devices (vmm/testdev.c) driven the way a test kernel drives them:
 * port accesses of 1, 2 and 4 bytes and iomem accesses of 1..8, with the callbacks recorded.
 * Error cases first: foreign ports, bad sizes, unknown fw_cfg keys, reads past an item's end,
 * wrong shutdown sequences, refused flushes and iomem accesses running past the window, ACPI
 * sleep-control writes that are not S5 with SLP_EN or are wider than a byte.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "error.h"
#include "machine.h"
#include "mvtest.h"
#include "testdev.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)

struct fixture {
	struct machine_config m;
	struct testdev t;          /* 64 KiB of iomem: static storage, not the test's stack */
	int shutdowns;
	int flush_calls;
	gpa_t flushed[8];
};

static struct fixture fx;

static void on_shutdown(void *arg)
{
	struct fixture *f = arg;

	f->shutdowns++;
}

/* Only the default machine's RAM (below 128 MiB) is flushable, as run.c's callback would say. */
static int on_flush(void *arg, gpa_t gpa)
{
	struct fixture *f = arg;

	if (f->flush_calls < 8)
		f->flushed[f->flush_calls] = gpa;
	f->flush_calls++;
	if (gpa >= f->m.ram_end)
		return mv_fail(EFAULT, "flush: %#llx is not RAM", (unsigned long long)gpa);
	return 0;
}

/* A machine of cpus vCPUs and the given --numa specs (none: 2 × 64 MiB), and its testdev. */
static struct testdev *setup_specs(unsigned cpus, const char *const *specs)
{
	const struct testdev_ops ops = { .shutdown = on_shutdown, .flush_page = on_flush,
					 .arg = &fx };

	memset(&fx, 0, sizeof(fx));
	machine_init(&fx.m);
	fx.m.nr_cpus = cpus;
	for (; *specs; specs++)
		CHECK_EQ(machine_parse_numa(&fx.m, *specs), 0);
	CHECK_EQ(machine_finish(&fx.m), 0);
	testdev_init(&fx.t, &fx.m, &ops);
	return &fx.t;
}

#define SETUP(cpus, ...) setup_specs(cpus, (const char *const[]){ __VA_ARGS__ NULL })

static void out8(struct testdev *t, uint16_t port, uint8_t v)
{
	CHECK(testdev_pio(t, port, true, 1, &v));
}

static void out16(struct testdev *t, uint16_t port, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	CHECK(testdev_pio(t, port, true, 2, d));
}

static void out32(struct testdev *t, uint16_t port, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	CHECK(testdev_pio(t, port, true, 4, d));
}

/* A read of size bytes, little-endian; the buffer starts as 0xa5 so untouched bytes show. */
static uint32_t in(struct testdev *t, uint16_t port, unsigned size)
{
	uint8_t d[4];
	uint32_t v = 0;

	memset(d, 0xa5, sizeof(d));
	CHECK(testdev_pio(t, port, false, size, d));
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

/* The item of key as a little-endian number of len bytes, read a byte at a time. */
static uint64_t fw_cfg_read(struct testdev *t, uint16_t key, unsigned len)
{
	uint64_t v = 0;

	out16(t, MV_PORT_FW_CFG_SEL, key);
	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)in(t, MV_PORT_FW_CFG_DATA, 1) << (8 * i);
	return v;
}

static void write_string(struct testdev *t, const char *s)
{
	for (; *s; s++)
		out8(t, MV_PORT_BOCHS_SHUTDOWN, (uint8_t)*s);
}

static struct testdev_stats stats(struct testdev *t)
{
	struct testdev_stats s;

	testdev_get_stats(t, &s);
	return s;
}

/* ---- error cases ---- */

TEST(pio_leaves_foreign_ports_alone)
{
	static const uint16_t ports[] = { 0x50f, 0x512, 0x514, 0x88ff, 0x8901, 0xdf, 0xe8, 0xf4,
					  0x3f8, 0x5ff, 0x601 };
	struct testdev *t = SETUP(2);
	uint8_t d[4] = { 1, 2, 3, 4 };

	for (unsigned i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		CHECK(!testdev_pio(t, ports[i], false, 4, d));
		CHECK(!testdev_pio(t, ports[i], true, 4, d));
	}
	CHECK_EQ(d[0], 1);
	CHECK_EQ(d[3], 4);
	testdev_destroy(t);
}

TEST(pio_bad_size_is_claimed_but_touches_nothing)
{
	struct testdev *t = SETUP(2);
	uint8_t d[8];

	memset(d, 0x5a, sizeof(d));
	out16(t, MV_PORT_FW_CFG_SEL, 0x00);
	CHECK(testdev_pio(t, MV_PORT_FW_CFG_DATA, false, 3, d));
	CHECK(testdev_pio(t, MV_PORT_FW_CFG_DATA, false, 8, d));
	CHECK(testdev_pio(t, MV_PORT_TESTDEV_LATCH, true, 3, d));
	CHECK(testdev_pio(t, MV_PORT_TESTDEV_FLUSH, true, 8, d));
	CHECK_EQ(d[0], 0x5a);
	CHECK_EQ(d[7], 0x5a);
	CHECK_EQ(stats(t).fw_cfg_reads, 0);
	CHECK_EQ(stats(t).latch_writes, 0);
	CHECK_EQ(fx.flush_calls, 0);
	CHECK_EQ(in(t, MV_PORT_FW_CFG_DATA, 1), 'Q');   /* the offset did not move */
	testdev_destroy(t);
}

TEST(fw_cfg_selects_only_with_a_16bit_write)
{
	struct testdev *t = SETUP(2);

	out16(t, MV_PORT_FW_CFG_SEL, 0x05);
	out8(t, MV_PORT_FW_CFG_SEL, 0x00);           /* QEMU: a byte there is a data write */
	out32(t, MV_PORT_FW_CFG_SEL, 0x00);
	CHECK_EQ(in(t, MV_PORT_FW_CFG_DATA, 2), 2);   /* still key 0x05 */
	out16(t, MV_PORT_FW_CFG_DATA, 0x00);          /* a 16-bit write to the data port */
	CHECK_EQ(in(t, MV_PORT_FW_CFG_DATA, 1), 0);   /* past the u16: nothing selected anew */
	CHECK_EQ(in(t, MV_PORT_FW_CFG_SEL, 2), 0);    /* the selector reads as zeros */
	testdev_destroy(t);
}

TEST(fw_cfg_unknown_keys_read_zero)
{
	static const uint16_t keys[] = { 0x02, 0x04, 0x0e, 0x10, 0x19, 0x20, 0x4000, 0x8003,
					 0xffff };
	struct testdev *t = SETUP(2);

	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		out16(t, MV_PORT_FW_CFG_SEL, keys[i]);
		for (int j = 0; j < 3; j++)
			CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 4), 0);
	}
	CHECK_EQ(stats(t).fw_cfg_reads, 3 * 4 * (sizeof(keys) / sizeof(keys[0])));
	testdev_destroy(t);
}

TEST(fw_cfg_reads_past_the_end_return_zero)
{
	struct testdev *t = SETUP(3);

	out16(t, MV_PORT_FW_CFG_SEL, 0x05);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 4), 3);   /* the u16, then 2 bytes of padding */
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 4), 0);
	out16(t, MV_PORT_FW_CFG_SEL, 0x00);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 2), 'Q' | 'E' << 8);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 4), 'M' | 'U' << 8);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 1), 0);
	testdev_destroy(t);
}

TEST(shutdown_wrong_byte_restarts_matching)
{
	struct testdev *t = SETUP(2);
	uint8_t two[2] = { 'h', 'u' };

	write_string(t, "Shutdow");
	write_string(t, "x");
	write_string(t, "n");
	CHECK_EQ(fx.shutdowns, 0);
	write_string(t, "shutdown");                 /* case matters */
	write_string(t, "Shut down");
	CHECK_EQ(fx.shutdowns, 0);
	write_string(t, "S");                        /* a 2-byte write is a wrong byte */
	CHECK(testdev_pio(t, MV_PORT_BOCHS_SHUTDOWN, true, 2, two));
	write_string(t, "tdown");
	CHECK_EQ(fx.shutdowns, 0);
	CHECK_EQ(in(t, MV_PORT_BOCHS_SHUTDOWN, 1), 0);
	testdev_destroy(t);
}

TEST(shutdown_restart_counts_a_fresh_S)
{
	struct testdev *t = SETUP(2);

	write_string(t, "ShutSShutdown");           /* the second S starts a new match */
	CHECK_EQ(fx.shutdowns, 1);
	write_string(t, "SShutdown");
	CHECK_EQ(fx.shutdowns, 2);
	testdev_destroy(t);
}

TEST(latch_access_crossing_its_end_is_ignored)
{
	struct testdev *t = SETUP(2);

	out32(t, MV_PORT_TESTDEV_LATCH, 0x11223344);
	out32(t, MV_PORT_TESTDEV_LATCH + 2, 0xdeadbeef);   /* would cover 0xe2..0xe5 */
	out16(t, MV_PORT_TESTDEV_LATCH + 3, 0xbeef);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0x11223344);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH + 1, 4), 0);
	CHECK_EQ(stats(t).latch_writes, 1);
	testdev_destroy(t);
}

TEST(flush_of_a_non_ram_gpa_is_refused)
{
	struct testdev *t = SETUP(2);

	out32(t, MV_PORT_TESTDEV_FLUSH, 0xfee00000);        /* the LAPIC */
	out32(t, MV_PORT_TESTDEV_FLUSH, (uint32_t)(128 * MiB));   /* one past RAM */
	CHECK_EQ(fx.flush_calls, 2);
	CHECK_EQ_U(fx.flushed[0], 0xfee00000);
	CHECK_EQ_U(fx.flushed[1], 128 * MiB);
	CHECK_EQ(stats(t).flushes, 0);
	CHECK_EQ(stats(t).flush_refused, 2);
	CHECK_CONTAINS(mv_error(), "is not RAM");
	testdev_destroy(t);
}

TEST(flush_needs_a_4byte_write_at_its_port)
{
	struct testdev *t = SETUP(2);

	out16(t, MV_PORT_TESTDEV_FLUSH, 0x1000);
	out8(t, MV_PORT_TESTDEV_FLUSH, 0x10);
	out32(t, MV_PORT_TESTDEV_FLUSH + 1, 0x1000);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_FLUSH, 4), 0);
	CHECK_EQ(fx.flush_calls, 0);
	CHECK_EQ(stats(t).flushes + stats(t).flush_refused, 0);
	testdev_destroy(t);
}

TEST(flush_without_a_callback_is_refused)
{
	struct testdev *t = SETUP(2);

	t->ops.flush_page = NULL;
	out32(t, MV_PORT_TESTDEV_FLUSH, 0x200000);
	CHECK_EQ(stats(t).flush_refused, 1);
	testdev_destroy(t);
}

/*
 * The window's last bytes: an access must end at or before 0x10000.
 *
 *   0xfff8            0x10000
 *   |  8 bytes: ok    |
 *        0xfffc |  8 bytes: past the end, ignored
 */
TEST(iomem_access_past_the_window_is_ignored)
{
	struct testdev *t = SETUP(2);
	uint8_t d[8], ones[8];

	memset(ones, 0xff, sizeof(ones));
	testdev_iomem_access(t, 0xfffc, ones, 8, true);
	testdev_iomem_access(t, MV_TESTDEV_IOMEM_SIZE, ones, 1, true);
	testdev_iomem_access(t, UINT64_MAX, ones, 1, true);
	testdev_iomem_access(t, 0, ones, 0, true);
	testdev_iomem_access(t, 0, ones, 9, true);
	memset(d, 0xa5, sizeof(d));
	testdev_iomem_access(t, 0xfff8, d, 8, false);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(d[i], 0);
	memset(d, 0xa5, sizeof(d));
	testdev_iomem_access(t, 0xfffc, d, 8, false);
	CHECK_EQ(d[0], 0);
	CHECK_EQ(d[7], 0);
	testdev_iomem_access(t, 0, d, 8, false);
	CHECK_EQ(d[0], 0);
	CHECK_EQ(stats(t).iomem_accesses, 2);         /* only the two reads that fit */
	testdev_destroy(t);
}

/*
 * The sleep control register (ACPI 6.3, 4.8.3.7):
 *
 *    7        6      5        4   3   2      1   0
 *   WAK_STS  rsvd  SLP_EN  [ SLP_TYP  ]    rsvd
 *
 * Every byte value is written once; only SLP_EN with SLP_TYP 5 (0x34, whatever the reserved
 * and WAK_STS bits say) powers off: SLP_EN clear (0x14: S5 not enabled; 0x80: Linux clearing
 * WAK_STS before it sleeps) and SLP_TYP 0-4, 6, 7 are ignored.
 */
TEST(acpi_sleep_ignores_all_but_slp_en_with_s5)
{
	struct testdev *t = SETUP(2);
	int expected = 0;

	for (unsigned v = 0; v <= 0xff; v++) {
		bool s5 = (v & 0x3c) == 0x34;

		out8(t, MV_PORT_ACPI_SLEEP, (uint8_t)v);
		expected += s5;
		if (fx.shutdowns != expected)
			mvt_fail(__FILE__, __LINE__, "write %#x: %d shutdowns, expected %d", v,
				 fx.shutdowns, expected);
	}
	CHECK_EQ(expected, 16);                      /* 2 reserved bits + WAK_STS + bit 6 free */
	testdev_destroy(t);
}

TEST(acpi_sleep_wide_writes_are_ignored)
{
	struct testdev *t = SETUP(2);

	out16(t, MV_PORT_ACPI_SLEEP, 0x0034);
	out16(t, MV_PORT_ACPI_SLEEP, 0x3434);
	out32(t, MV_PORT_ACPI_SLEEP, 0x34);
	out32(t, MV_PORT_ACPI_SLEEP, 0x34343434);
	CHECK_EQ(fx.shutdowns, 0);
	testdev_destroy(t);
}

TEST(acpi_sleep_reads_are_zero_and_never_power_off)
{
	struct testdev *t = SETUP(2);

	out8(t, MV_PORT_ACPI_SLEEP, 0x14);           /* S5 without SLP_EN: nothing latched */
	CHECK_EQ_U(in(t, MV_PORT_ACPI_SLEEP, 1), 0);
	CHECK_EQ_U(in(t, MV_PORT_ACPI_SLEEP, 2), 0);
	CHECK_EQ_U(in(t, MV_PORT_ACPI_SLEEP, 4), 0);
	CHECK_EQ(fx.shutdowns, 0);
	testdev_destroy(t);
}

TEST(acpi_s5_without_a_callback_does_nothing)
{
	struct testdev *t = SETUP(2);

	t->ops.shutdown = NULL;
	out8(t, MV_PORT_ACPI_SLEEP, 0x34);
	CHECK_EQ(fx.shutdowns, 0);
	testdev_destroy(t);
}

/* ---- what a test kernel sees ---- */

TEST(fw_cfg_items_describe_the_machine)
{
	struct testdev *t = SETUP(3);

	CHECK_EQ_U(fw_cfg_read(t, 0x00, 4), 'Q' | 'E' << 8 | 'M' << 16 | (uint32_t)'U' << 24);
	CHECK_EQ_U(fw_cfg_read(t, 0x01, 4), 1);
	CHECK_EQ_U(fw_cfg_read(t, 0x03, 8), 128 * MiB);
	CHECK_EQ_U(fw_cfg_read(t, 0x05, 2), 3);
	CHECK_EQ_U(fw_cfg_read(t, 0x0f, 2), 3);
	CHECK_EQ_U(fw_cfg_read(t, 0x11, 8), 128 * MiB);
	testdev_destroy(t);
}

/*
 * RAM split around the MMIO hole: RAM size counts bytes, max RAM is where the last range ends.
 *
 *   0 ── node 0 ── 2G ── node 1 ── 3G   hole   4G ── node 1 ── 5G
 */
TEST(fw_cfg_ram_size_and_max_ram_around_the_hole)
{
	struct testdev *t = SETUP(1, "size=2G", "size=2G", );

	CHECK_EQ_U(fw_cfg_read(t, 0x03, 8), 4 * GiB);
	CHECK_EQ_U(fw_cfg_read(t, 0x11, 8), 5 * GiB);
	CHECK_EQ_U(fw_cfg_read(t, 0x05, 2), 1);
	testdev_destroy(t);
}

TEST(fw_cfg_wide_reads_return_successive_bytes)
{
	struct testdev *t = SETUP(2);

	out16(t, MV_PORT_FW_CFG_SEL, 0x00);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 4), 'Q' | 'E' << 8 | 'M' << 16 | (uint32_t)'U' << 24);
	out16(t, MV_PORT_FW_CFG_SEL, 0x03);            /* 128 MiB = 0x08000000 */
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 2), 0x0000);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 1), 0x00);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 1), 0x08);
	CHECK_EQ_U(in(t, MV_PORT_FW_CFG_DATA, 4), 0);
	CHECK_EQ(stats(t).fw_cfg_reads, 4 + 2 + 1 + 1 + 4);
	testdev_destroy(t);
}

TEST(fw_cfg_select_resets_the_offset)
{
	struct testdev *t = SETUP(2);

	out16(t, MV_PORT_FW_CFG_SEL, 0x00);
	CHECK_EQ(in(t, MV_PORT_FW_CFG_DATA, 1), 'Q');
	CHECK_EQ(in(t, MV_PORT_FW_CFG_DATA, 1), 'E');
	out16(t, MV_PORT_FW_CFG_SEL, 0x00);
	CHECK_EQ(in(t, MV_PORT_FW_CFG_DATA, 1), 'Q');
	testdev_destroy(t);
}

TEST(shutdown_sequence_calls_back_once)
{
	struct testdev *t = SETUP(2);

	write_string(t, "Shutdown");
	CHECK_EQ(fx.shutdowns, 1);
	write_string(t, "hutdown");                  /* matching starts over after a shutdown */
	CHECK_EQ(fx.shutdowns, 1);
	t->ops.shutdown = NULL;                      /* no callback: nothing happens */
	write_string(t, "Shutdown");
	CHECK_EQ(fx.shutdowns, 1);
	testdev_destroy(t);
}

/* Linux's acpi_hw_extended_sleep(ACPI_STATE_S5): clear WAK_STS, write SLP_TYP 5 | SLP_EN. */
TEST(acpi_s5_as_linux_writes_it_calls_back_each_time)
{
	struct testdev *t = SETUP(2);

	out8(t, MV_PORT_ACPI_SLEEP, 0x80);
	CHECK_EQ(fx.shutdowns, 0);
	out8(t, MV_PORT_ACPI_SLEEP, (5 << 2) | 0x20);
	CHECK_EQ(fx.shutdowns, 1);
	CHECK_EQ_U(in(t, MV_PORT_ACPI_SLEEP, 1), 0);  /* the status poll: WAK_STS stays clear */
	out8(t, MV_PORT_ACPI_SLEEP, 0x34);            /* no state: a second request is honoured */
	CHECK_EQ(fx.shutdowns, 2);
	testdev_destroy(t);
}

TEST(latch_reads_back_1_2_and_4_byte_writes)
{
	struct testdev *t = SETUP(2);

	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0);
	out32(t, MV_PORT_TESTDEV_LATCH, 0x11223344);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0x11223344);
	out8(t, MV_PORT_TESTDEV_LATCH + 1, 0xaa);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0x1122aa44);
	out16(t, MV_PORT_TESTDEV_LATCH + 2, 0xbbcc);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0xbbccaa44);
	out16(t, MV_PORT_TESTDEV_LATCH, 0x1234);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0xbbcc1234);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 2), 0x1234);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH + 2, 2), 0xbbcc);
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH + 3, 1), 0xbb);
	CHECK_EQ(stats(t).latch_writes, 4);
	testdev_destroy(t);
}

TEST(flush_passes_the_page_of_the_written_gpa)
{
	struct testdev *t = SETUP(2);

	out32(t, MV_PORT_TESTDEV_FLUSH, 0x123456);
	out32(t, MV_PORT_TESTDEV_FLUSH, 0x7fff000);
	CHECK_EQ(fx.flush_calls, 2);
	CHECK_EQ_U(fx.flushed[0], 0x123000);
	CHECK_EQ_U(fx.flushed[1], 0x7fff000);
	CHECK_EQ(stats(t).flushes, 2);
	CHECK_EQ(stats(t).flush_refused, 0);
	testdev_destroy(t);
}

TEST(iomem_is_ram_like_and_little_endian)
{
	struct testdev *t = SETUP(2);
	uint8_t w[8] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	uint8_t r[8];

	testdev_iomem_access(t, 0x10, w, 8, true);
	memset(r, 0, sizeof(r));
	testdev_iomem_access(t, 0x12, r, 2, false);
	CHECK_EQ(r[0], 0x03);
	CHECK_EQ(r[1], 0x04);
	testdev_iomem_access(t, 0x13, (uint8_t[]){ 0xee }, 1, true);
	testdev_iomem_access(t, 0x10, r, 4, false);
	CHECK_EQ_U(r[0] | r[1] << 8 | r[2] << 16 | (uint32_t)r[3] << 24, 0xee030201);
	for (unsigned len = 1; len <= 8; len++) {       /* the last bytes, every size */
		uint64_t off = MV_TESTDEV_IOMEM_SIZE - len;

		testdev_iomem_access(t, off, w, len, true);
		memset(r, 0, sizeof(r));
		testdev_iomem_access(t, off, r, len, false);
		CHECK_EQ(memcmp(r, w, len), 0);
	}
	CHECK_EQ(stats(t).iomem_accesses, 4 + 16);
	testdev_destroy(t);
}

/* Every vCPU thread calls in: counts are exact and no thread's iomem bytes are lost. */
#define RACE_THREADS 4
#define RACE_ROUNDS  5000

static void *race_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < RACE_ROUNDS; i++) {
		uint8_t w[8], r[8], l = (uint8_t)i;

		memset(w, (int)(id * 16 + (i & 15)), sizeof(w));
		testdev_iomem_access(&fx.t, 8 * id, w, 8, true);
		testdev_iomem_access(&fx.t, 8 * id, r, 8, false);
		if (memcmp(w, r, sizeof(w)) != 0)
			return (void *)1;
		testdev_pio(&fx.t, MV_PORT_TESTDEV_LATCH + id, true, 1, &l);
	}
	return NULL;
}

TEST(concurrent_callers_keep_counts_and_bytes)
{
	struct testdev *t = SETUP(RACE_THREADS);
	pthread_t th[RACE_THREADS];

	for (unsigned i = 0; i < RACE_THREADS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, race_worker, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < RACE_THREADS; i++) {
		void *ret;

		CHECK_EQ(pthread_join(th[i], &ret), 0);
		CHECK_NULL(ret);
	}
	CHECK_EQ(stats(t).iomem_accesses, 2 * RACE_THREADS * RACE_ROUNDS);
	CHECK_EQ(stats(t).latch_writes, RACE_THREADS * RACE_ROUNDS);
	/* Each thread's last latch byte was (uint8_t)(RACE_ROUNDS - 1), in its own byte lane. */
	CHECK_EQ_U(in(t, MV_PORT_TESTDEV_LATCH, 4), 0x01010101u * (uint8_t)(RACE_ROUNDS - 1));
	testdev_destroy(t);
}
