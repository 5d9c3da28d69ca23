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

int mv_fail_prefix(int ret, const char *prefix)
{
	char why[sizeof(mv_error_buf)];

	if (ret == 0 || !prefix)
		return ret;
	snprintf(why, sizeof(why), "%s", mv_error_buf);      /* mv_fail() rewrites the buffer */
	return mv_fail(-ret, "%s: %s", prefix, why);
}

const char *mv_error(void)
{
	return mv_error_buf;
}

void mv_error_clear(void)
{
	mv_error_buf[0] = '\0';
}
