/* store_conf.h - the store's broker.conf keys and the resolved options the store runs on.
 *
 * Owns: kite_store_conf (the typed broker.conf view of the store keys, Java spellings in
 * kite_store_conf_defs[]), kite_store_opts (what kite_store_open takes: resolved paths,
 * enums, numbers) and the conversion between them with validation.
 * Does not own: parsing .properties text (base/props.c) - the broker merges
 * kite_store_conf_defs into its own table. Threads: plain data. Keys: docs/store-format.md. */
#ifndef KITE_STORE_CONF_H
#define KITE_STORE_CONF_H

#include "base/props.h"
#include <stddef.h>
#include <stdint.h>

struct kite_io;

typedef struct kite_store_conf {
    char *store_path_root_dir;   /* storePathRootDir */
    char *store_path_commit_log; /* storePathCommitLog ("" = <root>/commitlog) */
    int64_t mapped_file_size_commit_log;
    int32_t mapped_file_size_consume_queue; /* bytes; rounded down to a multiple of 20 */
    char *flush_disk_type;                  /* ASYNC_FLUSH | SYNC_FLUSH */
    int32_t flush_interval_commit_log;      /* ms */
    int32_t flush_commit_log_least_pages;
    int32_t flush_commit_log_thorough_interval; /* ms */
    int32_t flush_interval_consume_queue;       /* ms: CQ flush + checkpoint */
    int64_t sync_flush_timeout;                 /* ms */
    char *delete_when;                          /* "04" or "04;05" */
    int32_t file_reserved_time;                 /* hours */
    int32_t disk_max_used_space_ratio;          /* percent */
    int32_t max_message_size;                   /* bytes of body */
    int check_crc_on_recover;
    int message_index_enable;                /* messageIndexEnable */
    int32_t max_hash_slot_num;               /* maxHashSlotNum: index slots per file */
    int32_t max_index_num;                   /* maxIndexNum: index entries per file */
    int32_t disk_space_clean_forcibly_ratio; /* diskSpaceCleanForciblyRatio, percent */
    int32_t disk_space_warning_level_ratio;  /* diskSpaceWarningLevelRatio, percent */
    int clean_file_forcibly_enable;          /* cleanFileForciblyEnable */
    int32_t clean_resource_interval;         /* cleanResourceInterval, ms */
    int32_t delete_file_batch_max;           /* deleteFileBatchMax */
} kite_store_conf;

/* Table of the keys above (ends with a NULL key). */
extern const kite_prop_def kite_store_conf_defs[];

typedef enum { KITE_FLUSH_ASYNC = 0, KITE_FLUSH_SYNC = 1 } kite_flush_type;

typedef struct kite_store_opts {
    char root_dir[1024];
    char commitlog_dir[1024];
    int64_t cl_file_size;
    int64_t cq_file_size; /* multiple of 20 */
    kite_flush_type flush_type;
    int flush_interval_ms;
    int flush_least_pages;
    int flush_thorough_interval_ms;
    int cq_flush_interval_ms;
    int sync_flush_timeout_ms;
    char delete_when[64];
    int file_reserved_hours;
    int disk_max_used_ratio;
    int max_message_size;
    int check_crc_on_recover;
    int disk_full_retry_ms; /* ENOSPC: how often a put retries allocation (default 1000) */
    /* index (docs/store-format.md, "Index files") */
    int index_enable;      /* messageIndexEnable (default 1) */
    int64_t index_slots;   /* maxHashSlotNum (default 5,000,000) */
    int64_t index_entries; /* maxIndexNum (default 20,000,000) */
    /* retention (docs/store-format.md, "Retention") */
    int disk_clean_forcibly_ratio; /* percent; above it the oldest files go even if not expired (85) */
    int disk_warning_ratio;        /* percent; above it puts are refused with DISK_FULL (90) */
    int clean_forcibly_enable;     /* cleanFileForciblyEnable (default 1) */
    int clean_interval_ms;         /* retention check period (cleanResourceInterval, 10000) */
    int clean_first_delay_ms;      /* first check after open (60000; tests use less) */
    int delete_batch_max;          /* commit-log files deleted per round at most (10) */
    /* Allocation service (docs/store-format.md, "Performance"): the next commit-log file
     * is created in the background. 1 on, 0 off, -1 (default) on when cl_file_size >= 16 MiB. */
    int warm_files;
    /* 1 = kite_store_put stages records in memory and holds their callbacks; the caller
     * calls kite_store_kick once per batch of puts, which writes the batch with one pwrite,
     * runs the callbacks (SYNC_FLUSH puts that wait: queues them for the group sync) and
     * wakes the dispatch thread once. An event-loop caller wants this: one write call per
     * batch, and a woken dispatch thread would preempt the loop before the answers are
     * sent (measured: the p99 send latency). 0 (default) = every put is written before it
     * returns. */
    int batch_puts;
    /* 1 = a replica (brokerRole=SLAVE): kite_store_put refuses every message with
     * SERVICE_NOT_AVAILABLE; the commit log grows only through kite_store_append_raw
     * (store.h, "replication"). 0 (default) = a master. */
    int replica;
    /* Wall clock used by retention ("now" and the deleteWhen hour); NULL = the real clock.
     * Tests move time forward with it instead of waiting hours. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    uint8_t store_ip4[4]; /* STOREHOST written into records (brokerIP1, listenPort) */
    int32_t store_port;
    struct kite_io *io; /* NULL = POSIX; tests pass a fault seam */
} kite_store_opts;

/* Defaults (RocketMQ's, with root "$HOME/store"). */
void kite_store_opts_default(kite_store_opts *o);
/* Resolves a conf into opts (paths expanded, enums parsed, sizes checked). Returns 0, or
 * KITE_EINVAL with "key: reason" in err. Fields not in the conf keep their value in *o. */
int kite_store_conf_resolve(const kite_store_conf *c, kite_store_opts *o, char *err, size_t errlen);
/* Checks opts for sizes the store cannot work with; 0 or KITE_EINVAL with err. */
int kite_store_opts_check(const kite_store_opts *o, char *err, size_t errlen);

#endif
