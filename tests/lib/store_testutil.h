/* store_testutil.h - helpers shared by the store's tests: scratch directories,
 * deterministic messages that can be re-derived from their sequence number, and a full
 * commit-log walk that validates every record. Test code only. */
#ifndef KITE_TESTS_STORE_TESTUTIL_H
#define KITE_TESTS_STORE_TESTUTIL_H

#include "kt.h" /* KT_DEADLINE_MS */
#include "store/store.h"
#include <stddef.h>
#include <stdint.h>

/* Fresh empty directory $KITE_TMP/<name>-<pid>-<n> (malloc'ed path; free it). */
char *kt_tmpdir(const char *name);
void kt_rmrf(const char *path);
/* Test options: small files, the given flush mode. */
void kt_opts(kite_store_opts *o, const char *dir, int sync, int64_t cl_size, int64_t cq_size);

/* A message whose body encodes seq; body length varies with seq in [min_len, max_len]. */
typedef struct kt_msg {
    kite_store_msg m;
    char topic[64];
    char props[128];
    uint8_t body[8192];
} kt_msg;
void kt_msg_make(kt_msg *k, uint64_t seq, const char *topic, int32_t qid, int min_len, int max_len);
/* Checks that rec (a stored record) is message seq as made by kt_msg_make. 0 = ok. */
int kt_msg_check(const uint8_t *rec, uint32_t len, uint64_t seq, const char *topic, int32_t qid,
                 int min_len, int max_len);
/* Walks the commit log from its min to its readable end, validating every record (CRC,
 * offsets). Returns the number of records, or -1 (with a message on stderr). */
long kt_walk_log(kite_store *s);
/* Runs $KITE_BIN/kite-fsck on a closed store directory; returns its exit code (0 = clean)
 * and prints its report on failure. kt_fsck_rmrf also removes the directory when clean
 * (and leaves it for inspection otherwise). */
int kt_fsck(const char *dir);
int kt_fsck_rmrf(const char *dir);
/* Store-time callback for tests that only count. */
void kt_quiet_logs(void);

#endif
