/* file.h - whole-file helpers for metadata: read all, write atomically (temporary
 * file, fsync, rename, fsync of the directory), make directories.
 * A metadata file written this way is either the old or the new content after a
 * crash, never half of each. Stateless; thread-safe for different paths. */
#ifndef KITE_BASE_FILE_H
#define KITE_BASE_FILE_H
#include "base/err.h"
#include <stddef.h>

/* Reads the whole file into a malloc'd NUL-terminated buffer. Returns 0, or a kite_status
 * (KITE_ENOTFOUND when missing). Refuses files larger than max_len with KITE_ETOOBIG. */
int kite_file_read_all(const char *path, size_t max_len, char **out, size_t *len);
/* Writes data to path via "<path>.tmp": write, fsync, rename, fsync(dir). Returns 0
 * or a kite_status; on failure the previous content of path is untouched. */
int kite_file_write_atomic(const char *path, const void *data, size_t len);
/* mkdir -p for the directory part of path (up to the last '/'). Returns 0 or a kite_status. */
int kite_mkdirs_for(const char *path);
/* mkdir -p dir. Returns 0 or a kite_status. */
int kite_mkdirs(const char *dir);

#endif
