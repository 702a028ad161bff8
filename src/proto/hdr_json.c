/* hdr_json.c - JSON header encoding (serialize type 0), docs/wire.md §1.4.
 *
 * Reading is tolerant: extFields values may be strings, numbers, booleans or null
 * (normalised to text; null becomes absent), unknown keys are ignored, `language` may
 * be a name or a number. Writing follows fastjson: keys in alphabetical order, null
 * fields omitted, every extFields value a JSON string, compact output:
 *   {"code":..,"extFields":{..},"flag":..,"language":"JAVA","opaque":..,"remark":"..",
 *    "serializeTypeCurrentRPC":"JSON","version":..}
 * Decoded strings point into the parsed document, which the command keeps (c->doc). */
#include "base/json.h"
#include "proto/cmd.h"
#include <stdio.h>
#include <string.h>

int kite_hdr_json_decode(kite_cmd *c, const uint8_t *h, size_t n, char *err, size_t errlen)
{
    char jerr[128];
    kite_json_doc *doc = kite_json_parse((const char *)h, n, jerr, sizeof jerr);
    if (!doc) {
        snprintf(err, errlen, "bad JSON header: %s", jerr);
        return KITE_ECORRUPT;
    }
    c->doc = doc;
    const kite_json *root = kite_json_root(doc);
    if (root->type != KJ_OBJECT) {
        snprintf(err, errlen, "JSON header is not an object");
        return KITE_ECORRUPT;
    }
    const kite_json *v = kite_json_get(root, "code");
    if (!v || kite_json_int32(v, &c->code) != 0) {
        snprintf(err, errlen, "JSON header has no integer code");
        return KITE_ECORRUPT;
    }
    c->opaque = kite_json_get_int32(root, "opaque", 0);
    c->flag = kite_json_get_int32(root, "flag", 0);
    c->version = kite_json_get_int32(root, "version", 0);
    v = kite_json_get(root, "language");
    if (v && v->type == KJ_STRING)
        c->language = kite_lang_from_name(v->text);
    else if (v && v->type == KJ_NUMBER)
        c->language = kite_json_get_int32(root, "language", 7);
    v = kite_json_get(root, "remark");
    if (v && v->type == KJ_STRING) c->remark = v->text;
    const kite_json *ext = kite_json_get(root, "extFields");
    if (ext && ext->type == KJ_OBJECT) {
        for (size_t i = 0; i < ext->count; i++) {
            const kite_json *k = ext->members[i].key, *val = ext->members[i].value;
            if (k->type != KJ_STRING && k->type != KJ_NUMBER) continue;
            switch (val->type) {
            case KJ_STRING:
            case KJ_NUMBER: kite_cmd_add_ext_ref(c, k->text, val->text, val->len); break;
            case KJ_BOOL:
                kite_cmd_add_ext_ref(c, k->text, val->boolean ? "true" : "false",
                                     val->boolean ? 4 : 5);
                break;
            case KJ_NULL: kite_cmd_add_ext_ref(c, k->text, "", 0); break;
            default: break; /* nested values are not part of the protocol; ignore */
            }
        }
    } else if (ext && ext->type != KJ_NULL) {
        snprintf(err, errlen, "extFields is not an object");
        return KITE_ECORRUPT;
    }
    return 0;
}

void kite_hdr_json_encode(const kite_cmd *c, kite_buf *out)
{
    kite_jw w;
    kite_jw_init(&w, out, 0);
    kite_jw_obj_begin(&w);
    kite_jw_key(&w, "code");
    kite_jw_int(&w, c->code);
    if (c->n_ext) {
        kite_jw_key(&w, "extFields");
        kite_jw_obj_begin(&w);
        for (size_t i = 0; i < c->n_ext; i++) {
            kite_jw_key(&w, c->ext[i].key);
            kite_jw_str_n(&w, c->ext[i].val, c->ext[i].vlen);
        }
        kite_jw_obj_end(&w);
    }
    kite_jw_key(&w, "flag");
    kite_jw_int(&w, c->flag);
    kite_jw_key(&w, "language");
    kite_jw_str(&w, kite_lang_name(c->language));
    kite_jw_key(&w, "opaque");
    kite_jw_int(&w, c->opaque);
    if (c->remark) {
        kite_jw_key(&w, "remark");
        kite_jw_str(&w, c->remark);
    }
    kite_jw_key(&w, "serializeTypeCurrentRPC");
    kite_jw_str(&w, "JSON");
    kite_jw_key(&w, "version");
    kite_jw_int(&w, c->version);
    kite_jw_obj_end(&w);
}
