/*
 * guest/console.c — the serial console (polled 16550 at MV_PORT_COM1), kprintf, TAP output and
 * the exit port. Polled, no interrupts.
 *
 * Every CPU may print: console_lock keeps whole calls (a kprintf, a TAP line) from interleaving.
 * It is taken with interrupts off and is recursive per CPU (owner = cpu_id() + 1), so an
 * exception or call IPI that prints while its CPU holds the lock still gets its line out.
 *
 * Lock order: console_lock is innermost (nothing is taken under it).
 *
 * Lines end in "\n" only (no "\r"), so a test can compare captured output byte for byte.
 */
#include <memvisor/layout.h>

#include "kernel.h"

#define UART_THR          0     /* transmit holding register (write) */
#define UART_IER          1     /* interrupt enable */
#define UART_LCR          3     /* line control */
#define UART_LSR          5     /* line status */
#define UART_LCR_8N1      0x03  /* 8 data bits, no parity, 1 stop bit, DLAB off */
#define UART_LSR_THRE     0x20  /* THR empty: the next byte may be written */
/* A UART that never reports THR empty must not hang the guest silently: give up waiting after
 * this many polls and write anyway (a real 16550 at 9600 baud drains a byte in ~1 ms). */
#define UART_THRE_POLLS   100000

void serial_init(void)
{
	outb(MV_PORT_COM1 + UART_IER, 0);
	outb(MV_PORT_COM1 + UART_LCR, UART_LCR_8N1);
}

void serial_putc(char c)
{
	for (unsigned i = 0; i < UART_THRE_POLLS; i++)
		if (inb(MV_PORT_COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(MV_PORT_COM1 + UART_THR, (uint8_t)c);
}

static void put_str(const char *s, int width, int prec)
{
	int len = 0;

	while ((prec < 0 || len < prec) && s[len])
		len++;
	for (; width > len; width--)
		serial_putc(' ');
	for (int i = 0; i < len; i++)
		serial_putc(s[i]);
}

/* v in base 10 or 16, right-aligned in width with pad ('0' or ' '), after an optional '-'. */
static void put_num(uint64_t v, unsigned base, bool neg, int width, char pad, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int n = 0;

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		width--;
	if (neg && pad == '0')
		serial_putc('-');
	for (; width > n; width--)
		serial_putc(pad);
	if (neg && pad != '0')
		serial_putc('-');
	while (n)
		serial_putc(buf[--n]);
}

void kvprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		char pad = ' ';
		int width = 0, prec = -1, longs = 0;

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		if (*fmt == '.' && fmt[1] == '*') {
			prec = va_arg(ap, int);
			fmt += 2;
		} else if (*fmt == '.') {
			for (prec = 0, fmt++; *fmt >= '0' && *fmt <= '9'; fmt++)
				prec = prec * 10 + (*fmt - '0');
		}
		/* l, ll and z all mean a 64-bit argument on x86-64 (long, long long, size_t). */
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			longs++;

		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = longs ? va_arg(ap, long) : va_arg(ap, int);

			put_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);

			put_num(v, *fmt == 'u' ? 10 : 16, false, width, pad, *fmt == 'X');
			break;
		}
		case 'p':
			put_str("0x", 0, -1);
			put_num((uintptr_t)va_arg(ap, void *), 16, false, 16, '0', false);
			break;
		case 's':
			put_str(va_arg(ap, const char *), width, prec);
			break;
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case '%':
			serial_putc('%');
			break;
		default:        /* unknown conversion: show it rather than guess at its argument */
			serial_putc('%');
			if (!*fmt)
				return;
			serial_putc(*fmt);
			break;
		}
	}
}

static uint32_t console_owner;   /* cpu_id() + 1 of the holder, 0 when free */
static unsigned console_depth;   /* the holder's nesting */

static uint64_t console_lock(void)
{
	uint64_t irq = irq_save();
	uint32_t me = cpu_id() + 1, free = 0;

	if (__atomic_load_n(&console_owner, __ATOMIC_RELAXED) != me)
		while (!__atomic_compare_exchange_n(&console_owner, &free, me, false,
						    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
			free = 0;
			cpu_relax();
		}
	console_depth++;
	return irq;
}

static void console_unlock(uint64_t irq)
{
	if (--console_depth == 0)
		__atomic_store_n(&console_owner, 0, __ATOMIC_RELEASE);
	irq_restore(irq);
}

void kprintf(const char *fmt, ...)
{
	uint64_t irq = console_lock();
	va_list ap;

	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	console_unlock(irq);
}

static unsigned tap_count;      /* checks printed so far */
static unsigned tap_failed;     /* of which "not ok" */

bool tap_begin(bool ok)
{
	uint64_t irq = console_lock();

	tap_count++;
	if (!ok)
		tap_failed++;
	kprintf("%sok %u - ", ok ? "" : "not ", tap_count);
	console_unlock(irq);
	return ok;
}

bool tap_check(bool ok, const char *fmt, ...)
{
	uint64_t irq = console_lock();
	va_list ap;

	tap_begin(ok);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	console_unlock(irq);
	return ok;
}

void tap_finish(void)
{
	kprintf("1..%u\n", tap_count);
	guest_exit(tap_failed ? MV_GUEST_EXIT_FAIL : MV_GUEST_EXIT_PASS);
}

void tap_bail(const char *fmt, ...)
{
	va_list ap;

	(void)console_lock();           /* kept: nothing else prints after a bail-out */
	kprintf("Bail out! ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	guest_exit(MV_GUEST_EXIT_BAIL);
}

void guest_exit(uint8_t code)
{
	outb(MV_PORT_EXIT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}
