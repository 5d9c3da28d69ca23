/*
 * error.h — how vmm/ code reports bad input. A failing function records a message naming the
 * problem with mv_fail() and returns its result (-errno); the caller that decides what to do
 * (main, a QMP command, a test) reads it with mv_error(). One message per thread, overwritten by
 * the next failure; nothing here allocates, so it is safe on any path, including the fuzzers'.
 */
#ifndef MV_ERROR_H
#define MV_ERROR_H

/* Record "fmt..." as this thread's error and return -err (err is a positive errno). */
__attribute__((format(printf, 2, 3))) int mv_fail(int err, const char *fmt, ...);

/*
 * Put "prefix: " in front of this thread's message (a failure of ret < 0 just recorded, e.g. to
 * name the file it was about) and return ret. ret 0 or prefix NULL: nothing changes.
 */
int mv_fail_prefix(int ret, const char *prefix);

/* This thread's last recorded message ("" if none). */
const char *mv_error(void);

/* Forget the last message (tests use it to check that a call recorded a new one). */
void mv_error_clear(void);

#endif /* MV_ERROR_H */
