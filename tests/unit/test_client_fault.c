/* test_client_fault.c - the producer's broker fault table (src/client/fault.c): a failed
 * broker is avoided for avoid_ms from its last failure, usable again after that time or at
 * once after a success; a table with avoid_ms 0 never avoids anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "client/fault.h"
#include "kt.h"

static void test_avoid_and_expire(void **st)
{
    (void)st;
    kite_fault *f = kite_fault_new(1000);
    assert_false(kite_fault_avoided(f, "broker-a", 5000));
    assert_int_equal(kite_fault_failed(f, "broker-a", 5000), 1); /* newly avoided */
    assert_true(kite_fault_avoided(f, "broker-a", 5000));
    assert_true(kite_fault_avoided(f, "broker-a", 5999));
    assert_false(kite_fault_avoided(f, "broker-b", 5500)); /* per broker */
    assert_false(kite_fault_avoided(f, "broker-a", 6000)); /* expired */
    /* A failure while avoided extends the time and is not reported as new. */
    assert_int_equal(kite_fault_failed(f, "broker-a", 7000), 1);
    assert_int_equal(kite_fault_failed(f, "broker-a", 7500), 0);
    assert_true(kite_fault_avoided(f, "broker-a", 8200));
    assert_false(kite_fault_avoided(f, "broker-a", 8500));
    kite_fault_free(f);
}

static void test_success_clears(void **st)
{
    (void)st;
    kite_fault *f = kite_fault_new(60000);
    kite_fault_failed(f, "broker-a", 100);
    kite_fault_failed(f, "broker-b", 100);
    kite_fault_ok(f, "broker-a");
    assert_false(kite_fault_avoided(f, "broker-a", 200));
    assert_true(kite_fault_avoided(f, "broker-b", 200));
    kite_fault_ok(f, "broker-c"); /* unknown: nothing happens */
    assert_true(kite_fault_avoided(f, "broker-b", 200));
    kite_fault_free(f);
}

/* Control of the two above: the same calls with the table off avoid nothing. */
static void test_off(void **st)
{
    (void)st;
    kite_fault *f = kite_fault_new(0);
    assert_int_equal(kite_fault_failed(f, "broker-a", 100), 0);
    assert_false(kite_fault_avoided(f, "broker-a", 100));
    kite_fault_free(f);
    kite_fault_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avoid_and_expire),
        cmocka_unit_test(test_success_clears),
        cmocka_unit_test(test_off),
    };
    return kt_exit_code(cmocka_run_group_tests(tests, NULL, NULL));
}
