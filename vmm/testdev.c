/*
 * testdev.c — QEMU's test devices (testdev.h): fw_cfg's legacy port interface, the Bochs shutdown
 * port, pc-testdev's latch, flush-page port and 64 KiB iomem window; and the ACPI sleep
 * control/status port the FADT names (acpi.c), which ends the machine the same way. Every access
 * comes from a guest, so every size, port and offset is checked; a malformed access is ignored
 * (writes) or reads as zeros, never an error that stops the machine.
 *
 *   port/gpa        size      access
 *   0x510           2         write: select an fw_cfg key, the read offset goes back to 0
 *                   other     ignored (reads return 0)
 *   0x511           1, 2, 4   read: the next `size` bytes of the item, in order (data[0] first,
 *                             as QEMU's data register keeps string order); 0 past its end;
 *                             writes are ignored (the traditional interface is read-only)
 *   0x8900          1         write: one byte of "Shutdown"; the eighth in order calls
 *                             ops.shutdown; a wrong byte (or a wider write) restarts matching
 *   0xe0-0xe3       1, 2, 4   the latch: bytes [port - 0xe0, + size) of a 4-byte register,
 *                             read back as written; an access crossing 0xe4 is ignored
 *   0xe4-0xe7       4 at 0xe4 write: ops.flush_page(value & ~0xfff); anything else ignored
 *   0x600           1         write: SLP_EN with SLP_TYP 5 (S5, the DSDT's \_S5) calls
 *                             ops.shutdown. Any other value — SLP_EN clear (Linux first writes
 *                             WAK_STS there to clear it), another SLP_TYP (S1-S4: no sleep
 *                             state is offered, so an OS has no cause to ask) — is ignored and
 *                             not counted: the guest keeps running, as on hardware without
 *                             that state. Wider writes are ignored; reads of any size give 0
 *                             (sleep status: WAK_STS never set)
 *   0xff000000 +    1..8      iomem: RAM-like, little-endian, reads return what was written;
 *   [0, 0x10000)              an access running past the window is ignored (reads 0)
 *
 * Lock: testdev.lock (a leaf) guards the state and the statistics. The ops callbacks are called
 * with it dropped: they may take the VM's locks (shutdown) or change host mappings (flush_page).
 */
#include "testdev.h"

#include <errno.h>
#include <string.h>

#include "acpi.h"
#include "error.h"

/* fw_cfg keys (QEMU's FW_CFG_*), the items this device provides. */
#define FW_CFG_SIGNATURE     0x00
#define FW_CFG_ID            0x01
#define FW_CFG_RAM_SIZE      0x03
#define FW_CFG_NB_CPUS       0x05
#define FW_CFG_MAX_CPUS      0x0f
#define FW_CFG_MAX_RAM       0x11
#define FW_CFG_ID_TRADITIONAL 1         /* bit 0: the port interface; bit 1 (DMA) clear */
#define FW_CFG_ITEM_MAX      8          /* the largest item: a u64 */

#define TESTDEV_LATCH_SIZE   4
#define TESTDEV_FLUSH_SIZE   4
#define TESTDEV_PAGE_MASK    UINT64_C(0xfff)
#define TESTDEV_IOMEM_MAX_ACCESS 8

static const char testdev_shutdown_str[] = "Shutdown";
#define TESTDEV_SHUTDOWN_LEN (sizeof(testdev_shutdown_str) - 1)

void testdev_init(struct testdev *t, const struct machine_config *m, const struct testdev_ops *ops)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	if (ops)
		t->ops = *ops;
	for (unsigned n = 0; n < m->nr_nodes; n++)
		t->ram_size += m->nodes[n].size;
	t->ram_end = m->ram_end;
	t->nr_cpus = (uint16_t)m->nr_cpus;
}

void testdev_destroy(struct testdev *t)
{
	pthread_mutex_destroy(&t->lock);
}

static void testdev_put_le(uint8_t *buf, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
}

/* The bytes of item `key` into buf[FW_CFG_ITEM_MAX]; returns their count, 0 for an unknown key. */
static unsigned testdev_fw_cfg_item_locked(const struct testdev *t, uint16_t key, uint8_t *buf)
{
	switch (key) {
	case FW_CFG_SIGNATURE:
		memcpy(buf, "QEMU", 4);
		return 4;
	case FW_CFG_ID:
		testdev_put_le(buf, FW_CFG_ID_TRADITIONAL, 4);
		return 4;
	case FW_CFG_RAM_SIZE:
		testdev_put_le(buf, t->ram_size, 8);
		return 8;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		testdev_put_le(buf, t->nr_cpus, 2);
		return 2;
	case FW_CFG_MAX_RAM:
		testdev_put_le(buf, t->ram_end, 8);
		return 8;
	default:
		return 0;
	}
}

static void testdev_fw_cfg_read_locked(struct testdev *t, unsigned size, uint8_t *data)
{
	uint8_t item[FW_CFG_ITEM_MAX];
	unsigned len = testdev_fw_cfg_item_locked(t, t->fw_cfg_key, item);

	for (unsigned i = 0; i < size; i++) {
		data[i] = t->fw_cfg_offset < len ? item[t->fw_cfg_offset] : 0;
		if (t->fw_cfg_offset < len)
			t->fw_cfg_offset++;
		t->stats.fw_cfg_reads++;
	}
}

/* Returns true when the eighth byte of "Shutdown" has just arrived in order. */
static bool testdev_shutdown_byte_locked(struct testdev *t, unsigned size, uint8_t byte)
{
	if (size != 1) {
		t->shutdown_matched = 0;
		return false;
	}
	if (byte == (uint8_t)testdev_shutdown_str[t->shutdown_matched])
		t->shutdown_matched++;
	else                              /* "Shutdown" repeats no prefix but its first letter */
		t->shutdown_matched = byte == (uint8_t)testdev_shutdown_str[0];
	if (t->shutdown_matched < TESTDEV_SHUTDOWN_LEN)
		return false;
	t->shutdown_matched = 0;
	return true;
}

/* QEMU's pc-testdev latch: the bytes [off, off + size) of a little-endian 4-byte register. */
static void testdev_latch_locked(struct testdev *t, unsigned off, bool out, unsigned size,
				 uint8_t *data)
{
	if (!(off <= TESTDEV_LATCH_SIZE && size <= TESTDEV_LATCH_SIZE - off)) {
		if (!out)
			memset(data, 0, size);
		return;
	}
	for (unsigned i = 0; i < size; i++) {
		unsigned shift = 8 * (off + i);

		if (out)
			t->latch = (t->latch & ~(UINT32_C(0xff) << shift)) |
				   ((uint32_t)data[i] << shift);
		else
			data[i] = (uint8_t)(t->latch >> shift);
	}
	if (out)
		t->stats.latch_writes++;
}

static uint32_t testdev_get_le32(const uint8_t *data)
{
	return (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
}

/* A flush-page write: the callback runs unlocked; only the count is taken under the lock. */
static void testdev_flush(struct testdev *t, uint32_t value)
{
	gpa_t gpa = value & ~TESTDEV_PAGE_MASK;
	int err = t->ops.flush_page ? t->ops.flush_page(t->ops.arg, gpa)
				    : mv_fail(ENOSYS, "testdev: no flush_page callback");

	pthread_mutex_lock(&t->lock);
	if (err)
		t->stats.flush_refused++;
	else
		t->stats.flushes++;
	pthread_mutex_unlock(&t->lock);
}

/* A write to the ACPI sleep control register: true if it asks for S5 (power off). */
static bool testdev_acpi_sleep_is_s5(unsigned size, uint8_t value)
{
	unsigned typ = (value & ACPI_SLP_TYP_MASK) >> ACPI_SLP_TYP_SHIFT;

	return size == 1 && (value & ACPI_SLP_EN) && typ == ACPI_SLP_TYP_S5;
}

static bool testdev_owns_port(uint16_t port)
{
	return port == MV_PORT_FW_CFG_SEL || port == MV_PORT_FW_CFG_DATA ||
	       port == MV_PORT_BOCHS_SHUTDOWN || port == MV_PORT_ACPI_SLEEP ||
	       (port >= MV_PORT_TESTDEV_LATCH && port < MV_PORT_TESTDEV_LATCH + TESTDEV_LATCH_SIZE) ||
	       (port >= MV_PORT_TESTDEV_FLUSH && port < MV_PORT_TESTDEV_FLUSH + TESTDEV_FLUSH_SIZE);
}

bool testdev_pio(struct testdev *t, uint16_t port, bool out, unsigned size, uint8_t *data)
{
	bool shutdown = false;

	if (!testdev_owns_port(port))
		return false;
	if (size != 1 && size != 2 && size != 4)
		return true;                      /* no such access on x86: data is left alone */

	if (port == MV_PORT_FW_CFG_SEL || port == MV_PORT_FW_CFG_DATA) {
		pthread_mutex_lock(&t->lock);
		if (port == MV_PORT_FW_CFG_SEL && out && size == 2) {
			t->fw_cfg_key = (uint16_t)(data[0] | data[1] << 8);
			t->fw_cfg_offset = 0;
		} else if (port == MV_PORT_FW_CFG_DATA && !out) {
			testdev_fw_cfg_read_locked(t, size, data);
		} else if (!out) {
			memset(data, 0, size);
		}
		pthread_mutex_unlock(&t->lock);
		return true;
	}

	if (port == MV_PORT_BOCHS_SHUTDOWN) {
		pthread_mutex_lock(&t->lock);
		if (out)
			shutdown = testdev_shutdown_byte_locked(t, size, data[0]);
		else
			memset(data, 0, size);
		pthread_mutex_unlock(&t->lock);
		if (shutdown && t->ops.shutdown)
			t->ops.shutdown(t->ops.arg);
		return true;
	}

	if (port == MV_PORT_ACPI_SLEEP) {             /* no state: no lock */
		if (!out)
			memset(data, 0, size);
		else if (testdev_acpi_sleep_is_s5(size, data[0]) && t->ops.shutdown)
			t->ops.shutdown(t->ops.arg);
		return true;
	}

	if (port >= MV_PORT_TESTDEV_LATCH && port < MV_PORT_TESTDEV_LATCH + TESTDEV_LATCH_SIZE) {
		pthread_mutex_lock(&t->lock);
		testdev_latch_locked(t, port - MV_PORT_TESTDEV_LATCH, out, size, data);
		pthread_mutex_unlock(&t->lock);
		return true;
	}

	/* The flush-page port's 4 bytes. */
	if (out && port == MV_PORT_TESTDEV_FLUSH && size == TESTDEV_FLUSH_SIZE)
		testdev_flush(t, testdev_get_le32(data));
	else if (!out)
		memset(data, 0, size);
	return true;
}

void testdev_iomem_access(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool write)
{
	struct testdev *t = opaque;
	bool fits = len >= 1 && len <= TESTDEV_IOMEM_MAX_ACCESS &&
		    offset <= MV_TESTDEV_IOMEM_SIZE && len <= MV_TESTDEV_IOMEM_SIZE - offset;

	if (!fits) {
		if (!write && len <= TESTDEV_IOMEM_MAX_ACCESS)
			memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (write)
		memcpy(&t->iomem[offset], data, len);
	else
		memcpy(data, &t->iomem[offset], len);
	t->stats.iomem_accesses++;
	pthread_mutex_unlock(&t->lock);
}

void testdev_get_stats(struct testdev *t, struct testdev_stats *out)
{
	pthread_mutex_lock(&t->lock);
	*out = t->stats;
	pthread_mutex_unlock(&t->lock);
}
