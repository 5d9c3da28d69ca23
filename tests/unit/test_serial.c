/*
 * test_serial.c — the 16550A model (vmm/serial.c) driven the way guests drive it, with output
 * captured through a pipe; and the KVM exit-reason names (vmm/exit_reason.c).
 */
#include <linux/kvm.h>
#include <linux/serial_reg.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "exit_reason.h"
#include "mvtest.h"
#include "serial.h"

struct fixture {
	struct serial s;
	int pipefd[2];
	int irq_changes;
	bool irq;
};

static void record_irq(void *opaque, bool level)
{
	struct fixture *f = opaque;

	f->irq = level;
	f->irq_changes++;
}

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	CHECK_EQ(pipe(f->pipefd), 0);
	serial_init(&f->s, f->pipefd[1], record_irq, f);
}

/* Flush, close the write end and return everything written (NUL-terminated). */
static const char *fixture_output(struct fixture *f)
{
	static char out[4096];
	size_t len = 0;
	ssize_t n;

	serial_destroy(&f->s);
	close(f->pipefd[1]);
	while ((n = read(f->pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(f->pipefd[0]);
	return out;
}

static void put(struct fixture *f, const char *str)
{
	for (; *str; str++) {
		while (!(serial_read(&f->s, UART_LSR) & UART_LSR_THRE))
			;
		serial_write(&f->s, UART_TX, (uint8_t)*str);
	}
}

TEST(thr_writes_reach_the_output_in_order)
{
	struct fixture f;

	fixture_init(&f);
	put(&f, "hello\nno newline");
	CHECK_EQ_U(f.s.tx_bytes, 16);
	CHECK_STREQ(fixture_output(&f), "hello\nno newline");
}

TEST(lsr_always_reports_transmitter_empty_and_no_data)
{
	struct fixture f;

	fixture_init(&f);
	CHECK_EQ_U(serial_read(&f.s, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	serial_write(&f.s, UART_TX, 'x');
	CHECK_EQ_U(serial_read(&f.s, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	CHECK_EQ_U(serial_read(&f.s, UART_RX), 0);
	fixture_output(&f);
}

TEST(divisor_latch_and_scratch_are_kept_apart_from_thr_and_ier)
{
	struct fixture f;

	fixture_init(&f);
	serial_write(&f.s, UART_LCR, UART_LCR_DLAB | 0x03);
	serial_write(&f.s, UART_DLL, 0x01);         /* 115200 baud */
	serial_write(&f.s, UART_DLM, 0x00);
	CHECK_EQ_U(serial_read(&f.s, UART_DLL), 0x01);
	CHECK_EQ_U(serial_read(&f.s, UART_DLM), 0x00);
	serial_write(&f.s, UART_LCR, 0x03);
	CHECK_EQ_U(serial_read(&f.s, UART_IER), 0);
	serial_write(&f.s, UART_SCR, 0x5a);
	CHECK_EQ_U(serial_read(&f.s, UART_SCR), 0x5a);
	CHECK_EQ_U(f.s.tx_bytes, 0);                /* DLL writes are not output */
	CHECK_STREQ(fixture_output(&f), "");
}

TEST(loopback_maps_modem_outputs_as_linux_8250_probe_expects)
{
	struct fixture f;

	fixture_init(&f);
	serial_write(&f.s, UART_MCR, UART_MCR_LOOP | 0x0a);     /* RTS | OUT2 */
	CHECK_EQ_U(serial_read(&f.s, UART_MSR) & 0xf0, 0x90);   /* CTS | DCD */
	serial_write(&f.s, UART_TX, 'L');                        /* stays inside */
	serial_write(&f.s, UART_MCR, UART_MCR_OUT2);
	CHECK_EQ_U(serial_read(&f.s, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
	CHECK_STREQ(fixture_output(&f), "");
}

TEST(thr_empty_interrupt_raised_on_enable_and_after_each_byte_acked_by_iir)
{
	struct fixture f;

	fixture_init(&f);
	CHECK_EQ_U(serial_read(&f.s, UART_IIR), UART_IIR_NO_INT);
	CHECK(!f.irq);
	serial_write(&f.s, UART_IER, UART_IER_THRI);
	CHECK(f.irq);
	CHECK_EQ_U(serial_read(&f.s, UART_IIR), UART_IIR_THRI);
	CHECK(!f.irq);
	CHECK_EQ_U(serial_read(&f.s, UART_IIR), UART_IIR_NO_INT);
	serial_write(&f.s, UART_TX, 'a');
	CHECK(f.irq);
	serial_write(&f.s, UART_IER, 0);
	CHECK(!f.irq);
	CHECK_EQ(f.irq_changes, 4);
	serial_write(&f.s, UART_FCR, UART_FCR_ENABLE_FIFO);
	CHECK_EQ_U(serial_read(&f.s, UART_IIR), 0xc0 | UART_IIR_NO_INT);
	CHECK_STREQ(fixture_output(&f), "a");
}

TEST(long_lines_are_passed_on_when_the_buffer_fills)
{
	struct fixture f;
	char line[SERIAL_BUF + 100];

	fixture_init(&f);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	put(&f, line);
	CHECK_EQ(f.s.len, 99);          /* one full buffer went out, the rest waits */
	CHECK_EQ((long long)strlen(fixture_output(&f)), (long long)sizeof(line) - 1);
}

TEST(write_errors_are_recorded_not_fatal)
{
	struct fixture f;

	fixture_init(&f);
	close(f.pipefd[0]);             /* reader gone: EPIPE (SIGPIPE ignored below) */
	signal(SIGPIPE, SIG_IGN);
	put(&f, "lost\n");
	CHECK_EQ(f.s.write_error, EPIPE);
	put(&f, "also lost\n");
	serial_destroy(&f.s);
	close(f.pipefd[1]);
}

TEST(exit_reasons_have_their_uapi_names)
{
	CHECK_STREQ(kvm_exit_reason_name(KVM_EXIT_IO), "KVM_EXIT_IO");
	CHECK_STREQ(kvm_exit_reason_name(KVM_EXIT_SHUTDOWN), "KVM_EXIT_SHUTDOWN");
	CHECK_STREQ(kvm_exit_reason_name(KVM_EXIT_INTERNAL_ERROR), "KVM_EXIT_INTERNAL_ERROR");
	CHECK_STREQ(kvm_exit_reason_name(KVM_EXIT_NOTIFY), "KVM_EXIT_NOTIFY");
	CHECK_STREQ(kvm_exit_reason_name(1000), "unknown exit reason");
	for (uint32_t r = 0; r <= KVM_EXIT_NOTIFY; r++)
		CHECK_CONTAINS(kvm_exit_reason_name(r), "KVM_EXIT_");
}
