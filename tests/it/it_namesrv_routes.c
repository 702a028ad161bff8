/* it_namesrv_routes.c - kite-namesrv over TCP: registration of several brokers and
 * clusters (master + slave), routes in both key styles, cluster info, topic lists,
 * slave registration replies; plain, compressed and CRC-checked registration bodies,
 * data-version semantics with WIPE/ADD_WRITE_PERM; UNREGISTER_BROKER and
 * QUERY_DATA_VERSION; DELETE_TOPIC_IN_NAMESRV and the name server config requests
 * (docs/wire.md §4, §2.1-§2.3, §2.7, §2.11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ns_common.h"
#include <zlib.h>

#define A0   "10.0.0.1:10911"
#define A0HA "10.0.0.1:10912"
#define A1   "10.0.0.2:10911"
#define A1HA "10.0.0.2:10912"
#define B0   "10.0.0.3:10911"
#define C0   "10.0.0.4:10911"

/* The brokers of scenario 1, each on its own connection (kept open: closing it would
 * expire the broker). Returns the connections in fds[0..3] = a0, a1, b0, c0. */
static void register_topology(const kt_daemon *d, int fds[4])
{
    char t1[512], t2[512], t3[512], body[2048];
    for (int i = 0; i < 4; i++) fds[i] = nt_conn(d);
    kite_cmd r;

    /* The slave first: no live master yet, so no masterAddr. */
    nt_topic_json(t1, sizeof t1, "TopicA", 4, 6);
    nt_topic_json(t2, sizeof t2, "TopicShared", 4, 6);
    char tt[1200];
    snprintf(tt, sizeof tt, "%s,%s", t1, t2);
    nt_body_json(body, sizeof body, 1, tt);
    nt_register(fds[1], "C1", "broker-a", 1, A1, A1HA, body, &r);
    assert_null(kite_cmd_ext(&r, "masterAddr"));
    assert_null(kite_cmd_ext(&r, "haServerAddr"));
    kite_cmd_free(&r);

    /* The master: a master's reply carries neither field, and no body (no ORDER_TOPIC_CONFIG). */
    nt_register(fds[0], "C1", "broker-a", 0, A0, A0HA, body, &r);
    assert_null(kite_cmd_ext(&r, "masterAddr"));
    assert_null(kite_cmd_ext(&r, "haServerAddr"));
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* The slave again: now it learns its master's address and HA address. */
    nt_register(fds[1], "C1", "broker-a", 1, A1, A1HA, body, &r);
    assert_non_null(kite_cmd_ext(&r, "masterAddr"));
    assert_string_equal(kite_cmd_ext(&r, "masterAddr"), A0);
    assert_string_equal(kite_cmd_ext(&r, "haServerAddr"), A0HA);
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    nt_topic_json(t1, sizeof t1, "TopicB", 8, 6);
    nt_topic_json(t2, sizeof t2, "TopicShared", 8, 6);
    snprintf(tt, sizeof tt, "%s,%s", t1, t2);
    nt_body_json(body, sizeof body, 1, tt);
    nt_register(fds[2], "C1", "broker-b", 0, B0, "10.0.0.3:10912", body, &r);
    assert_null(kite_cmd_ext(&r, "masterAddr"));
    kite_cmd_free(&r);

    nt_topic_json(t3, sizeof t3, "TopicC", 2, 6);
    nt_body_json(body, sizeof body, 1, t3);
    nt_register(fds[3], "C2", "broker-c", 0, C0, "10.0.0.4:10912", body, &r);
    kite_cmd_free(&r);
}

#define BD_A_BARE                            \
    "{\"brokerAddrs\":{0:\"" A0 "\",1:\"" A1 \
    "\"},\"brokerName\":\"broker-a\",\"cluster\":\"C1\",\"enableActingMaster\":false}"
#define BD_A_QUOTED                                  \
    "{\"brokerAddrs\":{\"0\":\"" A0 "\",\"1\":\"" A1 \
    "\"},\"brokerName\":\"broker-a\",\"cluster\":\"C1\",\"enableActingMaster\":false}"
#define BD_B_BARE               \
    "{\"brokerAddrs\":{0:\"" B0 \
    "\"},\"brokerName\":\"broker-b\",\"cluster\":\"C1\",\"enableActingMaster\":false}"
#define BD_B_QUOTED                 \
    "{\"brokerAddrs\":{\"0\":\"" B0 \
    "\"},\"brokerName\":\"broker-b\",\"cluster\":\"C1\",\"enableActingMaster\":false}"
#define BD_C_BARE               \
    "{\"brokerAddrs\":{0:\"" C0 \
    "\"},\"brokerName\":\"broker-c\",\"cluster\":\"C2\",\"enableActingMaster\":false}"
#define QD(name, q, perm)                                                   \
    "{\"brokerName\":\"" name "\",\"perm\":" #perm ",\"readQueueNums\":" #q \
    ",\"topicSysFlag\":0,\"writeQueueNums\":" #q "}"

#define ROUTE_SHARED(bda, bdb)                                                         \
    "{\"brokerDatas\":[" bda "," bdb "],\"filterServerTable\":{},\"queueDatas\":[" QD( \
        "broker-a", 4, 6) "," QD("broker-b", 8, 6) "]}"

/* Scenario 1: two brokers of C1 (broker-a master+slave, broker-b), one of C2. */
static void test_topology_routes_and_cluster_info(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int fds[4];
    register_topology(d, fds);
    int q = nt_conn(d);

    /* Old clients (version < 401): bare integer keys, exactly as fastjson writes them. */
    nt_expect_route(q, "TopicShared", 300, "", ROUTE_SHARED(BD_A_BARE, BD_B_BARE));
    nt_expect_route(q, "TopicShared", 400, "", ROUTE_SHARED(BD_A_BARE, BD_B_BARE));
    /* version >= 401: quoted keys. */
    nt_expect_route(q, "TopicShared", 401, "", ROUTE_SHARED(BD_A_QUOTED, BD_B_QUOTED));
    nt_expect_route(q, "TopicShared", 479, "", ROUTE_SHARED(BD_A_QUOTED, BD_B_QUOTED));
    /* old version asking for standard JSON. */
    nt_expect_route(q, "TopicShared", 300, ",\"acceptStandardJsonOnly\":\"true\"",
                    ROUTE_SHARED(BD_A_QUOTED, BD_B_QUOTED));
    nt_expect_route(q, "TopicShared", 300, ",\"acceptStandardJsonOnly\":\"false\"",
                    ROUTE_SHARED(BD_A_BARE, BD_B_BARE));
    /* A topic of one broker only. */
    nt_expect_route(q, "TopicA", 300, "",
                    "{\"brokerDatas\":[" BD_A_BARE
                    "],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-a", 4, 6) "]}");
    nt_expect_route(q, "TopicC", 479, "",
                    "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"" C0
                    "\"},\"brokerName\":\"broker-c\",\"cluster\":\"C2\","
                    "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[" QD(
                        "broker-c", 2, 6) "]}");

    /* Unknown topic: TOPIC_NOT_EXIST with Java's remark. */
    kite_cmd r;
    nt_route(q, "NoSuchTopic", 479, "", &r);
    assert_int_equal(r.code, 17);
    assert_non_null(r.remark);
    assert_non_null(
        strstr(r.remark, "No topic route info in name server for the topic: NoSuchTopic"));
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* Cluster info: always bare keys, whatever the version. */
    const char *ci =
        "{\"brokerAddrTable\":{\"broker-a\":" BD_A_BARE ",\"broker-b\":" BD_B_BARE
        ",\"broker-c\":" BD_C_BARE
        "},\"clusterAddrTable\":{\"C1\":[\"broker-a\",\"broker-b\"],\"C2\":[\"broker-c\"]}}";
    nt_expect_body(q, 106, "", ci);
    nt_req(q, 106, 479, "", NULL, 0, &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kt_body(&r), ci);
    kite_cmd_free(&r);

    /* Topic lists. */
    nt_expect_body(q, 206, "",
                   "{\"topicList\":[\"TopicA\",\"TopicB\",\"TopicC\",\"TopicShared\"]}");
    nt_expect_body(q, 224, "\"cluster\":\"C1\"",
                   "{\"topicList\":[\"TopicA\",\"TopicB\",\"TopicShared\"]}");
    nt_expect_body(q, 224, "\"cluster\":\"C2\"", "{\"topicList\":[\"TopicC\"]}");
    nt_expect_body(q, 224, "\"cluster\":\"NoCluster\"", "{\"topicList\":[]}");

    /* The slave's registrations never change queue data: a slave body with other
     * queue counts leaves the master's data alone. */
    char t1[512], body[1024];
    nt_topic_json(t1, sizeof t1, "TopicA", 16, 6);
    nt_body_json(body, sizeof body, 7, t1);
    nt_register(fds[1], "C1", "broker-a", 1, A1, A1HA, body, &r);
    assert_string_equal(kite_cmd_ext(&r, "masterAddr"), A0);
    kite_cmd_free(&r);
    nt_expect_route(q, "TopicA", 300, "",
                    "{\"brokerDatas\":[" BD_A_BARE
                    "],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-a", 4, 6) "]}");
}

/* Scenario 2a: compressed body built here from its documented layout, and CRCs. */
static void put_lv(unsigned char *raw, size_t *n, const char *s)
{
    size_t l = strlen(s);
    raw[(*n)++] = (unsigned char)(l >> 24);
    raw[(*n)++] = (unsigned char)(l >> 16);
    raw[(*n)++] = (unsigned char)(l >> 8);
    raw[(*n)++] = (unsigned char)l;
    memcpy(raw + *n, s, l);
    *n += l;
}

static void test_compressed_body_and_crc(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int b = nt_conn(d), q = nt_conn(d);

    /* Decompressed layout: int32 len + DataVersion JSON, int32 topic count, per topic
     * int32 len + "name read write perm filterType", int32 len + filter server JSON. */
    unsigned char raw[1024];
    size_t n = 0;
    put_lv(raw, &n, "{\"counter\":3,\"timestamp\":1700000000123}");
    raw[n++] = 0;
    raw[n++] = 0;
    raw[n++] = 0;
    raw[n++] = 2;
    put_lv(raw, &n, "TopicZ1 4 4 6 SINGLE_TAG");
    put_lv(raw, &n, "TopicZ2 2 1 4 SINGLE_TAG");
    put_lv(raw, &n, "[]");
    unsigned char z[2048];
    uLongf zl = sizeof z;
    assert_int_equal(compress2(z, &zl, raw, n, 9), Z_OK);
    unsigned long crc = crc32(0L, z, (uInt)zl) & 0x7FFFFFFFul;

    char ext[512];
    kite_cmd r;
    /* Wrong CRC first: refused, nothing registered. */
    snprintf(
        ext, sizeof ext,
        "\"bodyCrc32\":\"%lu\",\"brokerAddr\":\"10.1.0.1:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-z\","
        "\"clusterName\":\"CZ\",\"compressed\":\"true\",\"haServerAddr\":\"10.1.0.1:10912\"",
        crc ^ 0x1u);
    nt_req(b, 103, 409, ext, z, zl, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "crc32 not match");
    kite_cmd_free(&r);
    assert_int_equal(nt_route_code(q, "TopicZ1"), 17);
    nt_expect_body(q, 106, "", "{\"brokerAddrTable\":{},\"clusterAddrTable\":{}}");

    /* Correct CRC: accepted. */
    snprintf(
        ext, sizeof ext,
        "\"bodyCrc32\":\"%lu\",\"brokerAddr\":\"10.1.0.1:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-z\","
        "\"clusterName\":\"CZ\",\"compressed\":\"true\",\"haServerAddr\":\"10.1.0.1:10912\"",
        crc);
    nt_req(b, 103, 409, ext, z, zl, &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    const char *bdz =
        "{\"brokerAddrs\":{\"0\":\"10.1.0.1:10911\"},\"brokerName\":\"broker-z\",\"cluster\":\"CZ\","
        "\"enableActingMaster\":false}";
    char want[1024];
    snprintf(want, sizeof want,
             "{\"brokerDatas\":[%s],\"filterServerTable\":{},\"queueDatas\":[%s]}", bdz,
             QD("broker-z", 4, 6));
    nt_expect_route(q, "TopicZ1", 479, "", want);
    snprintf(
        want, sizeof want,
        "{\"brokerDatas\":[%s],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-z\",\"perm\":4,"
        "\"readQueueNums\":2,\"topicSysFlag\":0,\"writeQueueNums\":1}]}",
        bdz);
    nt_expect_route(q, "TopicZ2", 479, "", want);

    /* The stored data version is the one inside the compressed body. */
    nt_req(
        q, 322, 409,
        "\"brokerAddr\":\"10.1.0.1:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-z\",\"clusterName\":\"CZ\"",
        "{\"counter\":3,\"timestamp\":1700000000123}",
        strlen("{\"counter\":3,\"timestamp\":1700000000123}"), &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "changed"), "false");
    assert_string_equal(kt_body(&r), "{\"counter\":3,\"timestamp\":1700000000123}");
    kite_cmd_free(&r);

    /* Plain JSON body with a correct and a wrong masked CRC. */
    char t1[512], body[1024];
    nt_topic_json(t1, sizeof t1, "TopicY", 4, 6);
    nt_body_json(body, sizeof body, 1, t1);
    unsigned long bcrc = crc32(0L, (const Bytef *)body, (uInt)strlen(body)) & 0x7FFFFFFFul;
    snprintf(
        ext, sizeof ext,
        "\"bodyCrc32\":\"%lu\",\"brokerAddr\":\"10.1.0.2:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-y\","
        "\"clusterName\":\"CZ\",\"compressed\":\"false\",\"haServerAddr\":\"10.1.0.2:10912\"",
        bcrc + 1);
    nt_req(b, 103, 409, ext, body, strlen(body), &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "crc32 not match");
    kite_cmd_free(&r);
    assert_int_equal(nt_route_code(q, "TopicY"), 17);
    snprintf(
        ext, sizeof ext,
        "\"bodyCrc32\":\"%lu\",\"brokerAddr\":\"10.1.0.2:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-y\","
        "\"clusterName\":\"CZ\",\"compressed\":\"false\",\"haServerAddr\":\"10.1.0.2:10912\"",
        bcrc);
    nt_req(b, 103, 409, ext, body, strlen(body), &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    assert_int_equal(nt_route_code(q, "TopicY"), 0);
    /* bodyCrc32 0 means "do not check". */
    snprintf(
        ext, sizeof ext,
        "\"bodyCrc32\":\"0\",\"brokerAddr\":\"10.1.0.2:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-y\","
        "\"clusterName\":\"CZ\",\"compressed\":\"false\",\"haServerAddr\":\"10.1.0.2:10912\"");
    nt_req(b, 103, 409, ext, body, strlen(body), &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);

    /* A compressed flag over a body that is not a zlib stream: refused. */
    snprintf(ext, sizeof ext,
             "\"brokerAddr\":\"10.1.0.3:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-x\","
             "\"clusterName\":\"CZ\",\"compressed\":\"true\",\"haServerAddr\":\"10.1.0.3:10912\"");
    nt_req(b, 103, 409, ext, body, strlen(body), &r);
    assert_int_equal(r.code, 1);
    assert_non_null(r.remark);
    assert_non_null(strstr(r.remark, "register broker failed"));
    kite_cmd_free(&r);
    nt_expect_body(q, 224, "\"cluster\":\"CZ\"",
                   "{\"topicList\":[\"TopicY\",\"TopicZ1\",\"TopicZ2\"]}");

    /* A broker older than V3_0_11 (version < 37) sends a bare TopicConfigSerializeWrapper. */
    const char *bare =
        "{\"dataVersion\":{\"counter\":1,\"timestamp\":1},\"topicConfigTable\":{\"TopicOld\":{\"perm\":6,"
        "\"readQueueNums\":3,\"topicFilterType\":\"SINGLE_TAG\",\"topicName\":\"TopicOld\",\"writeQueueNums\":3}}}";
    nt_req(
        b, 103, 36,
        "\"brokerAddr\":\"10.1.0.4:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-w\",\"clusterName\":\"CZ\","
        "\"haServerAddr\":\"10.1.0.4:10912\"",
        bare, strlen(bare), &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    nt_expect_route(
        q, "TopicOld", 36, "",
        "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"10.1.0.4:10911\"},\"brokerName\":\"broker-w\",\"cluster\":\"CZ\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-w", 3,
                                                                                      6) "]}");
}

/* Scenario 2b: data versions with WIPE_WRITE_PERM / ADD_WRITE_PERM. */
static void route_perm_is(int q, const char *topic, int perm)
{
    char want[1024];
    snprintf(
        want, sizeof want,
        "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"10.2.0.1:10911\"},\"brokerName\":\"broker-d\",\"cluster\":\"CD\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-d\","
        "\"perm\":%d,\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}",
        perm);
    nt_expect_route(q, topic, 479, "", want);
}

static void test_data_version_and_write_perm(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int b = nt_conn(d), q = nt_conn(d);
    char t1[512], t2[512], tt[1100], body1[2048], body2[2048];
    nt_topic_json(t1, sizeof t1, "TopicW1", 4, 6);
    nt_topic_json(t2, sizeof t2, "TopicW2", 4, 6);
    snprintf(tt, sizeof tt, "%s,%s", t1, t2);
    nt_body_json(body1, sizeof body1, 1, tt);
    nt_body_json(body2, sizeof body2, 2, tt);

    nt_register_plain(b, "CD", "broker-d", 0, "10.2.0.1:10911", "10.2.0.1:10912", body1);
    route_perm_is(q, "TopicW1", 6);

    kite_cmd r;
    nt_req(q, 205, 409, "\"brokerName\":\"broker-d\"", NULL, 0, &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "wipeTopicCount"), "2");
    kite_cmd_free(&r);
    route_perm_is(q, "TopicW1", 4);
    route_perm_is(q, "TopicW2", 4);

    /* Same dataVersion: the wiped permission survives the registration. */
    nt_register_plain(b, "CD", "broker-d", 0, "10.2.0.1:10911", "10.2.0.1:10912", body1);
    route_perm_is(q, "TopicW1", 4);
    route_perm_is(q, "TopicW2", 4);

    /* Changed dataVersion: queue data rebuilt from the body, perm 6 again. */
    nt_register_plain(b, "CD", "broker-d", 0, "10.2.0.1:10911", "10.2.0.1:10912", body2);
    route_perm_is(q, "TopicW1", 6);
    route_perm_is(q, "TopicW2", 6);

    /* WIPE then ADD: addTopicCount and perm 6. */
    nt_expect(q, 205, 409, "\"brokerName\":\"broker-d\"", NULL, 0, 0);
    route_perm_is(q, "TopicW1", 4);
    nt_req(q, 327, 409, "\"brokerName\":\"broker-d\"", NULL, 0, &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "addTopicCount"), "2");
    kite_cmd_free(&r);
    route_perm_is(q, "TopicW1", 6);
    route_perm_is(q, "TopicW2", 6);

    /* An unknown broker name touches nothing. */
    nt_req(q, 205, 409, "\"brokerName\":\"broker-none\"", NULL, 0, &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "wipeTopicCount"), "0");
    kite_cmd_free(&r);

    /* A same-version registration still adds a topic this broker has no queue data for. */
    char t3[512], tt3[1700], body3[2600];
    nt_topic_json(t3, sizeof t3, "TopicW3", 4, 6);
    snprintf(tt3, sizeof tt3, "%s,%s", tt, t3);
    nt_body_json(body3, sizeof body3, 2, tt3);
    nt_register_plain(b, "CD", "broker-d", 0, "10.2.0.1:10911", "10.2.0.1:10912", body3);
    route_perm_is(q, "TopicW3", 6);
}

/* Scenario 4: UNREGISTER_BROKER and QUERY_DATA_VERSION. */
static void test_unregister_and_query_data_version(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int b = nt_conn(d), b1 = nt_conn(d), q = nt_conn(d);
    char t1[512], body[1024];
    nt_topic_json(t1, sizeof t1, "TopicU", 4, 6);
    nt_body_json(body, sizeof body, 5, t1);
    nt_register_plain(b, "CU", "broker-u", 0, "10.3.0.1:10911", "10.3.0.1:10912", body);
    nt_register_plain(b1, "CU", "broker-u", 1, "10.3.0.2:10911", "10.3.0.2:10912", body);

    const char *ext0 =
        "\"brokerAddr\":\"10.3.0.1:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-u\",\"clusterName\":\"CU\"";
    const char *same = "{\"counter\":5,\"timestamp\":1700000000000}";
    const char *other = "{\"counter\":6,\"timestamp\":1700000000001}";
    kite_cmd r;
    nt_req(q, 322, 409, ext0, same, strlen(same), &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "changed"), "false");
    assert_string_equal(kt_body(&r), same);
    kite_cmd_free(&r);
    nt_req(q, 322, 409, ext0, other, strlen(other), &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "changed"), "true");
    assert_string_equal(kt_body(&r), same);
    kite_cmd_free(&r);
    /* An unknown broker: changed, no stored version. */
    nt_req(
        q, 322, 409,
        "\"brokerAddr\":\"10.9.9.9:10911\",\"brokerId\":\"0\",\"brokerName\":\"broker-n\",\"clusterName\":\"CU\"",
        same, strlen(same), &r);
    assert_int_equal(r.code, 0);
    assert_string_equal(kite_cmd_ext(&r, "changed"), "true");
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);

    /* Unregister the master: the group stays with the slave only. */
    nt_expect(q, 104, 409, ext0, NULL, 0, 0);
    nt_expect_route(
        q, "TopicU", 300, "",
        "{\"brokerDatas\":[{\"brokerAddrs\":{1:\"10.3.0.2:10911\"},\"brokerName\":\"broker-u\",\"cluster\":\"CU\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-u", 4,
                                                                                      6) "]}");
    /* The master is no longer known to QUERY_DATA_VERSION. */
    nt_req(q, 322, 409, ext0, same, strlen(same), &r);
    assert_string_equal(kite_cmd_ext(&r, "changed"), "true");
    assert_int_equal(r.body_len, 0);
    kite_cmd_free(&r);
    /* The slave re-registering now gets no master address. */
    nt_register(b1, "CU", "broker-u", 1, "10.3.0.2:10911", "10.3.0.2:10912", body, &r);
    assert_null(kite_cmd_ext(&r, "masterAddr"));
    kite_cmd_free(&r);

    /* Unregister the slave too: the group, its cluster and its topics are gone. */
    nt_expect(
        q, 104, 409,
        "\"brokerAddr\":\"10.3.0.2:10911\",\"brokerId\":\"1\",\"brokerName\":\"broker-u\",\"clusterName\":\"CU\"",
        NULL, 0, 0);
    assert_int_equal(nt_route_code(q, "TopicU"), 17);
    nt_expect_body(q, 106, "", "{\"brokerAddrTable\":{},\"clusterAddrTable\":{}}");
    nt_expect_body(q, 206, "", "{\"topicList\":[]}");
    /* Unregistering an unknown broker is harmless. */
    nt_expect(q, 104, 409, ext0, NULL, 0, 0);
}

/* Scenario 6: DELETE_TOPIC_IN_NAMESRV and the config requests. */
static void test_delete_topic(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    int b1 = nt_conn(d), b2 = nt_conn(d), q = nt_conn(d);
    char t1[512], t2[512], tt[1100], body[2048];
    nt_topic_json(t1, sizeof t1, "TopicDel", 4, 6);
    nt_topic_json(t2, sizeof t2, "TopicKeep", 4, 6);
    snprintf(tt, sizeof tt, "%s,%s", t1, t2);
    nt_body_json(body, sizeof body, 1, tt);
    nt_register_plain(b1, "C1", "broker-e", 0, "10.4.0.1:10911", "10.4.0.1:10912", body);
    nt_register_plain(b2, "C2", "broker-f", 0, "10.4.0.2:10911", "10.4.0.2:10912", body);

    /* Restricted to one cluster: only that cluster's queue data goes. */
    nt_expect(q, 216, 479, "\"clusterName\":\"C1\",\"topic\":\"TopicDel\"", NULL, 0, 0);
    nt_expect_route(
        q, "TopicDel", 479, "",
        "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"10.4.0.2:10911\"},\"brokerName\":\"broker-f\",\"cluster\":\"C2\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[" QD("broker-f", 4,
                                                                                      6) "]}");
    /* Whole topic. */
    nt_expect(q, 216, 479, "\"topic\":\"TopicDel\"", NULL, 0, 0);
    assert_int_equal(nt_route_code(q, "TopicDel"), 17);
    nt_expect_body(q, 206, "", "{\"topicList\":[\"TopicKeep\"]}");
    assert_int_equal(nt_route_code(q, "TopicKeep"), 0);
    /* Unknown topic: still success. Missing topic field: code 1. */
    nt_expect(q, 216, 479, "\"topic\":\"NoSuch\"", NULL, 0, 0);
    nt_expect(q, 216, 479, "", NULL, 0, 1);
}

static int body_has_line(const kite_cmd *r, const char *line)
{
    char want[1200];
    if (strlen(line) + 3 > sizeof want) return 0;
    want[0] = '\n';
    strcpy(want + 1, line);
    strcat(want, "\n");
    char *text = malloc(r->body_len + 2);
    assert_non_null(text);
    text[0] = '\n';
    memcpy(text + 1, r->body, r->body_len);
    text[r->body_len + 1] = 0;
    int found = strstr(text, want) != NULL;
    free(text);
    return found;
}

static void test_namesrv_config(void **st)
{
    (void)st;
    kt_daemon *d = nt_start(NULL);
    kt_daemon *e = nt_start("remoteConfigUpdateEnable=true");
    int q = nt_conn(d), qe = nt_conn(e);
    char line[1200];
    kite_cmd r;

    nt_req(q, 319, 409, "", NULL, 0, &r);
    assert_int_equal(r.code, 0);
    snprintf(line, sizeof line, "listenPort=%d", d->port);
    assert_true(body_has_line(&r, line));
    snprintf(line, sizeof line, "kvConfigPath=%s/kvConfig.json", d->dir);
    assert_true(body_has_line(&r, line));
    assert_true(body_has_line(&r, "remoteConfigUpdateEnable=false"));
    kite_cmd_free(&r);

    /* Refused by default, even for a safe key. */
    const char *safe = "orderMessageEnable=true\n";
    nt_req(q, 318, 409, "", safe, strlen(safe), &r);
    assert_int_equal(r.code, 16);
    kite_cmd_free(&r);
    nt_req(q, 319, 409, "", NULL, 0, &r);
    assert_true(body_has_line(&r, "orderMessageEnable=false"));
    kite_cmd_free(&r);

    /* Enabled: a path key is refused and nothing changes, even the safe key beside it. */
    const char *mixed = "orderMessageEnable=true\nkvConfigPath=/tmp/x\n";
    nt_req(qe, 318, 409, "", mixed, strlen(mixed), &r);
    assert_int_equal(r.code, 16);
    assert_non_null(r.remark);
    assert_non_null(strstr(r.remark, "kvConfigPath"));
    kite_cmd_free(&r);
    const char *path = "kvConfigPath=/tmp/x\n";
    nt_req(qe, 318, 409, "", path, strlen(path), &r);
    assert_int_equal(r.code, 16);
    kite_cmd_free(&r);
    const char *port = "listenPort=1\n";
    nt_req(qe, 318, 409, "", port, strlen(port), &r);
    assert_int_equal(r.code, 16);
    kite_cmd_free(&r);
    nt_req(qe, 319, 409, "", NULL, 0, &r);
    snprintf(line, sizeof line, "kvConfigPath=%s/kvConfig.json", e->dir);
    assert_true(body_has_line(&r, line));
    snprintf(line, sizeof line, "listenPort=%d", e->port);
    assert_true(body_has_line(&r, line));
    assert_true(body_has_line(&r, "orderMessageEnable=false"));
    kite_cmd_free(&r);

    /* An allowed key is accepted and takes effect. */
    nt_req(qe, 318, 409, "", safe, strlen(safe), &r);
    assert_int_equal(r.code, 0);
    kite_cmd_free(&r);
    nt_req(qe, 319, 409, "", NULL, 0, &r);
    assert_true(body_has_line(&r, "orderMessageEnable=true"));
    kite_cmd_free(&r);
    /* ... observable in routes: orderTopicConf now comes from the KV table. */
    int b = nt_conn(e);
    char t1[512], body[1024];
    nt_topic_json(t1, sizeof t1, "TopicO", 4, 6);
    nt_body_json(body, sizeof body, 1, t1);
    nt_register_plain(b, "CO", "broker-o", 0, "10.5.0.1:10911", "10.5.0.1:10912", body);
    nt_expect(qe, 100, 409,
              "\"key\":\"TopicO\",\"namespace\":\"ORDER_TOPIC_CONFIG\",\"value\":\"broker-o:4\"",
              NULL, 0, 0);
    nt_expect_route(
        qe, "TopicO", 479, "",
        "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"10.5.0.1:10911\"},\"brokerName\":\"broker-o\",\"cluster\":\"CO\","
        "\"enableActingMaster\":false}],\"filterServerTable\":{},\"orderTopicConf\":\"broker-o:4\","
        "\"queueDatas\":[" QD("broker-o", 4, 6) "]}");
}

/* Safe keys changed over the network take effect; bad values change nothing. */
static void test_remote_config_effects(void **st)
{
    (void)st;
    kt_daemon *d = nt_start("remoteConfigUpdateEnable=true\nbrokerExpireMillis=300");
    int q = nt_conn(d), b = nt_conn(d);
    kite_cmd r;

    const char *bad = "orderMessageEnable=maybe\n";
    nt_req(q, 318, 409, "", bad, strlen(bad), &r);
    assert_true(r.code != 0);
    kite_cmd_free(&r);
    nt_req(q, 319, 409, "", NULL, 0, &r);
    assert_true(body_has_line(&r, "orderMessageEnable=false"));
    kite_cmd_free(&r);

    /* Topic lists can be switched off: code 1 "disable". */
    const char *off = "enableAllTopicList=false\nenableTopicList=false\n";
    nt_expect(q, 318, 409, "", off, strlen(off), 0);
    nt_req(q, 206, 409, "", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "disable");
    kite_cmd_free(&r);
    nt_req(q, 224, 409, "\"cluster\":\"C1\"", NULL, 0, &r);
    assert_int_equal(r.code, 1);
    assert_string_equal(r.remark, "disable");
    kite_cmd_free(&r);

    /* scanNotActiveBrokerInterval is on the allow-list, so it must take effect: with
     * brokerExpireMillis=300 and a 100 ms scan a silent broker is gone well within
     * 2 s (the default scan period is 5 s). */
    const char *scan = "scanNotActiveBrokerInterval=100\n";
    nt_expect(q, 318, 409, "", scan, strlen(scan), 0);
    char t[512], body[1024];
    nt_topic_json(t, sizeof t, "TopicS", 4, 6);
    nt_body_json(body, sizeof body, 1, t);
    nt_register_plain(b, "CS", "broker-s", 0, "10.16.0.1:10911", "10.16.0.1:10912", body);
    long long w = nt_wait_route_code(q, "TopicS", 17, 2500);
    if (w < 0)
        fprintf(stderr,
                "broker not expired 2.5 s after a 300 ms timeout: scan interval change ignored\n");
    assert_true(w >= 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_topology_routes_and_cluster_info, nt_setup,
                                        nt_teardown),
        cmocka_unit_test_setup_teardown(test_compressed_body_and_crc, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_data_version_and_write_perm, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_unregister_and_query_data_version, nt_setup,
                                        nt_teardown),
        cmocka_unit_test_setup_teardown(test_delete_topic, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_namesrv_config, nt_setup, nt_teardown),
        cmocka_unit_test_setup_teardown(test_remote_config_effects, nt_setup, nt_teardown),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
