/*
 * error.c — the per-thread error message behind mv_fail()/mv_error() (error.h). No locks: each
 * thread owns its buffer.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char mv_error_buf[512];

int mv_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mv_error_buf, sizeof(mv_error_buf), fmt, ap);
	va_end(ap);
	return -err;
}

const char *mv_error(void)
{
	return mv_error_buf;
}

void mv_error_clear(void)
{
	mv_error_buf[0] = '\0';
}
