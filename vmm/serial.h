/*
 * serial.h — a 16550A UART model, output only: what a guest needs to print (THR, LSR with
 * THR-empty, IIR/IER with the THR-empty interrupt, the divisor latch, scratch and modem
 * registers, loopback as Linux's 8250 probe checks it). Received data never arrives: RBR reads
 * 0 and LSR never shows data ready.
 *
 * Lock: serial.lock (a leaf) serialises register access from any vCPU thread; the IRQ callback
 * is called with it held and must not call back into the UART.
 */
#ifndef MV_SERIAL_H
#define MV_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_NR_REGS 8
#define SERIAL_BUF     512      /* output is passed on at each newline or when this fills */

struct serial {
	pthread_mutex_t lock;
	int out_fd;                     /* where THR bytes go */
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;              /* THR-empty interrupt raised and not yet read from IIR */
	bool irq_level;                 /* last level passed to set_irq */
	size_t len;
	char buf[SERIAL_BUF];
	uint64_t tx_bytes;              /* bytes the guest transmitted */
	int write_error;                /* first errno from writing out_fd, 0 if none */
};

/* out_fd is borrowed (not closed). set_irq may be NULL (no interrupt line). */
void serial_init(struct serial *s, int out_fd, void (*set_irq)(void *opaque, bool level),
		 void *irq_opaque);

/* One byte access to register `reg` (0..7, offset from the base port). */
uint8_t serial_read(struct serial *s, unsigned reg);
void serial_write(struct serial *s, unsigned reg, uint8_t val);

/* Pass buffered output on (at teardown, and before anything else is printed). */
void serial_flush(struct serial *s);

void serial_destroy(struct serial *s);

#endif /* MV_SERIAL_H */
