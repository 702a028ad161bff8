/* meta.c - helpers shared by the broker's metadata files under
 * <storePathRootDir>/config/ (topics.json, subscriptionGroup.json, consumerOffset.json,
 * delayOffset.json): path building, atomic rewrite with a logged error, reading and
 * parsing with an error that names the file and says what to do, the DataVersion member,
 * and page bounds for paged listings. Loop thread (plain functions). */
#include "base/file.h"
#include "base/log.h"
#include "broker/broker.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bk_meta_path(const kite_broker *b, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/config/%s", b->store_root, name);
}

int bk_meta_write(kite_broker *b, const char *name, kite_buf *content)
{
    char path[1200];
    bk_meta_path(b, name, path, sizeof path);
    int r = kite_file_write_atomic(path, content->data, content->len);
    kite_buf_free(content);
    if (r) KLOG_ERROR("broker", "cannot write %s: %s", path, kite_strerror(r));
    return r;
}

int bk_meta_read(kite_broker *b, const char *name, size_t max, char **text, size_t *len, char *err,
                 size_t errlen)
{
    char path[1200];
    bk_meta_path(b, name, path, sizeof path);
    *text = NULL;
    *len = 0;
    int r = kite_file_read_all(path, max, text, len);
    if (r == KITE_ENOTFOUND) return KITE_OK;
    if (r) snprintf(err, errlen, "cannot read %s: %s", path, kite_strerror(r));
    return r;
}

int bk_meta_load_json(kite_broker *b, const char *name, size_t max, kite_json_doc **doc,
                      const char *advice, char *err, size_t errlen)
{
    char *text;
    size_t len;
    *doc = NULL;
    int rc = bk_meta_read(b, name, max, &text, &len, err, errlen);
    if (rc != KITE_OK || !text) return rc;
    char jerr[160];
    if (len) *doc = kite_json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (len && !*doc) {
        char path[1200];
        bk_meta_path(b, name, path, sizeof path);
        snprintf(err, errlen, "%s is corrupt (%s); %s", path, jerr, advice);
        return KITE_ECORRUPT;
    }
    return KITE_OK;
}

void bk_write_data_version(kite_jw *w, const kite_data_version *dv)
{
    kite_jw_key(w, "dataVersion");
    kite_jw_obj_begin(w);
    kite_jw_key(w, "counter");
    kite_jw_int(w, dv->counter);
    kite_jw_key(w, "timestamp");
    kite_jw_int(w, dv->timestamp);
    kite_jw_obj_end(w);
}

void bk_page_bounds(size_t n, int32_t seq, int32_t max, size_t *from, size_t *to)
{
    *from = seq > 0 ? (size_t)seq : 0;
    *to = n;
    if (*from > n) *from = n;
    if (max > 0 && *from + (size_t)max < *to) *to = *from + (size_t)max;
}

void bk_reply_paged(kite_rpc_req *req, kite_buf *body, const char *total_key, size_t total)
{
    kite_cmd resp;
    kite_cmd_init_response(&resp, &req->cmd, 0, NULL);
    kite_cmd_set_ext_i64(&resp, total_key, (int64_t)total);
    size_t len;
    char *p = kite_buf_steal(body, &len);
    kite_cmd_set_body_own(&resp, p, len);
    kite_rpc_reply(req, &resp);
}
