/* err.h - the status codes inside KiteMQ: the public enum plus the errno conversion.
 *
 * Owns: kite_status_from_errno, the one conversion from errno to a kite_status. The
 * enum itself and kite_strerror are defined once, in include/kite/status.h (shared by
 * libkite and the servers). Rule: a function that makes a system call converts errno
 * here, at that seam, and returns a kite_status; no function returns -errno.
 * Not owned: wire response codes (src/proto/codes.h) - those are numbers of the
 * RocketMQ protocol. Thread-safe: static data only. */
#ifndef KITE_BASE_ERR_H
#define KITE_BASE_ERR_H

#include "kite/status.h"

/* The status closest to errno value err (0 gives KITE_OK). An errno with no code of its
 * own (EACCES, EMFILE, EROFS, ...) gives KITE_EIO. */
kite_status kite_status_from_errno(int err);
/* kite_status_from_errno for a failed system call op on what (a path; "" when there is
 * none). When the status would hide the cause (KITE_EIO for an errno other than EIO) it
 * logs "op what: <system text>" as an error first. For seams whose callers only see the
 * status (the store's I/O seam, base/file.c). */
kite_status kite_status_from_errno_at(int err, const char *op, const char *what);

#endif
