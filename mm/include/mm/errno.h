/*
 * mm/errno.h — error numbers returned by mm/ as negative values (0 / -MM_Exxx).
 *
 * mm/ is freestanding and cannot include <errno.h>; the values are Linux's, so on a Linux host
 * -MM_EINVAL == -EINVAL and callers may compare with either.
 */
#ifndef MM_ERRNO_H
#define MM_ERRNO_H

#define MM_ENOENT   2
#define MM_ENOMEM  12
#define MM_EFAULT  14
#define MM_EBUSY   16
#define MM_EEXIST  17
#define MM_EINVAL  22
#define MM_ENOSPC  28
#define MM_ERANGE  34
#define MM_EUCLEAN 117   /* consistency check found corrupted state */
#define MM_EAGAIN  11    /* resource limit that may clear later (e.g. memlock) */
#define MM_EACCES  13    /* permission refused (e.g. mprotect beyond VM_MAY*) */

#endif /* MM_ERRNO_H */
