/* store_conf.c - store keys of broker.conf (Java names and defaults) and their resolution
 * into kite_store_opts. Owns the key table; does not parse files. Plain data, no threads. */
#include "store/store_conf.h"
#include "base/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFF(f) offsetof(kite_store_conf, f)
const kite_prop_def kite_store_conf_defs[] = {
    { "storePathRootDir", KITE_PROP_STR, OFF(store_path_root_dir), "$HOME/store",
      "store root directory" },
    { "storePathCommitLog", KITE_PROP_STR, OFF(store_path_commit_log), "",
      "commit log directory (empty: <root>/commitlog)" },
    { "mappedFileSizeCommitLog", KITE_PROP_LONG, OFF(mapped_file_size_commit_log), "1073741824",
      "bytes per commit log file" },
    { "mappedFileSizeConsumeQueue", KITE_PROP_INT, OFF(mapped_file_size_consume_queue), "6000000",
      "bytes per consume queue file (multiple of 20)" },
    { "flushDiskType", KITE_PROP_STR, OFF(flush_disk_type), "ASYNC_FLUSH",
      "ASYNC_FLUSH or SYNC_FLUSH" },
    { "flushIntervalCommitLog", KITE_PROP_INT, OFF(flush_interval_commit_log), "500",
      "ASYNC_FLUSH: ms between flushes" },
    { "flushCommitLogLeastPages", KITE_PROP_INT, OFF(flush_commit_log_least_pages), "4",
      "ASYNC_FLUSH: dirty 4 KiB pages needed to flush" },
    { "flushCommitLogThoroughInterval", KITE_PROP_INT, OFF(flush_commit_log_thorough_interval),
      "10000", "ASYNC_FLUSH: ms after which any dirty data is flushed" },
    { "flushIntervalConsumeQueue", KITE_PROP_INT, OFF(flush_interval_consume_queue), "1000",
      "ms between consume queue flushes and checkpoints" },
    { "syncFlushTimeout", KITE_PROP_LONG, OFF(sync_flush_timeout), "5000",
      "SYNC_FLUSH: ms before a put answers FLUSH_DISK_TIMEOUT" },
    { "deleteWhen", KITE_PROP_STR, OFF(delete_when), "04",
      "hours (\"04;05\") when expired files are deleted" },
    { "fileReservedTime", KITE_PROP_INT, OFF(file_reserved_time), "72",
      "hours a commit log file is kept" },
    { "diskMaxUsedSpaceRatio", KITE_PROP_INT, OFF(disk_max_used_space_ratio), "75",
      "disk use percent that triggers deletion" },
    { "maxMessageSize", KITE_PROP_INT, OFF(max_message_size), "4194304",
      "largest accepted body in bytes" },
    { "checkCRCOnRecover", KITE_PROP_BOOL, OFF(check_crc_on_recover), "true",
      "verify body CRCs during recovery" },
    { "messageIndexEnable", KITE_PROP_BOOL, OFF(message_index_enable), "true",
      "build the key/unique-key index" },
    { "maxHashSlotNum", KITE_PROP_INT, OFF(max_hash_slot_num), "5000000",
      "hash slots per index file" },
    { "maxIndexNum", KITE_PROP_INT, OFF(max_index_num), "20000000", "entries per index file" },
    { "diskSpaceCleanForciblyRatio", KITE_PROP_INT, OFF(disk_space_clean_forcibly_ratio), "85",
      "disk use percent above which the oldest files are deleted even if not expired" },
    { "diskSpaceWarningLevelRatio", KITE_PROP_INT, OFF(disk_space_warning_level_ratio), "90",
      "disk use percent above which puts are refused" },
    { "cleanFileForciblyEnable", KITE_PROP_BOOL, OFF(clean_file_forcibly_enable), "true",
      "allow deleting unexpired files when the disk is nearly full" },
    { "cleanResourceInterval", KITE_PROP_INT, OFF(clean_resource_interval), "10000",
      "ms between retention checks" },
    { "deleteFileBatchMax", KITE_PROP_INT, OFF(delete_file_batch_max), "10",
      "commit log files deleted per retention round at most" },
    { NULL, KITE_PROP_STR, 0, NULL, NULL },
};

void kite_store_opts_default(kite_store_opts *o)
{
    memset(o, 0, sizeof *o);
    const char *home = getenv("HOME");
    snprintf(o->root_dir, sizeof o->root_dir, "%s/store", home ? home : ".");
    o->cl_file_size = 1073741824LL;
    o->cq_file_size = 6000000;
    o->flush_type = KITE_FLUSH_ASYNC;
    o->flush_interval_ms = 500;
    o->flush_least_pages = 4;
    o->flush_thorough_interval_ms = 10000;
    o->cq_flush_interval_ms = 1000;
    o->sync_flush_timeout_ms = 5000;
    snprintf(o->delete_when, sizeof o->delete_when, "04");
    o->file_reserved_hours = 72;
    o->disk_max_used_ratio = 75;
    o->max_message_size = 4194304;
    o->check_crc_on_recover = 1;
    o->disk_full_retry_ms = 1000;
    o->index_enable = 1;
    o->index_slots = 5000000;
    o->index_entries = 20000000;
    o->disk_clean_forcibly_ratio = 85;
    o->disk_warning_ratio = 90;
    o->clean_forcibly_enable = 1;
    o->clean_interval_ms = 10000;
    o->clean_first_delay_ms = 60000;
    o->delete_batch_max = 10;
    o->warm_files = -1;
    o->store_ip4[0] = 127;
    o->store_ip4[3] = 1;
    o->store_port = 10911;
}

static int expand(const char *in, char *out, size_t cap)
{
    const char *home = getenv("HOME");
    int n;
    if (strncmp(in, "$HOME", 5) == 0)
        n = snprintf(out, cap, "%s%s", home ? home : ".", in + 5);
    else if (in[0] == '~' && (in[1] == '/' || in[1] == 0))
        n = snprintf(out, cap, "%s%s", home ? home : ".", in + 1);
    else
        n = snprintf(out, cap, "%s", in);
    return n < 0 || (size_t)n >= cap ? KITE_EINVAL : 0;
}

int kite_store_opts_check(const kite_store_opts *o, char *err, size_t errlen)
{
    if (o->cl_file_size < 4096 || o->cl_file_size % 4096 != 0 || o->cl_file_size > (1LL << 40)) {
        snprintf(err, errlen,
                 "mappedFileSizeCommitLog: %lld must be a multiple of 4096 in [4096, 2^40]",
                 (long long)o->cl_file_size);
        return KITE_EINVAL;
    }
    if (o->cq_file_size < 20 || o->cq_file_size % 20 != 0) {
        snprintf(err, errlen, "mappedFileSizeConsumeQueue: %lld must be a positive multiple of 20",
                 (long long)o->cq_file_size);
        return KITE_EINVAL;
    }
    if (o->max_message_size <= 0) {
        snprintf(err, errlen, "maxMessageSize: must be positive");
        return KITE_EINVAL;
    }
    if (o->index_enable && (o->index_slots < 1 || o->index_slots > 100000000 ||
                            o->index_entries < 2 || o->index_entries > 100000000)) {
        snprintf(err, errlen, "maxHashSlotNum/maxIndexNum: %lld/%lld out of range [1|2, 10^8]",
                 (long long)o->index_slots, (long long)o->index_entries);
        return KITE_EINVAL;
    }
    if (o->clean_interval_ms <= 0 || o->delete_batch_max <= 0) {
        snprintf(err, errlen, "cleanResourceInterval and deleteFileBatchMax must be positive");
        return KITE_EINVAL;
    }
    if (o->sync_flush_timeout_ms <= 0 || o->flush_interval_ms <= 0 ||
        o->cq_flush_interval_ms <= 0) {
        snprintf(err, errlen, "flush intervals and syncFlushTimeout must be positive");
        return KITE_EINVAL;
    }
    return 0;
}

int kite_store_conf_resolve(const kite_store_conf *c, kite_store_opts *o, char *err, size_t errlen)
{
    if (c->store_path_root_dir && c->store_path_root_dir[0] &&
        expand(c->store_path_root_dir, o->root_dir, sizeof o->root_dir) < 0) {
        snprintf(err, errlen, "storePathRootDir: path too long");
        return KITE_EINVAL;
    }
    o->commitlog_dir[0] = 0;
    if (c->store_path_commit_log && c->store_path_commit_log[0]) {
        if (strchr(c->store_path_commit_log, ',')) {
            snprintf(err, errlen, "storePathCommitLog: several directories are not supported");
            return KITE_EINVAL;
        }
        if (expand(c->store_path_commit_log, o->commitlog_dir, sizeof o->commitlog_dir) < 0) {
            snprintf(err, errlen, "storePathCommitLog: path too long");
            return KITE_EINVAL;
        }
    }
    o->cl_file_size = c->mapped_file_size_commit_log;
    o->cq_file_size = (int64_t)c->mapped_file_size_consume_queue / 20 * 20;
    const char *ft = c->flush_disk_type ? c->flush_disk_type : "ASYNC_FLUSH";
    if (strcasecmp(ft, "ASYNC_FLUSH") == 0)
        o->flush_type = KITE_FLUSH_ASYNC;
    else if (strcasecmp(ft, "SYNC_FLUSH") == 0)
        o->flush_type = KITE_FLUSH_SYNC;
    else {
        snprintf(err, errlen, "flushDiskType: '%s' is not ASYNC_FLUSH or SYNC_FLUSH", ft);
        return KITE_EINVAL;
    }
    o->flush_interval_ms = c->flush_interval_commit_log;
    o->flush_least_pages = c->flush_commit_log_least_pages;
    o->flush_thorough_interval_ms = c->flush_commit_log_thorough_interval;
    o->cq_flush_interval_ms = c->flush_interval_consume_queue;
    if (c->sync_flush_timeout <= 0 || c->sync_flush_timeout > 3600000) {
        snprintf(err, errlen, "syncFlushTimeout: %lld out of range",
                 (long long)c->sync_flush_timeout);
        return KITE_EINVAL;
    }
    o->sync_flush_timeout_ms = (int)c->sync_flush_timeout;
    snprintf(o->delete_when, sizeof o->delete_when, "%s", c->delete_when ? c->delete_when : "04");
    o->file_reserved_hours = c->file_reserved_time;
    if (c->disk_max_used_space_ratio < 10 || c->disk_max_used_space_ratio > 95) {
        snprintf(err, errlen, "diskMaxUsedSpaceRatio: %d must be in [10, 95]",
                 c->disk_max_used_space_ratio);
        return KITE_EINVAL;
    }
    o->disk_max_used_ratio = c->disk_max_used_space_ratio;
    o->max_message_size = c->max_message_size;
    o->check_crc_on_recover = c->check_crc_on_recover;
    /* Keys a caller's table may not carry (0 = keep the default in *o). */
    o->index_enable = c->message_index_enable;
    if (c->max_hash_slot_num > 0) o->index_slots = c->max_hash_slot_num;
    if (c->max_index_num > 0) o->index_entries = c->max_index_num;
    if (c->disk_space_clean_forcibly_ratio > 0) {
        if (c->disk_space_clean_forcibly_ratio > 99) {
            snprintf(err, errlen, "diskSpaceCleanForciblyRatio: %d must be in [1, 99]",
                     c->disk_space_clean_forcibly_ratio);
            return KITE_EINVAL;
        }
        o->disk_clean_forcibly_ratio = c->disk_space_clean_forcibly_ratio;
    }
    if (c->disk_space_warning_level_ratio > 0) {
        if (c->disk_space_warning_level_ratio > 99) {
            snprintf(err, errlen, "diskSpaceWarningLevelRatio: %d must be in [1, 99]",
                     c->disk_space_warning_level_ratio);
            return KITE_EINVAL;
        }
        o->disk_warning_ratio = c->disk_space_warning_level_ratio;
    }
    o->clean_forcibly_enable = c->clean_file_forcibly_enable;
    if (c->clean_resource_interval > 0) o->clean_interval_ms = c->clean_resource_interval;
    if (c->delete_file_batch_max > 0) o->delete_batch_max = c->delete_file_batch_max;
    return kite_store_opts_check(o, err, errlen);
}
