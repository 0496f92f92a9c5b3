/* Unit tests of ingest/lf_agents: enrolment verdicts (good token, wrong
 * token, another agency's token, unknown agency, no proof, replay, old and
 * future-dated heartbeats), admission of event batches when enrolment is
 * required or not, the registry record in the store, the derived status
 * and the tokens file checks. */
#include "../store/store_test_util.h"
#include "lf_agents.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define NOW        1773104520000LL
#define TC01_TOKEN "tc01-enrolment-token-0123456789"
#define CH07_TOKEN "ch07-enrolment-token-9876543210"

typedef struct fixture {
    test_dir_t dir;
    lf_store_t *store;
    lf_agents_t *agents;
    char tokens[160];
    lf_buf_t msg;
} fixture_t;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static lf_err_t open_agents(fixture_t *fx, bool required, char *err, size_t errlen)
{
    lf_agents_config_t cfg = {.tokens_file = fx->tokens,
                              .required = required,
                              .max_clock_skew_ms = 300000,
                              .max_age_ms = 3600000};
    lf_agents_free(fx->agents);
    fx->agents = NULL;
    return lf_agents_new(&cfg, NULL, &fx->agents, err, errlen);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    test_dir_make(&fx->dir);
    lf_store_config_t cfg = test_config(&fx->dir, 64 << 20, false);
    char err[512];
    assert_int_equal(lf_store_open(&cfg, NULL, &fx->store, err, sizeof err), LF_OK);
    snprintf(fx->tokens, sizeof fx->tokens, "%s/tokens.yaml", fx->dir.root);
    /* CH-07's token as its SHA-256: sha256("ch07-enrolment-token-9876543210"). */
    uint8_t key[LF_WIRE_KEY_BYTES];
    lf_wire_enrol_key(lf_str_c(CH07_TOKEN), key);
    char text[400];
    int n = snprintf(text, sizeof text, "tokens:\n  TC-01: \"%s\"\n  CH-07: \"sha256:", TC01_TOKEN);
    for (unsigned i = 0; i < LF_WIRE_KEY_BYTES; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%02x", key[i]);
    snprintf(text + n, sizeof text - (size_t)n, "\"\n");
    write_file(fx->tokens, text);
    assert_int_equal(open_agents(fx, true, err, sizeof err), LF_OK);
    assert_int_equal(lf_agents_token_count(fx->agents), 2);
    lf_buf_init(&fx->msg, 65536);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    lf_agents_free(fx->agents);
    lf_store_close(fx->store);
    lf_buf_free(&fx->msg);
    test_dir_remove(&fx->dir);
    free(fx);
    return 0;
}

static void heartbeat(fixture_t *fx, const char *agent, const char *agency, const char *token,
                      int64_t sent_ms, uint64_t lost)
{
    uint8_t key[LF_WIRE_KEY_BYTES];
    if (token)
        lf_wire_enrol_key(lf_str_c(token), key);
    lf_wire_heartbeat_t hb = {.sent_ms = sent_ms,
                              .started_ms = sent_ms - 1000,
                              .interval_ms = 30000,
                              .agent_id = lf_str_c(agent),
                              .agency = lf_str_c(agency),
                              .host = lf_str_c("host-1"),
                              .os = lf_str_c("Debian 12"),
                              .version = lf_str_c("0.1.0")};
    lf_wire_counter_t c[] = {{lf_str_c("records_read"), 10}, {lf_str_c("records_lost"), lost}};
    assert_int_equal(lf_wire_heartbeat_encode(&fx->msg, &hb, c, 2, token ? key : NULL), LF_OK);
}

static void take(fixture_t *fx, int64_t now)
{
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(fx->store, &b), LF_OK);
    const char *why = NULL;
    assert_int_equal(lf_agents_on_heartbeat(fx->agents, lf_store_batch_wtx(b), fx->msg.data,
                                            fx->msg.len, now, &why),
                     LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
}

static bool admit(fixture_t *fx, const char *agent, const char *agency)
{
    lf_wire_batch_header_t h = {.agent_id = lf_str_c(agent), .agency = lf_str_c(agency)};
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(fx->store, &b), LF_OK);
    bool ok = false;
    assert_int_equal(lf_agents_admit(fx->agents, lf_store_batch_wtx(b), &h, 7, NOW, &ok), LF_OK);
    assert_int_equal(lf_store_batch_commit(b, NULL, NULL), LF_OK);
    return ok;
}

typedef struct seen {
    lf_agents_enrolment_t enrolment;
    lf_agents_reason_t reason;
    bool accepting;
    uint64_t heartbeats, failures, stale, refused_batches, refused_records;
    lf_agents_status_t status;
    char host[32];
} seen_t;

static int64_t status_now = NOW;

static bool grab(void *opaque, const lf_agents_record_t *r)
{
    seen_t *s = opaque;
    s->enrolment = r->enrolment;
    s->reason = r->reason;
    s->accepting = r->accepting;
    s->heartbeats = r->heartbeats;
    s->failures = r->enrol_failures;
    s->stale = r->stale_heartbeats;
    s->refused_batches = r->refused_batches;
    s->refused_records = r->refused_records;
    lf_agents_health_limits_t lim = {.problem_window_ms = 900000, .spool_full_percent = 90};
    s->status = lf_agents_status(r, status_now, &lim, NULL, NULL);
    snprintf(s->host, sizeof s->host, "%.*s", (int)r->hb.host.len, r->hb.host.ptr);
    return true;
}

static seen_t get(fixture_t *fx, const char *agent)
{
    seen_t s = {0};
    assert_int_equal(lf_agents_get(fx->store, lf_str_c(agent), grab, &s), LF_OK);
    return s;
}

static void test_good_token(void **state)
{
    fixture_t *fx = *state;
    assert_false(admit(fx, "a1", "TC-01")); /* no heartbeat yet */
    assert_int_equal(get(fx, "a1").reason, LF_AGENTS_R_NO_HEARTBEAT);
    heartbeat(fx, "a1", "TC-01", TC01_TOKEN, NOW, 0);
    take(fx, NOW);
    seen_t s = get(fx, "a1");
    assert_int_equal(s.enrolment, LF_ENROL_ENROLLED);
    assert_true(s.accepting);
    assert_int_equal(s.refused_batches, 1);
    assert_int_equal(s.refused_records, 7);
    assert_string_equal(s.host, "host-1");
    assert_int_equal(s.status, LF_AGENT_HEALTHY);
    assert_true(admit(fx, "a1", "TC-01"));
    /* A batch naming another agency is refused. */
    assert_false(admit(fx, "a1", "CH-07"));
    assert_int_equal(get(fx, "a1").reason, LF_AGENTS_R_AGENCY_MISMATCH);
    assert_int_equal(get(fx, "a1").status, LF_AGENT_REFUSED);
    /* The sha256: form of a token works the same. */
    heartbeat(fx, "c1", "CH-07", CH07_TOKEN, NOW, 0);
    take(fx, NOW);
    assert_int_equal(get(fx, "c1").enrolment, LF_ENROL_ENROLLED);
    assert_true(admit(fx, "c1", "CH-07"));
}

static void test_wrong_tokens(void **state)
{
    fixture_t *fx = *state;
    struct {
        const char *agent, *agency, *token;
        lf_agents_reason_t reason;
    } cases[] = {
        {"w1", "TC-01", "tc01-not-the-token-000000000000", LF_AGENTS_R_BAD_PROOF},
        {"w2", "CH-07", TC01_TOKEN, LF_AGENTS_R_BAD_PROOF}, /* another agency's token */
        {"w3", "NT-21", TC01_TOKEN, LF_AGENTS_R_UNKNOWN_AGENCY},
        {"w4", "TC-01", NULL, LF_AGENTS_R_NO_PROOF},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        heartbeat(fx, cases[i].agent, cases[i].agency, cases[i].token, NOW, 0);
        take(fx, NOW);
        seen_t s = get(fx, cases[i].agent);
        assert_int_equal(s.enrolment, LF_ENROL_FAILED);
        assert_int_equal(s.reason, cases[i].reason);
        assert_false(s.accepting);
        assert_int_equal(s.failures, 1);
        assert_int_equal(s.status, LF_AGENT_REFUSED);
        assert_false(admit(fx, cases[i].agent, cases[i].agency));
    }
    /* Fixed: the next heartbeat enrols and the events are admitted. */
    heartbeat(fx, "w1", "TC-01", TC01_TOKEN, NOW + 1000, 0);
    take(fx, NOW + 1000);
    assert_int_equal(get(fx, "w1").enrolment, LF_ENROL_ENROLLED);
    assert_true(admit(fx, "w1", "TC-01"));
}

static void test_freshness(void **state)
{
    fixture_t *fx = *state;
    heartbeat(fx, "f1", "TC-01", TC01_TOKEN, NOW, 0);
    take(fx, NOW);
    take(fx, NOW + 5000); /* the same heartbeat again: a replay */
    seen_t s = get(fx, "f1");
    assert_int_equal(s.stale, 1);
    assert_int_equal(s.heartbeats, 1);
    assert_int_equal(s.enrolment, LF_ENROL_ENROLLED);
    /* Older than max_age when consumed: stale, nothing changes. */
    heartbeat(fx, "f2", "TC-01", TC01_TOKEN, NOW - 7200000, 0);
    take(fx, NOW);
    s = get(fx, "f2");
    assert_int_equal(s.stale, 1);
    assert_int_equal(s.enrolment, LF_ENROL_NONE);
    assert_false(admit(fx, "f2", "TC-01"));
    /* Dated ahead of the server by more than max_clock_skew. */
    heartbeat(fx, "f3", "TC-01", TC01_TOKEN, NOW + 600000, 0);
    take(fx, NOW);
    s = get(fx, "f3");
    assert_int_equal(s.enrolment, LF_ENROL_FAILED);
    assert_int_equal(s.reason, LF_AGENTS_R_CLOCK_SKEW);
}

static void test_not_required(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    assert_int_equal(open_agents(fx, false, err, sizeof err), LF_OK);
    assert_true(admit(fx, "n1", "TC-01")); /* unknown agents are accepted */
    heartbeat(fx, "n1", "TC-01", NULL, NOW, 0);
    take(fx, NOW);
    seen_t s = get(fx, "n1");
    assert_int_equal(s.reason, LF_AGENTS_R_NO_PROOF);
    assert_true(s.accepting);
    assert_int_equal(s.status, LF_AGENT_NOT_ENROLLED);
    assert_true(admit(fx, "n1", "TC-01"));
}

static void test_status(void **state)
{
    fixture_t *fx = *state;
    heartbeat(fx, "s1", "TC-01", TC01_TOKEN, NOW, 2);
    take(fx, NOW);
    assert_int_equal(get(fx, "s1").status, LF_AGENT_HEALTHY); /* the first is the baseline */
    heartbeat(fx, "s1", "TC-01", TC01_TOKEN, NOW + 30000, 5);
    take(fx, NOW + 30000);
    status_now = NOW + 31000;
    assert_int_equal(get(fx, "s1").status, LF_AGENT_UNHEALTHY); /* records_lost +3 */
    status_now = NOW + 30000 + 3 * 30000 + 1;
    assert_int_equal(get(fx, "s1").status, LF_AGENT_SILENT);
    status_now = NOW + 30000 + 900000 + 1;
    heartbeat(fx, "s1", "TC-01", TC01_TOKEN, status_now, 5);
    take(fx, status_now);
    assert_int_equal(get(fx, "s1").status, LF_AGENT_HEALTHY); /* the loss left the window */
    status_now = NOW;
    lf_agents_status_t st;
    assert_int_equal(lf_agents_status_parse("not_enrolled", &st), LF_OK);
    assert_int_equal(st, LF_AGENT_NOT_ENROLLED);
    assert_int_equal(lf_agents_status_parse("bogus", &st), LF_EINVAL);
    assert_int_equal(lf_agents_status(NULL, NOW, &(lf_agents_health_limits_t){0}, NULL, NULL),
                     LF_AGENT_NOT_ENROLLED);
}

static void test_malformed(void **state)
{
    fixture_t *fx = *state;
    lf_store_batch_t *b;
    assert_int_equal(lf_store_batch_begin(fx->store, &b), LF_OK);
    const char *why = NULL;
    assert_int_equal(
        lf_agents_on_heartbeat(fx->agents, lf_store_batch_wtx(b), "LFH1xxxx", 8, NOW, &why),
        LF_EPARSE);
    assert_non_null(why);
    heartbeat(fx, "_pipeline", "TC-01", NULL, NOW, 0);
    assert_int_equal(lf_agents_on_heartbeat(fx->agents, lf_store_batch_wtx(b), fx->msg.data,
                                            fx->msg.len, NOW, &why),
                     LF_EPARSE);
    lf_store_batch_abort(b);
}

static void test_tokens_file(void **state)
{
    fixture_t *fx = *state;
    char err[512];
    write_file(fx->tokens, "tokens:\n  TC-01: short\n");
    assert_int_equal(open_agents(fx, true, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "shorter than 16"));
    write_file(fx->tokens, "tokens:\n  TC-01: \"sha256:abcd\"\n");
    assert_int_equal(open_agents(fx, true, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "64 hex digits"));
    write_file(fx->tokens, "tokenz:\n  TC-01: x\n");
    assert_int_equal(open_agents(fx, true, err, sizeof err), LF_ECONFIG);
    assert_non_null(strstr(err, "tokens_file"));
    /* Reload keeps the loaded tokens when the file turns bad. */
    write_file(fx->tokens, "tokens:\n  TC-01: \"" TC01_TOKEN "\"\n");
    assert_int_equal(open_agents(fx, true, err, sizeof err), LF_OK);
    write_file(fx->tokens, "tokens: [");
    assert_int_equal(lf_agents_reload(fx->agents, err, sizeof err), LF_ECONFIG);
    assert_int_equal(lf_agents_token_count(fx->agents), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freshness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
