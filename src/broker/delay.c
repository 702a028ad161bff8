/* delay.c - delay levels and the schedule service (docs/wire.md §11.1).
 *
 * A message with property DELAY=n is stored in SCHEDULE_TOPIC_XXXX, queue n-1, with
 * REAL_TOPIC/REAL_QID saved (p_send.c). This service walks each level's queue in order
 * from its saved offset; a record is due at its store time + the level's delay. A due
 * record is re-stored in its real topic and queue, DELAY removed (REAL_TOPIC/REAL_QID
 * kept, as Java does), body/flag/born data/reconsume count unchanged; the level's offset
 * advances only after that put was accepted. Progress is saved to
 * config/delayOffset.json ({"offsetTable":{1:0,2:17}}, bare keys = level) every
 * second when it changed and at shutdown, so delayed messages survive restarts (a
 * crash may deliver a message twice, never lose it). Loop thread, 100 ms tick. */
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/time.h"
#include "broker/broker.h"
#include "codec/record.h"
#include "codec/systopic.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 64

typedef struct bk_delay {
    int n;
    int64_t ms[MAX_LEVELS];
    int64_t offset[MAX_LEVELS];
    int dirty;
    int64_t last_save_ms;
    kite_ev_timer *timer;
} bk_delay;

int bk_delay_parse_levels(const char *spec, int64_t *out, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *s = spec ? spec : "";
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        char *end;
        long long v = strtoll(s, &end, 10);
        int64_t unit;
        switch (*end) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        default:
            snprintf(err, errlen, "messageDelayLevel: '%.20s' needs a unit s, m, h or d", s);
            return KITE_EINVAL;
        }
        if (end == s || v <= 0 || n == max) {
            snprintf(err, errlen, "messageDelayLevel: bad level near '%.20s'", s);
            return KITE_EINVAL;
        }
        out[n++] = v * unit;
        s = end + 1;
    }
    if (n == 0) {
        snprintf(err, errlen, "messageDelayLevel is empty");
        return KITE_EINVAL;
    }
    return n;
}

void bk_delay_offsets_json(const kite_broker *b, kite_buf *out)
{
    const bk_delay *d = b->delay;
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "offsetTable");
    kite_jw_obj_begin(&w);
    for (int i = 0; d && i < d->n; i++) {
        kite_jw_key_int(&w, i + 1, 0);
        kite_jw_int(&w, d->offset[i]);
    }
    kite_jw_obj_end(&w);
    kite_jw_obj_end(&w);
}

static void save(kite_broker *b, bk_delay *d)
{
    kite_buf out = KITE_BUF_INIT;
    bk_delay_offsets_json(b, &out);
    if (bk_meta_write(b, "delayOffset.json", &out) == 0) d->dirty = 0;
}

/* Takes the levels' progress from a {"offsetTable":{level:offset}} document. */
static void take_offsets(bk_delay *d, const kite_json *root)
{
    const kite_json *t = kite_json_get(root, "offsetTable");
    for (size_t i = 0; t && t->type == KJ_OBJECT && i < t->count; i++) {
        int64_t level, off;
        if (kite_json_int64(t->members[i].key, &level) ||
            kite_json_int64(t->members[i].value, &off))
            continue;
        if (level >= 1 && level <= d->n) d->offset[level - 1] = off;
    }
}

static void load(kite_broker *b, bk_delay *d)
{
    char err[512];
    kite_json_doc *doc;
    if (bk_meta_load_json(b, "delayOffset.json", 1 << 20, &doc,
                          "delayed messages restart from each level's first offset", err,
                          sizeof err) != 0) {
        KLOG_WARN("broker", "%s", err);
    } else if (doc) {
        take_offsets(d, kite_json_root(doc));
        kite_json_doc_free(doc);
    }
}

void bk_delay_adopt(kite_broker *b, const kite_json *root)
{
    if (!b->delay) return;
    take_offsets(b->delay, root);
    save(b, b->delay);
}

static const char *const drop_delay[] = { "DELAY", NULL };

/* Re-stores one due record into its real topic. Returns 1 delivered (or dropped on
 * purpose), 0 to retry later. */
static int deliver(kite_broker *b, const kite_record *r)
{
    size_t tl, ql;
    const char *rt = kite_msgprop_get(r->props, r->props_len, "REAL_TOPIC", &tl);
    const char *rq = kite_msgprop_get(r->props, r->props_len, "REAL_QID", &ql);
    if (!rt || !rq) {
        KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                     "delayed message at %lld has no REAL_TOPIC/REAL_QID; dropped",
                     (long long)r->phys_offset);
        return 1;
    }
    char topic[300], qbuf[16];
    snprintf(topic, sizeof topic, "%.*s", (int)tl, rt);
    snprintf(qbuf, sizeof qbuf, "%.*s", (int)(ql < 15 ? ql : 15), rq);
    if (strcmp(topic, KITE_TOPIC_TRANS_HALF) == 0) return 1;
    kite_buf props = KITE_BUF_INIT;
    kite_msgprop_copy_without(r->props, r->props_len, drop_delay, &props);
    kite_store_msg m;
    bk_msg_from_record(&m, r, topic, atoi(qbuf), &props);
    m.wait = 0; /* the delayed copy stays durable in the schedule topic until we advance */
    kite_put_result res;
    kite_store_put_wait(b->store, &m, &res);
    kite_buf_free(&props);
    if (res.status != KITE_PUT_OK && res.status != KITE_PUT_FLUSH_DISK_TIMEOUT) {
        if (res.status == KITE_PUT_MESSAGE_ILLEGAL ||
            res.status == KITE_PUT_PROPERTIES_SIZE_EXCEEDED) {
            KLOG_LIMITED(1, KITE_LOG_WARN, "broker",
                         "delayed message for %s refused by the store (%s); dropped", topic,
                         kite_put_status_name(res.status));
            return 1;
        }
        return 0;
    }
    return 1;
}

static void tick(kite_ev *ev, kite_ev_timer *t, void *arg)
{
    kite_broker *b = arg;
    bk_delay *d = b->delay;
    (void)t;
    int64_t now = kite_wall_ms();
    for (int lv = 0; lv < d->n; lv++) {
        for (int rounds = 0; rounds < 64; rounds++) { /* bounded work per tick */
            kite_get_result gr;
            memset(&gr, 0, sizeof gr);
            kite_store_get_messages(b->store, KITE_TOPIC_SCHEDULE, lv, d->offset[lv], 32, 1 << 20,
                                    NULL, 0, &gr);
            if (gr.status == KITE_GET_OFFSET_TOO_SMALL ||
                gr.status == KITE_GET_OFFSET_OVERFLOW_BADLY) {
                d->offset[lv] =
                    gr.next_begin_offset; /* data deleted or offset from an older store */
                d->dirty = 1;
                kite_get_result_release(&gr);
                continue;
            }
            int stop = gr.status != KITE_GET_FOUND;
            for (size_t i = 0; !stop && i < gr.count; i++) {
                kite_record r;
                const char *why;
                if (kite_record_decode(gr.segs[i].data, gr.segs[i].len, &r, 0, &why) <= 0) {
                    d->offset[lv] = gr.segs[i].queue_offset + 1; /* unreadable: skip it */
                    d->dirty = 1;
                    continue;
                }
                if (r.store_ts + d->ms[lv] > now + 5) {
                    stop = 1; /* later ones in this level are due later still */
                    break;
                }
                if (!deliver(b, &r)) {
                    stop = 1; /* store refused: retry on the next tick */
                    break;
                }
                d->offset[lv] = gr.segs[i].queue_offset + 1;
                d->dirty = 1;
            }
            if (!stop && gr.status == KITE_GET_FOUND && d->offset[lv] < gr.next_begin_offset) {
                d->offset[lv] = gr.next_begin_offset;
                d->dirty = 1;
            }
            kite_get_result_release(&gr);
            if (stop) break;
        }
    }
    if (d->dirty && kite_ev_now(ev) - d->last_save_ms >= 1000) {
        save(b, d);
        d->last_save_ms = kite_ev_now(ev);
    }
}

int bk_delay_start(kite_broker *b, char *err, size_t errlen)
{
    bk_delay *d = kite_xcalloc(1, sizeof *d);
    d->n = bk_delay_parse_levels(b->cfg.message_delay_level, d->ms, MAX_LEVELS, err, errlen);
    if (d->n < 0) {
        int rc = d->n;
        free(d);
        return rc;
    }
    b->delay = d;
    load(b, d);
    if (!b->cfg.is_slave) /* a slave delivers nothing: its master's scheduler does */
        d->timer = kite_ev_timer_add(b->ev, 100, 100, tick, b);
    return KITE_OK;
}

int bk_delay_levels(const kite_broker *b) { return b->delay ? b->delay->n : 18; }

void bk_delay_stop(kite_broker *b)
{
    bk_delay *d = b->delay;
    if (!d) return;
    if (d->timer) kite_ev_timer_cancel(b->ev, d->timer);
    if (d->dirty) save(b, d);
    free(d);
    b->delay = NULL;
}
