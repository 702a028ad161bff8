/* ckpt.c - the checkpoint file (<root>/checkpoint, 4096 bytes).
 *
 * Owns the checkpoint format. Does not own when it is written (dispatch.c, store.c).
 * Threads: called by one thread at a time (the dispatcher, or open/close).
 *
 *   off  size  field
 *     0    8   physicMsgTimestamp   (RocketMQ field; store time at the flushed end)
 *     8    8   logicsMsgTimestamp   (RocketMQ field; store time at the dispatched end)
 *    16    8   indexMsgTimestamp    (RocketMQ field; 0 until the index exists)
 *    24   16   zero                 (RocketMQ 5.x masterFlushedOffset, confirmPhyOffset)
 *   512   64   slot 0 } written alternately (slot = seq % 2), so a torn write of one slot
 *  1024   64   slot 1 }   leaves the other intact
 *
 * Slot v2 (written), 96 bytes:
 *     0  8  magic "KITECKP2"
 *     8  8  seq
 *    16  8  cl_flushed       commit log durable and validated below this offset
 *    24  8  cq_dispatched    consume-queue units AND index entries of every record below it
 *                            are durable
 *    32  8  physic_ts
 *    40  8  logics_ts
 *    48  8  index_ts
 *    56  8  ix_file          number of the newest index file at that moment (-1: none)
 *    64  8  ix_count         its durable indexCount (next entry number)
 *    72  8  ix_end_phys      its header endPhyOffset
 *    80  8  ix_end_ts        its header endTimestamp
 *    88  4  CRC-32 of bytes 0..87
 *    92  4  zero
 * Slot v1 ("KITECKP1", stage 2 stores): the first 56 bytes as above, CRC of 0..55 at 56;
 * it carries no index state, so the index is rebuilt (ix_file = -2 after reading).
 * Reading picks the valid slot with the larger seq. All integers big-endian.
 * See docs/store-format.md, "Checkpoint". */
#include "store/store_int.h"
#include "base/buf.h"
#include "base/crc32.h"
#include "base/err.h"
#include "base/log.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#define CKPT_SIZE 4096
#define SLOT_SIZE 96
static const char ckpt_magic1[8] = { 'K', 'I', 'T', 'E', 'C', 'K', 'P', '1' };
static const char ckpt_magic2[8] = { 'K', 'I', 'T', 'E', 'C', 'K', 'P', '2' };

static int64_t slot_off(int64_t seq) { return (seq % 2) ? 1024 : 512; }

static int parse_slot(const uint8_t *p, kite_ckpt *out)
{
    int v2 = memcmp(p, ckpt_magic2, 8) == 0;
    if (!v2 && memcmp(p, ckpt_magic1, 8) != 0) return KITE_ECORRUPT;
    if (v2 ? kite_rd_be32(p + 88) != kite_crc32(p, 88) : kite_rd_be32(p + 56) != kite_crc32(p, 56))
        return KITE_ECORRUPT;
    out->ix_file = v2 ? (int64_t)kite_rd_be64(p + 56) : -2;
    out->ix_count = v2 ? (int64_t)kite_rd_be64(p + 64) : 0;
    out->ix_end_phys = v2 ? (int64_t)kite_rd_be64(p + 72) : 0;
    out->ix_end_ts = v2 ? (int64_t)kite_rd_be64(p + 80) : 0;
    out->seq = (int64_t)kite_rd_be64(p + 8);
    out->cl_flushed = (int64_t)kite_rd_be64(p + 16);
    out->cq_dispatched = (int64_t)kite_rd_be64(p + 24);
    out->physic_ts = (int64_t)kite_rd_be64(p + 32);
    out->logics_ts = (int64_t)kite_rd_be64(p + 40);
    out->index_ts = (int64_t)kite_rd_be64(p + 48);
    return out->cl_flushed >= 0 && out->cq_dispatched >= 0 ? 0 : KITE_ECORRUPT;
}

int kite_ckpt_read(kite_io *io, const char *path, kite_ckpt *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->ix_file = -2;
    int fd = io->ops->open(io, path, O_RDONLY, 0);
    if (fd == KITE_ENOTFOUND) return KITE_ENOTFOUND;
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, kite_strerror(fd));
        return KITE_EIO;
    }
    uint8_t b[CKPT_SIZE];
    memset(b, 0, sizeof b);
    ssize_t n = io->ops->pread(io, fd, b, sizeof b, 0);
    io->ops->close(io, fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, kite_strerror((int)n));
        return KITE_EIO;
    }
    kite_ckpt a, c;
    int va = parse_slot(b + 512, &a) == 0, vc = parse_slot(b + 1024, &c) == 0;
    if (!va && !vc) {
        /* Slots alternate, so a completed write is only overwritten after the next one
         * completed: two invalid slots mean no write ever completed (e.g. a crash during
         * the first). Recovery then trusts nothing and validates from the start. */
        if (n > 0)
            KLOG_WARN("store", "%s: no complete checkpoint; recovering from the start", path);
        return KITE_ENOTFOUND;
    }
    *out = (va && (!vc || a.seq > c.seq)) ? a : c;
    return 0;
}

int kite_ckpt_open(kite_io *io, const char *path, int *fd)
{
    *fd = io->ops->open(io, path, O_RDWR | O_CREAT, 0644);
    return *fd < 0 ? *fd : 0;
}

int kite_ckpt_write(kite_io *io, int fd, kite_ckpt *ck)
{
    ck->seq++;
    uint8_t hdr[40], slot[SLOT_SIZE];
    memset(hdr, 0, sizeof hdr);
    kite_wr_be64(hdr, (uint64_t)ck->physic_ts);
    kite_wr_be64(hdr + 8, (uint64_t)ck->logics_ts);
    kite_wr_be64(hdr + 16, (uint64_t)ck->index_ts);
    memset(slot, 0, sizeof slot);
    memcpy(slot, ckpt_magic2, 8);
    kite_wr_be64(slot + 8, (uint64_t)ck->seq);
    kite_wr_be64(slot + 16, (uint64_t)ck->cl_flushed);
    kite_wr_be64(slot + 24, (uint64_t)ck->cq_dispatched);
    kite_wr_be64(slot + 32, (uint64_t)ck->physic_ts);
    kite_wr_be64(slot + 40, (uint64_t)ck->logics_ts);
    kite_wr_be64(slot + 48, (uint64_t)ck->index_ts);
    kite_wr_be64(slot + 56, (uint64_t)ck->ix_file);
    kite_wr_be64(slot + 64, (uint64_t)ck->ix_count);
    kite_wr_be64(slot + 72, (uint64_t)ck->ix_end_phys);
    kite_wr_be64(slot + 80, (uint64_t)ck->ix_end_ts);
    kite_wr_be32(slot + 88, kite_crc32(slot, 88));
    int64_t sz = io->ops->size(io, fd);
    if (sz >= 0 && sz < CKPT_SIZE) {
        int rc = io->ops->truncate(io, fd, CKPT_SIZE);
        if (rc < 0) return rc;
    }
    ssize_t w = io->ops->pwrite(io, fd, hdr, sizeof hdr, 0);
    if (w >= 0) w = io->ops->pwrite(io, fd, slot, sizeof slot, slot_off(ck->seq));
    if (w < 0) return (int)w;
    return io->ops->datasync(io, fd);
}
