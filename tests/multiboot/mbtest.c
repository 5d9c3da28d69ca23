/*
 * mbtest.c — a multiboot v1 test kernel: checks what a multiboot loader (memvisor's
 * vmm/loader_multiboot.c, or QEMU's -kernel) and QEMU's test devices (vmm/testdev.h) give it,
 * one TAP line per check on COM1, and exits through isa-debug-exit: code 0 when every check
 * passed (memvisor and QEMU exit with status 1), 1 when one failed (status 3), 2 on a bail-out
 * (status 5). With shutdown=bochs and every check passed it powers off through the Bochs port
 * instead (status 0).
 *
 * Single-threaded on the BSP, interrupts off, paging off (so MMIO and low memory are reached
 * physically). The APs only run the real-mode trampoline in mbtest.S.
 *
 * Command line (after the image path the loader puts first), each word key=value:
 *   expect_name=PATH   the image path the command line must start with
 *   mods=N             the number of modules given; each module file begins with the line
 *                      "mbtest-module NAME[ ARGS]" (NAME: the file's base name, ARGS: the
 *                      arguments given after its path) and ends with "END\n"
 *   cpus=N             the number of vCPUs the machine was given (fw_cfg key 0x05 must agree)
 *   shutdown=bochs     finish through the Bochs shutdown port (0x8900) instead of port 0xf4
 *   loader=qemu        booted by QEMU's -kernel: its loader puts the information at 0x9000 and
 *                      up (only page 0 and the trampoline page 0x8000-0x8fff must be clear),
 *                      the memory map comes from SeaBIOS, which keeps up to
 *                      SEABIOS_RESERVED_MAX of RAM for itself, and fw_cfg has no key 0x11.
 *                      Without it every check is memvisor's exact contract (memvisor/layout.h).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <memvisor/layout.h>
#include <memvisor/multiboot.h>

#define PAGE_SIZE              4096u
#define KiB                    1024u
#define LOW_MEM_MAX_KIB        640u                  /* mem_lower is at most 640 KiB */
#define HIGH_MEM_START         UINT64_C(0x100000)    /* mem_upper counts from 1 MiB */
#define AP_TRAMPOLINE_GPA      ((uint32_t)MV_GPA_AP_TRAMPOLINE)
#define SIPI_VECTOR            (AP_TRAMPOLINE_GPA >> 12)
#define GUEST_OWNED_LOW_START  AP_TRAMPOLINE_GPA     /* 0x8000-0xe000: test kernels' own */
#define GUEST_OWNED_LOW_END    0xe000u
#define SEABIOS_RESERVED_MAX   (UINT64_C(1) << 20)   /* SeaBIOS's high zone and tables */

#define MMAP_TYPE_RAM          1

/* 16550 (memvisor's and QEMU's COM1). */
#define UART_TX                0
#define UART_LSR               5
#define UART_LSR_THRE          0x20

/* fw_cfg keys (vmm/testdev.h). */
#define FW_CFG_SIGNATURE       0x00
#define FW_CFG_ID              0x01
#define FW_CFG_ID_TRADITIONAL  0x1
#define FW_CFG_RAM_SIZE        0x03
#define FW_CFG_NB_CPUS         0x05
#define FW_CFG_MAX_RAM         0x11

/* Local APIC (Intel SDM vol. 3, 10.4 and 10.6). */
#define LAPIC_SVR              0x0f0
#define LAPIC_SVR_ENABLE       (UINT32_C(1) << 8)
#define LAPIC_SPURIOUS_VECTOR  0xff
#define LAPIC_ICR_LO           0x300
#define LAPIC_ICR_HI           0x310
#define LAPIC_ICR_INIT         (UINT32_C(5) << 8)
#define LAPIC_ICR_STARTUP      (UINT32_C(6) << 8)
#define LAPIC_ICR_BUSY         (UINT32_C(1) << 12)
#define LAPIC_ICR_ASSERT       (UINT32_C(1) << 14)
#define LAPIC_ICR_ALL_BUT_SELF (UINT32_C(3) << 18)
#define LAPIC_LVT_TIMER        0x320
#define LAPIC_LVT_MASKED       (UINT32_C(1) << 16)
#define LAPIC_TIMER_INIT       0x380
#define LAPIC_TIMER_CUR        0x390
#define LAPIC_TIMER_DIV        0x3e0
#define LAPIC_TIMER_DIV_1      0xb
#define LAPIC_TIMER_NS         1                     /* KVM's and QEMU's APIC bus: 1 GHz */
#define SMP_INIT_DELAY_US      10000
#define SMP_SIPI_DELAY_US      200
#define SMP_WAIT_ROUNDS        40                    /* × 250 ms for the APs to check in */
#define SMP_WAIT_ROUND_US      250000
#define ICR_POLLS              1000000

#define EXIT_PASS              MV_GUEST_EXIT_PASS
#define EXIT_FAIL              MV_GUEST_EXIT_FAIL
#define EXIT_BAIL              MV_GUEST_EXIT_BAIL

#define BSS_PROBE_SIZE         (256 * KiB)
#define IOMEM_WORDS            256

extern char _end[];
extern const char ap_trampoline[], ap_trampoline_end[], ap_trampoline_counter[];

void mb_main(uint32_t magic, uint32_t info_gpa);

/* ---- port and memory access ---- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* Paging is off: a guest-physical address below 4 GiB is a pointer. */
static inline void *phys(uint32_t gpa)
{
	return (void *)(uintptr_t)gpa;
}

static inline uint32_t mmio_read32(uint32_t gpa)
{
	return *(volatile uint32_t *)phys(gpa);
}

static inline void mmio_write32(uint32_t gpa, uint32_t v)
{
	*(volatile uint32_t *)phys(gpa) = v;
}

static inline uint16_t mmio_read16(uint32_t gpa)
{
	return *(volatile uint16_t *)phys(gpa);
}

static inline void mmio_write16(uint32_t gpa, uint16_t v)
{
	*(volatile uint16_t *)phys(gpa) = v;
}

static inline uint8_t mmio_read8(uint32_t gpa)
{
	return *(volatile uint8_t *)phys(gpa);
}

static inline void mmio_write8(uint32_t gpa, uint8_t v)
{
	*(volatile uint8_t *)phys(gpa) = v;
}

/* ---- strings (no libc) ---- */

static size_t str_len(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static bool mem_eq(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static void mem_copy(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	for (size_t i = 0; i < n; i++)
		d[i] = s[i];
}

/* Decimal digits s[0..len) as a number; false if empty, not digits or above 0xffffffff. */
static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* ---- serial output and TAP ---- */

static void serial_putc(char c)
{
	while (!(inb(MV_PORT_COM1 + UART_LSR) & UART_LSR_THRE))
		;
	outb(MV_PORT_COM1 + UART_TX, (uint8_t)c);
}

static void put_str(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static void put_hex(uint64_t v, unsigned min_digits)
{
	char buf[16];
	unsigned n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	while (n < min_digits && n < sizeof(buf))
		buf[n++] = '0';
	while (n)
		serial_putc(buf[--n]);
}

static void put_dec(uint32_t v)
{
	char buf[10];
	unsigned n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		serial_putc(buf[--n]);
}

/* printf's %s %c %u %x %llx (and %#x, %#llx); no width or precision. */
__attribute__((format(printf, 1, 0))) static void vprint(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		bool alt = false, wide = false;

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '#') {
			alt = true;
			fmt++;
		}
		if (fmt[0] == 'l' && fmt[1] == 'l') {
			wide = true;
			fmt += 2;
		}
		switch (*fmt) {
		case 's':
			put_str(va_arg(ap, const char *));
			break;
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 'u':
			put_dec(va_arg(ap, unsigned));
			break;
		case 'x':
			if (alt)
				put_str("0x");
			put_hex(wide ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned), 1);
			break;
		case '%':
			serial_putc('%');
			break;
		default:
			put_str("<bad format>");
			return;
		}
	}
}

__attribute__((format(printf, 1, 2))) static void print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

static unsigned tap_count, tap_failed;

/* One TAP line: "ok N - what" or "not ok N - what". Returns ok. */
__attribute__((format(printf, 2, 3))) static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (!ok)
		tap_failed++;
	print("%sok %u - ", ok ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	return ok;
}

__attribute__((noreturn)) static void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

__attribute__((noreturn)) static void exit_code(uint8_t code)
{
	outb(MV_PORT_EXIT, code);
	halt_forever();
}

__attribute__((noreturn, format(printf, 1, 2))) static void bail(const char *fmt, ...)
{
	va_list ap;

	put_str("Bail out! ");
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	exit_code(EXIT_BAIL);
}

/* ---- the command line ---- */

static const char *cmdline = "";

/* The value of word key=... after the image path, with its length; NULL if absent. */
static const char *arg_value(const char *key, size_t *len)
{
	size_t klen = str_len(key);
	const char *p = cmdline;

	while (*p && *p != ' ')           /* the image path */
		p++;
	while (*p) {
		const char *w;
		size_t wlen = 0;

		while (*p == ' ')
			p++;
		w = p;
		while (w[wlen] && w[wlen] != ' ')
			wlen++;
		if (wlen > klen && mem_eq(w, key, klen) && w[klen] == '=') {
			*len = wlen - klen - 1;
			return w + klen + 1;
		}
		p = w + wlen;
	}
	return NULL;
}

static bool arg_is(const char *key, const char *want)
{
	size_t len;
	const char *v = arg_value(key, &len);

	return v && len == str_len(want) && mem_eq(v, want, len);
}

/* key=N as a number; false (and a diagnostic) if absent or not a number. */
static bool arg_u32(const char *key, uint32_t *out)
{
	size_t len;
	const char *v = arg_value(key, &len);

	if (v && parse_u32(v, len, out))
		return true;
	print("# command line: no %s=N\n", key);
	return false;
}

/* ---- fw_cfg ---- */

static void fw_cfg_read(uint16_t key, void *buf, unsigned len)
{
	uint8_t *b = buf;

	outw(MV_PORT_FW_CFG_SEL, key);
	for (unsigned i = 0; i < len; i++)
		b[i] = inb(MV_PORT_FW_CFG_DATA);
}

static uint64_t fw_cfg_u64(uint16_t key)
{
	uint8_t b[8];
	uint64_t v = 0;

	fw_cfg_read(key, b, sizeof(b));
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static uint16_t fw_cfg_u16(uint16_t key)
{
	uint8_t b[2];

	fw_cfg_read(key, b, sizeof(b));
	return (uint16_t)(b[0] | b[1] << 8);
}

/* ---- the multiboot information ---- */

/* QEMU's loader: only the trampoline page must be clear. */
static uint32_t guest_owned_low_end = GUEST_OWNED_LOW_END;

/* [gpa, gpa + len) clear of page 0 and of the guest-owned 0x8000-0xe000, below 4 GiB. */
static bool outside_reserved_low(uint32_t gpa, uint32_t len)
{
	uint64_t end = (uint64_t)gpa + len;

	if (end > UINT64_C(1) << 32 || gpa < PAGE_SIZE)
		return false;
	return end <= GUEST_OWNED_LOW_START || gpa >= guest_owned_low_end;
}

static const struct multiboot_info *mbi;

static const struct multiboot_mmap_entry *mmap_next(const struct multiboot_mmap_entry *e)
{
	return (const void *)((const uint8_t *)e + e->size + sizeof(e->size));
}

#define for_each_mmap(e) \
	for (const struct multiboot_mmap_entry *e = phys(mbi->mmap_addr); \
	     (uint32_t)(uintptr_t)e + sizeof(*e) <= mbi->mmap_addr + mbi->mmap_length; \
	     e = mmap_next(e))

static uint64_t entry_addr(const struct multiboot_mmap_entry *e)
{
	return (uint64_t)e->addr_hi << 32 | e->addr_lo;
}

static uint64_t entry_len(const struct multiboot_mmap_entry *e)
{
	return (uint64_t)e->len_hi << 32 | e->len_lo;
}

/* Every entry's size field is 20 (the spec allows more, but no loader we know writes more). */
static bool mmap_well_formed(void)
{
	unsigned n = 0;

	if (mbi->mmap_length == 0 || mbi->mmap_length % sizeof(struct multiboot_mmap_entry))
		return false;
	for_each_mmap(e) {
		print("# mmap: %#llx-%#llx type %u\n", entry_addr(e),
		      entry_addr(e) + entry_len(e) - 1, e->type);
		if (e->size != sizeof(*e) - sizeof(e->size) || entry_len(e) == 0)
			return false;
		n++;
	}
	return n * sizeof(struct multiboot_mmap_entry) == mbi->mmap_length;
}

/* Bytes of RAM from gpa on without a gap, over however many adjacent RAM entries. */
static uint64_t ram_run_from(uint64_t gpa)
{
	uint64_t at = gpa;
	bool grew = true;

	while (grew) {
		grew = false;
		for_each_mmap(e) {
			if (e->type == MMAP_TYPE_RAM && entry_addr(e) <= at &&
			    at < entry_addr(e) + entry_len(e)) {
				at = entry_addr(e) + entry_len(e);
				grew = true;
			}
		}
	}
	return at - gpa;
}

static bool in_ram(uint64_t gpa, uint64_t len)
{
	return len <= ram_run_from(gpa);
}

/* ---- the checks ---- */

static void check_memory(bool qemu)
{
	uint64_t ram = 0, firmware_low = 0, ram_end = 0;
	uint64_t lower = ram_run_from(0), upper = ram_run_from(HIGH_MEM_START);
	uint64_t want_lower_kib = lower / KiB < LOW_MEM_MAX_KIB ? lower / KiB : LOW_MEM_MAX_KIB;
	uint64_t fw_ram = fw_cfg_u64(FW_CFG_RAM_SIZE), fw_max_ram = fw_cfg_u64(FW_CFG_MAX_RAM);
	bool upper_ok;

	for_each_mmap(e) {
		uint64_t end = entry_addr(e) + entry_len(e);

		if (e->type == MMAP_TYPE_RAM) {
			ram += entry_len(e);
			ram_end = end > ram_end ? end : ram_end;
		} else if (end <= HIGH_MEM_START) {
			firmware_low += entry_len(e);
		}
	}
	/* SeaBIOS reserves the top of low RAM for itself; mem_upper (QEMU's) still counts it. */
	upper_ok = qemu ? (uint64_t)mbi->mem_upper * KiB >= upper &&
			     (uint64_t)mbi->mem_upper * KiB - upper <= SEABIOS_RESERVED_MAX
			   : (uint64_t)mbi->mem_upper * KiB == upper;
	check(mbi->mem_lower == want_lower_kib && upper_ok,
	      "mem_lower %u KiB, mem_upper %u KiB agree with the memory map (%llx KiB from 0, "
	      "%llx KiB from 1 MiB, hex)", mbi->mem_lower, mbi->mem_upper,
	      (unsigned long long)(lower / KiB), (unsigned long long)(upper / KiB));
	/* memvisor counts the whole first MiB as RAM (RAM, then the legacy hole and ACPI). */
	check(qemu ? ram + firmware_low <= fw_ram && fw_ram - (ram + firmware_low) <=
			SEABIOS_RESERVED_MAX + HIGH_MEM_START
		      : ram + firmware_low == fw_ram,
	      "memory map covers the RAM fw_cfg 0x03 names: RAM entries %#llx + firmware below "
	      "1 MiB %#llx vs %#llx", (unsigned long long)ram, (unsigned long long)firmware_low,
	      (unsigned long long)fw_ram);
	if (qemu)                         /* QEMU's key 0x11 is the kernel's data */
		print("# fw_cfg 0x11 under QEMU: %#llx, not max RAM\n",
		      (unsigned long long)fw_max_ram);
	else
		check(fw_max_ram == ram_end, "fw_cfg 0x11 (max RAM) %#llx is the end of the last "
		      "RAM entry %#llx", (unsigned long long)fw_max_ram, (unsigned long long)ram_end);
}

static void check_cmdline(void)
{
	size_t len, cl = str_len(cmdline);
	const char *name = arg_value("expect_name", &len);

	print("# cmdline: \"%s\"\n", cmdline);
	check(name && cl > len && mem_eq(cmdline, name, len) && cmdline[len] == ' ',
	      "command line starts with the image path given as expect_name=");
}

/* Module i (0-based) against its file's own description; see the top of this file. */
static bool check_module(unsigned i, const struct multiboot_mod_list *m, uint32_t after)
{
	static const char magic[] = "mbtest-module ";
	static const char tail[] = "END\n";
	const char *data = phys(m->mod_start), *s = phys(m->cmdline), *name, *args, *path_end;
	uint32_t size = m->mod_end - m->mod_start;
	size_t name_len = 0, args_len = 0, path_len, s_len;
	char want_name[8] = { 'm', 'o', 'd', (char)('1' + i), 0 };

	if (m->mod_end <= m->mod_start || m->mod_start % PAGE_SIZE || m->mod_start < after ||
	    !in_ram(m->mod_start, size)) {
		print("# module %u at %#x-%#x: not page-aligned, empty, overlapping or outside RAM\n",
		      i, m->mod_start, m->mod_end);
		return false;
	}
	if (size < sizeof(magic) - 1 + sizeof(tail) - 1 || !mem_eq(data, magic, sizeof(magic) - 1) ||
	    !mem_eq(data + size - (sizeof(tail) - 1), tail, sizeof(tail) - 1)) {
		print("# module %u: %u bytes, not \"%s...%s\"\n", i, size, magic, "END");
		return false;
	}
	name = data + sizeof(magic) - 1;
	while (name + name_len < data + size && name[name_len] != ' ' && name[name_len] != '\n')
		name_len++;
	args = name + name_len;
	if (*args == ' ')
		args++;
	while (args + args_len < data + size && args[args_len] != '\n')
		args_len++;
	if (name_len != str_len(want_name) || !mem_eq(name, want_name, name_len)) {
		print("# module %u is not the file %s\n", i, want_name);
		return false;
	}
	if (!m->cmdline || !outside_reserved_low(m->cmdline, 1)) {
		print("# module %u: string at %#x\n", i, m->cmdline);
		return false;
	}
	/* The string: "PATH" or "PATH ARGS", PATH ending in the file's name. */
	s_len = str_len(s);
	path_end = s;
	while (*path_end && *path_end != ' ')
		path_end++;
	path_len = (size_t)(path_end - s);
	print("# module %u: %#x-%#x \"%s\"\n", i, m->mod_start, m->mod_end, s);
	if (path_len < name_len || !mem_eq(path_end - name_len, name, name_len) ||
	    (path_len > name_len && path_end[-(long)name_len - 1] != '/'))
		return false;
	if (args_len == 0)
		return s_len == path_len;
	return s_len == path_len + 1 + args_len && mem_eq(path_end + 1, args, args_len);
}

static void check_modules(void)
{
	const struct multiboot_mod_list *mods = phys(mbi->mods_addr);
	uint32_t want = 0, after = (uint32_t)(uintptr_t)_end;
	bool have = arg_u32("mods", &want);

	check(have && mbi->mods_count == want, "module count %u is the %u given", mbi->mods_count,
	      want);
	if (mbi->mods_count > 8 || mbi->mods_count != want)
		return;
	for (unsigned i = 0; i < mbi->mods_count; i++) {
		check(check_module(i, &mods[i], after), "module %u: page-aligned above the kernel "
		      "and the modules before it; its bytes and string are those given", i);
		after = mods[i].mod_end;
	}
}

static void check_placement(void)
{
	bool ok = outside_reserved_low(mbi->mmap_addr, mbi->mmap_length) &&
		  (mbi->mods_count == 0 ||
		   outside_reserved_low(mbi->mods_addr, mbi->mods_count * 16u)) &&
		  outside_reserved_low(mbi->cmdline, (uint32_t)str_len(cmdline) + 1);

	check(ok, "memory map %#x, module list %#x and command line %#x are outside page 0 and "
	      "0x8000-%#x", mbi->mmap_addr, mbi->mods_addr, mbi->cmdline, guest_owned_low_end);
}

/* A large BSS array the loader must have zeroed (memsz beyond filesz). */
static uint8_t bss_probe[BSS_PROBE_SIZE];

static void check_bss(void)
{
	uint8_t *p = bss_probe;
	uint32_t nonzero = 0;

	__asm__ volatile("" : "+r"(p));     /* the compiler may not assume it is still zero */
	for (uint32_t i = 0; i < BSS_PROBE_SIZE; i++)
		nonzero += p[i] != 0;
	check(nonzero == 0, "BSS is zero: %u of %u bytes of a static array are not", nonzero,
	      BSS_PROBE_SIZE);
}

static void check_fw_cfg(void)
{
	char sig[4];
	uint32_t id, want_cpus = 0;
	uint16_t cpus = fw_cfg_u16(FW_CFG_NB_CPUS);
	bool have = arg_u32("cpus", &want_cpus);

	fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof(sig));
	check(mem_eq(sig, "QEMU", 4), "fw_cfg signature is \"QEMU\": %c%c%c%c", sig[0], sig[1],
	      sig[2], sig[3]);
	fw_cfg_read(FW_CFG_ID, &id, sizeof(id));
	check(id & FW_CFG_ID_TRADITIONAL, "fw_cfg interface id %#x has the port interface", id);
	check(have && cpus == want_cpus, "fw_cfg 0x05 (CPUs) %u is the %u given", cpus, want_cpus);
}

static void check_latch(void)
{
	uint32_t v1, v2, v4;
	uint8_t b3;
	uint16_t h1;

	outl(MV_PORT_TESTDEV_LATCH, 0x12345678);
	v4 = inl(MV_PORT_TESTDEV_LATCH);
	outb(MV_PORT_TESTDEV_LATCH, 0xab);
	outb(MV_PORT_TESTDEV_LATCH + 3, 0xcd);
	v1 = inl(MV_PORT_TESTDEV_LATCH);
	b3 = inb(MV_PORT_TESTDEV_LATCH + 3);
	outw(MV_PORT_TESTDEV_LATCH + 2, 0xbeef);
	outw(MV_PORT_TESTDEV_LATCH, 0xf00d);
	v2 = inl(MV_PORT_TESTDEV_LATCH);
	h1 = inw(MV_PORT_TESTDEV_LATCH + 2);
	check(v4 == 0x12345678, "testdev latch: a 4-byte write reads back: %#x", v4);
	check(v1 == 0xcd3456ab && b3 == 0xcd, "testdev latch: 1-byte writes replace their byte: "
	      "%#x, byte 3 %#x", v1, b3);
	check(v2 == 0xbeeff00d && h1 == 0xbeef, "testdev latch: 2-byte writes replace their half: "
	      "%#x, upper half %#x", v2, h1);
}

static uint32_t flush_pattern(uint32_t i, uint32_t round)
{
	return (i * 0x9e3779b9u) ^ (round << 28) ^ 0x5a5a5a5au;
}

static uint32_t flush_page[PAGE_SIZE / 4] __attribute__((aligned(PAGE_SIZE)));

static void check_flush_page(void)
{
	volatile uint32_t *p = flush_page;
	uint32_t bad = 0, gpa = (uint32_t)(uintptr_t)flush_page;

	for (uint32_t round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < PAGE_SIZE / 4; i++)
			p[i] = flush_pattern(i, round);
		outl(MV_PORT_TESTDEV_FLUSH, gpa + 0x123);   /* any address in the page */
		for (uint32_t i = 0; i < PAGE_SIZE / 4; i++)
			bad += p[i] != flush_pattern(i, round);
	}
	check(bad == 0, "testdev flush page %#x twice: the pattern survives, the page stays "
	      "writable (%u words differ)", gpa, bad);
}

/*
 *   0xff000000        +4                +0x100  +0x102            +0xfffc  +0x10000
 *   | 8 1-byte writes  |  ...  | 2 2-byte writes |   4-byte words ...  | last word |
 */
static void check_iomem(void)
{
	const uint32_t base = (uint32_t)MV_GPA_TESTDEV_IOMEM;
	const uint32_t last = base + (uint32_t)MV_TESTDEV_IOMEM_SIZE - 4;
	uint32_t bad = 0;
	bool ok;

	for (uint32_t i = 0; i < 8; i++)
		mmio_write8(base + i, (uint8_t)(0x10 + i));
	ok = mmio_read32(base) == 0x13121110 && mmio_read32(base + 4) == 0x17161514 &&
	     mmio_read16(base + 2) == 0x1312 && mmio_read8(base + 5) == 0x15;
	check(ok, "testdev iomem: 1-byte writes read back as bytes, halves and words: %#x %#x",
	      mmio_read32(base), mmio_read32(base + 4));

	mmio_write16(base + 0x100, 0xbeef);
	mmio_write16(base + 0x102, 0xdead);
	ok = mmio_read32(base + 0x100) == 0xdeadbeef && mmio_read8(base + 0x101) == 0xbe &&
	     mmio_read16(base + 0x102) == 0xdead;
	check(ok, "testdev iomem: 2-byte writes read back little-endian: %#x",
	      mmio_read32(base + 0x100));

	for (uint32_t i = 0; i < IOMEM_WORDS; i++)
		mmio_write32(base + 0x1000 + 4 * i, flush_pattern(i, 3));
	mmio_write32(last, 0xcafef00d);
	for (uint32_t i = 0; i < IOMEM_WORDS; i++)
		bad += mmio_read32(base + 0x1000 + 4 * i) != flush_pattern(i, 3);
	ok = bad == 0 && mmio_read32(last) == 0xcafef00d && mmio_read8(last + 3) == 0xca;
	check(ok, "testdev iomem: %u 4-byte words and the window's last word read back (%u differ)",
	      IOMEM_WORDS, bad);
}

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32((uint32_t)MV_GPA_LAPIC + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32((uint32_t)MV_GPA_LAPIC + reg, v);
}

/* Busy-wait us microseconds on the LAPIC timer (one-shot, masked, divide by 1). */
static void delay_us(uint32_t us)
{
	uint32_t counts = us * (1000 / LAPIC_TIMER_NS);

	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV_1);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_INIT, counts);
	while (lapic_read(LAPIC_TIMER_CUR) != 0)
		__asm__ volatile("pause");
}

static bool lapic_send_all_but_self(uint32_t icr_lo)
{
	for (unsigned polls = 0; lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY; polls++)
		if (polls == ICR_POLLS)
			return false;
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, LAPIC_ICR_ALL_BUT_SELF | LAPIC_ICR_ASSERT | icr_lo);
	return true;
}

/* INIT-SIPI-SIPI to every other CPU; each runs the trampoline once and adds one to its counter. */
static void check_smp(void)
{
	uint32_t cpus = fw_cfg_u16(FW_CFG_NB_CPUS);
	uint32_t size = (uint32_t)(ap_trampoline_end - ap_trampoline);
	volatile uint32_t *counter = phys(AP_TRAMPOLINE_GPA +
					  (uint32_t)(ap_trampoline_counter - ap_trampoline));
	bool sent;
	uint32_t seen = 0;

	mem_copy(phys(AP_TRAMPOLINE_GPA), ap_trampoline, size);
	*counter = 0;
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | LAPIC_SPURIOUS_VECTOR);
	sent = cpus < 2 || lapic_send_all_but_self(LAPIC_ICR_INIT);
	if (cpus >= 2) {
		delay_us(SMP_INIT_DELAY_US);
		sent = sent && lapic_send_all_but_self(LAPIC_ICR_STARTUP | SIPI_VECTOR);
		delay_us(SMP_SIPI_DELAY_US);
		sent = sent && lapic_send_all_but_self(LAPIC_ICR_STARTUP | SIPI_VECTOR);
		for (unsigned r = 0; r < SMP_WAIT_ROUNDS && *counter < cpus - 1; r++)
			delay_us(SMP_WAIT_ROUND_US);
		delay_us(SMP_SIPI_DELAY_US);           /* room for a CPU too many to show */
	}
	seen = *counter;
	check(sent && cpus >= 1 && seen == cpus - 1, "smp: INIT-SIPI-SIPI started %u APs, fw_cfg "
	      "says %u CPUs", seen, cpus);
}

/* The last step: Bochs's "Shutdown" (status 0) if asked and every check passed, else port 0xf4. */
__attribute__((noreturn)) static void finish(void)
{
	print("1..%u\n", tap_count);
	if (tap_failed == 0 && arg_is("shutdown", "bochs")) {
		for (const char *s = "Shutdown"; *s; s++)
			outb(MV_PORT_BOCHS_SHUTDOWN, (uint8_t)*s);
		bail("\"Shutdown\" written to port %#x and the machine still runs",
		     MV_PORT_BOCHS_SHUTDOWN);
	}
	exit_code(tap_failed ? EXIT_FAIL : EXIT_PASS);
}

void mb_main(uint32_t magic, uint32_t info_gpa)
{
	const uint32_t want_flags = MULTIBOOT_INFO_MEMORY | MULTIBOOT_INFO_CMDLINE |
				    MULTIBOOT_INFO_MODS | MULTIBOOT_INFO_MEM_MAP;
	bool qemu;

	put_str("TAP version 13\n");
	if (!check(magic == MULTIBOOT_BOOTLOADER_MAGIC, "EAX holds the multiboot magic: %#x", magic))
		bail("no multiboot information to read");
	mbi = phys(info_gpa);             /* paging off: reading any address is harmless */
	if (!check((mbi->flags & want_flags) == want_flags, "information flags %#x have memory, "
		   "command line, modules and memory map (%#x)", mbi->flags, want_flags))
		bail("the information structure lacks fields every check needs");
	cmdline = mbi->cmdline ? (const char *)phys(mbi->cmdline) : "";
	qemu = arg_is("loader", "qemu");
	if (qemu)
		guest_owned_low_end = AP_TRAMPOLINE_GPA + PAGE_SIZE;
	check(outside_reserved_low(info_gpa, sizeof(*mbi)), "the information structure at %#x is "
	      "outside page 0 and 0x8000-%#x", info_gpa, guest_owned_low_end);
	check_placement();
	check_cmdline();
	if (!check(mmap_well_formed(), "memory map: %u bytes of 24-byte entries",
		   mbi->mmap_length))
		bail("the memory map cannot be walked");
	check_memory(qemu);
	check_modules();
	check_bss();
	check_fw_cfg();
	check_latch();
	check_flush_page();
	check_iomem();
	check_smp();
	finish();
}
