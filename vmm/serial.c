/*
 * serial.c — the 16550A model (serial.h). Transmission is instant: a THR write goes to the
 * output buffer and the transmitter is empty again at once, so LSR always reads THRE|TEMT and
 * the THR-empty interrupt (if enabled) is re-raised after every byte, as on a real UART whose
 * FIFO drains faster than the guest can look.
 * Lock order: serial.lock only (leaf).
 */
#include "serial.h"

#include <errno.h>
#include <linux/serial_reg.h>
#include <string.h>
#include <unistd.h>

void serial_init(struct serial *s, int out_fd, void (*set_irq)(void *opaque, bool level),
		 void *irq_opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->set_irq = set_irq;
	s->irq_opaque = irq_opaque;
	s->mcr = UART_MCR_OUT2;
}

static void serial_flush_locked(struct serial *s)
{
	size_t off = 0;

	while (off < s->len && !s->write_error) {
		ssize_t n = write(s->out_fd, s->buf + off, s->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->write_error = n < 0 ? errno : EIO;   /* output is lost from here on */
			break;
		}
		off += (size_t)n;
	}
	s->len = 0;
}

static void serial_update_irq_locked(struct serial *s)
{
	bool level = (s->ier & UART_IER_THRI) && s->thri_pending;

	if (s->set_irq && level != s->irq_level)
		s->set_irq(s->irq_opaque, level);
	s->irq_level = level;
}

static void serial_tx_locked(struct serial *s, uint8_t c)
{
	s->buf[s->len++] = (char)c;
	s->tx_bytes++;
	if (c == '\n' || s->len == sizeof(s->buf))
		serial_flush_locked(s);
	s->thri_pending = true;           /* the byte left at once: THR is empty again */
}

/* In loopback the modem outputs feed the modem inputs: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD. */
static uint8_t serial_msr_locked(const struct serial *s)
{
	uint8_t msr = 0;

	if (!(s->mcr & UART_MCR_LOOP))
		return UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
	if (s->mcr & UART_MCR_DTR)
		msr |= UART_MSR_DSR;
	if (s->mcr & UART_MCR_RTS)
		msr |= UART_MSR_CTS;
	if (s->mcr & UART_MCR_OUT1)
		msr |= UART_MSR_RI;
	if (s->mcr & UART_MCR_OUT2)
		msr |= UART_MSR_DCD;
	return msr;
}

uint8_t serial_read(struct serial *s, unsigned reg)
{
	bool dlab;
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_RX:
		v = dlab ? s->dll : 0;            /* nothing is ever received */
		break;
	case UART_IER:
		v = dlab ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = (s->fcr & UART_FCR_ENABLE_FIFO) ? 0xc0 : 0;   /* "FIFOs enabled" bits 7:6 */
		if ((s->ier & UART_IER_THRI) && s->thri_pending) {
			v |= UART_IIR_THRI;
			s->thri_pending = false;  /* reading IIR acknowledges THR-empty */
		} else {
			v |= UART_IIR_NO_INT;
		}
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = UART_LSR_THRE | UART_LSR_TEMT;
		break;
	case UART_MSR:
		v = serial_msr_locked(s);
		break;
	case UART_SCR:
		v = s->scr;
		break;
	default:
		v = 0xff;                         /* outside the 8 registers: a floating bus */
		break;
	}
	serial_update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return v;
}

void serial_write(struct serial *s, unsigned reg, uint8_t val)
{
	bool dlab;

	pthread_mutex_lock(&s->lock);
	dlab = s->lcr & UART_LCR_DLAB;
	switch (reg) {
	case UART_TX:
		if (dlab)
			s->dll = val;
		else if (!(s->mcr & UART_MCR_LOOP))   /* loopback bytes never leave the chip */
			serial_tx_locked(s, val);
		else
			s->thri_pending = true;
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = val;
		} else {
			if ((val & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
				s->thri_pending = true;   /* enabling it with THR empty raises it */
			s->ier = val & 0x0f;
		}
		break;
	case UART_FCR:
		s->fcr = val;
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		s->mcr = val & 0x1f;
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default:                                  /* LSR, MSR (factory test) and beyond: ignored */
		break;
	}
	serial_update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	serial_flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_destroy(struct serial *s)
{
	serial_flush(s);
	pthread_mutex_destroy(&s->lock);
}
