/* message.c - kite_message: the public message object (include/kite/message.h) and its
 * properties string (docs/wire.md §9.3: name 0x01 value 0x02, repeated; written by
 * codec/msgprops).
 *
 * Owns: message fields, copies of all strings, an owned or borrowed body. Tags, keys,
 * delay level and the WAIT flag are kept as the properties they travel as (TAGS, KEYS,
 * DELAY, WAIT), so there is one ordered list and one encoder.
 * Not owned: message ids (msgid.c), compression and send checks (producer.c).
 * Threads: none of its own; one thread at a time per message. */
#include "client/message.h"
#include "base/mem.h"
#include "codec/msgprops.h"
#include "kite/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NULL, empty, or holding a separator of the properties string. */
static int bad_text(const char *s)
{
    return !s || !*s || strchr(s, KITE_MSGPROP_NAME_END) || strchr(s, KITE_MSGPROP_VALUE_END);
}

static kite_prop *find(const kite_message *m, const char *name)
{
    for (size_t i = 0; i < m->n_props; i++)
        if (strcmp(m->props[i].name, name) == 0) return &m->props[i];
    return NULL;
}

/* Sets (value != NULL) or removes a property without checking reserved names. */
static int put_prop(kite_message *m, const char *name, const char *value)
{
    kite_prop *p = find(m, name);
    if (!value) {
        if (p) {
            free(p->name);
            free(p->value);
            size_t i = (size_t)(p - m->props);
            memmove(p, p + 1, (m->n_props - i - 1) * sizeof *p);
            m->n_props--;
        }
        return KITE_OK;
    }
    if (bad_text(name) || bad_text(value)) return KITE_EINVAL;
    char *v = kite_xstrdup(value);
    if (p) {
        free(p->value);
        p->value = v;
        return KITE_OK;
    }
    if (m->n_props == m->cap_props) {
        size_t cap = m->cap_props ? m->cap_props * 2 : 8;
        m->props = kite_xreallocarray(m->props, cap, sizeof *m->props);
        m->cap_props = cap;
    }
    m->props[m->n_props].name = kite_xstrdup(name);
    m->props[m->n_props].value = v;
    m->n_props++;
    return KITE_OK;
}

kite_message *kite_message_new(const char *topic)
{
    kite_message *m = kite_xcalloc(1, sizeof *m);
    if ((topic && kite_message_set_topic(m, topic) != KITE_OK) ||
        put_prop(m, KITE_PROP_WAIT, "true") != KITE_OK) {
        kite_message_destroy(m);
        return NULL;
    }
    return m;
}

void kite_message_destroy(kite_message *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_props; i++) {
        free(m->props[i].name);
        free(m->props[i].value);
    }
    free(m->props);
    free(m->topic);
    free(m->body_own);
    free(m);
}

int kite_message_set_topic(kite_message *m, const char *topic)
{
    if (!m || !topic || !*topic) return KITE_EINVAL;
    free(m->topic);
    m->topic = kite_xstrdup(topic);
    return KITE_OK;
}

int kite_message_set_tags(kite_message *m, const char *tags)
{
    return m ? put_prop(m, KITE_PROP_TAGS, tags) : KITE_EINVAL;
}

int kite_message_set_keys(kite_message *m, const char *keys)
{
    return m ? put_prop(m, KITE_PROP_KEYS, keys) : KITE_EINVAL;
}

int kite_message_set_delay_level(kite_message *m, int level)
{
    if (!m || level < 0 || level > 1000) return KITE_EINVAL;
    if (level == 0) return put_prop(m, KITE_PROP_DELAY, NULL);
    char v[16];
    snprintf(v, sizeof v, "%d", level);
    return put_prop(m, KITE_PROP_DELAY, v);
}

int kite_message_set_wait_store(kite_message *m, int wait)
{
    return m ? put_prop(m, KITE_PROP_WAIT, wait ? "true" : "false") : KITE_EINVAL;
}

void kite_message_set_flag(kite_message *m, int32_t flag)
{
    if (m) m->flag = flag;
}

int kite_message_set_property(kite_message *m, const char *name, const char *value)
{
    if (!m || bad_text(name)) return KITE_EINVAL;
    if (!strcmp(name, KITE_PROP_KEYS) || !strcmp(name, KITE_PROP_TAGS) ||
        !strcmp(name, KITE_PROP_DELAY) || !strcmp(name, KITE_PROP_WAIT))
        return KITE_EINVAL;
    int rc = put_prop(m, name, value);
    if (rc == KITE_OK && !strcmp(name, KITE_PROP_UNIQ_KEY)) m->uniq_by_app = value != NULL;
    return rc;
}

int kite_msg_set_uniq(kite_message *m, const char *id)
{
    return put_prop(m, KITE_PROP_UNIQ_KEY, id);
}

static int set_body(kite_message *m, const void *body, size_t n, int copy)
{
    if (!m || (!body && n)) return KITE_EINVAL;
    uint8_t *own = NULL;
    if (copy && n) {
        own = kite_xmalloc(n);
        memcpy(own, body, n);
    }
    free(m->body_own);
    m->body_own = own;
    m->body = copy ? own : body;
    m->body_len = body ? n : 0;
    return KITE_OK;
}

int kite_message_set_body(kite_message *m, const void *body, size_t n)
{
    return set_body(m, body, n, 1);
}
int kite_message_set_body_ref(kite_message *m, const void *body, size_t n)
{
    return set_body(m, body, n, 0);
}

const char *kite_message_topic(const kite_message *m) { return m ? m->topic : NULL; }
const char *kite_message_tags(const kite_message *m)
{
    return kite_message_property(m, KITE_PROP_TAGS);
}
const char *kite_message_keys(const kite_message *m)
{
    return kite_message_property(m, KITE_PROP_KEYS);
}
int32_t kite_message_flag(const kite_message *m) { return m ? m->flag : 0; }
const char *kite_message_msg_id(const kite_message *m)
{
    return kite_message_property(m, KITE_PROP_UNIQ_KEY);
}

int kite_message_delay_level(const kite_message *m)
{
    const char *v = kite_message_property(m, KITE_PROP_DELAY);
    return v ? atoi(v) : 0;
}

const char *kite_message_property(const kite_message *m, const char *name)
{
    if (!m || !name) return NULL;
    const kite_prop *p = find(m, name);
    return p ? p->value : NULL;
}

const void *kite_message_body(const kite_message *m, size_t *n)
{
    if (n) *n = m ? m->body_len : 0;
    return m ? m->body : NULL;
}

int kite_message_property_at(const kite_message *m, size_t i, const char **name, const char **value)
{
    if (!m || i >= m->n_props) return KITE_ENOTFOUND;
    if (name) *name = m->props[i].name;
    if (value) *value = m->props[i].value;
    return KITE_OK;
}

int kite_msg_encode_props(const kite_message *m, kite_buf *out)
{
    size_t start = out->len;
    for (size_t i = 0; i < m->n_props; i++) /* names and values were checked (put_prop) */
        kite_msgprop_append_str(out, m->props[i].name, m->props[i].value);
    if (out->len - start > KITE_REC_MAX_PROPS) {
        out->len = start;
        return KITE_ETOOBIG;
    }
    return KITE_OK;
}
