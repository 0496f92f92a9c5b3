/* Configuration: defaults, errors with file:line:key, validation. */
#include "lf_agent.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_config_defaults(void **state)
{
    lf_agent_config_t cfg = {0};
    char err[512] = "";
    assert_int_equal(lf_agent_config_load_string("", "empty.yaml", &cfg, err, sizeof err), LF_OK);
    assert_string_equal(cfg.agent.agency, "unassigned");
    assert_string_equal(cfg.agent.state_dir, "/var/lib/lianfang-agent");
    assert_true(cfg.agent.id && *cfg.agent.id); /* host name */
    assert_true(cfg.agent.host && *cfg.agent.host);
    assert_int_equal(cfg.agent.status_interval_ms, 60000);
    assert_string_equal(cfg.kafka.brokers, "127.0.0.1:9092");
    assert_int_equal(cfg.limits.max_record_bytes, 64 * 1024);
    assert_int_equal(cfg.limits.batch_max_records, 2048);
    assert_int_equal(cfg.limits.batch_max_bytes, 1024 * 1024);
    assert_int_equal(cfg.limits.max_unacked_bytes, 4 * 1024 * 1024);
    assert_int_equal(cfg.limits.ack_timeout_ms, 30000);
    assert_int_equal(cfg.limits.partial_line_timeout_ms, 5000);
    assert_int_equal(cfg.limits.poll_interval_ms, 250);
    assert_true(cfg.limits.state_sync);
    assert_int_equal(cfg.source_count, 0);
    lf_agent_config_free(&cfg);
}

static void test_config_sources(void **state)
{
    const char *text = "agent:\n  id: web-01\n  agency: TC-01\n  log_level: debug\n"
                       "sources:\n"
                       "  - name: syslog\n    path: /var/log/syslog\n"
                       "  - name: nginx\n    path: /var/log/nginx/access.log\n"
                       "    start_at: beginning\n"
                       "limits:\n  max_record_bytes: 16KiB\n  ack_timeout: 2m\n";
    lf_agent_config_t cfg = {0};
    char err[512] = "";
    assert_int_equal(lf_agent_config_load_string(text, "a.yaml", &cfg, err, sizeof err), LF_OK);
    assert_int_equal(cfg.source_count, 2);
    assert_string_equal(cfg.sources[1].name, "nginx");
    assert_int_equal(cfg.sources[0].start_at, LF_AGENT_START_END);
    assert_int_equal(cfg.sources[1].start_at, LF_AGENT_START_BEGINNING);
    assert_int_equal(cfg.limits.max_record_bytes, 16 * 1024);
    assert_int_equal(cfg.limits.ack_timeout_ms, 120000);
    assert_int_equal(cfg.agent.log_level, 0);
    lf_agent_config_free(&cfg);
}

static void expect_error(const char *text, const char *needle)
{
    lf_agent_config_t cfg = {0};
    char err[512] = "";
    assert_int_equal(lf_agent_config_load_string(text, "agent.yaml", &cfg, err, sizeof err),
                     LF_ECONFIG);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
    lf_agent_config_free(&cfg);
}

static void test_config_errors_name_file_line_and_key(void **state)
{
    expect_error("agent:\n  id: a\n  colour: red\n", "agent.yaml:3:3: agent.colour: unknown key");
    expect_error("sources:\n  - name: s\n    path: /x\n    follow: yes\n",
                 "agent.yaml:4:5: sources[0].follow: unknown key");
    expect_error("sources:\n  - name: s\n", "sources[0].path: required key is missing");
    expect_error("limits:\n  max_record_bytes: 100\n", "agent.yaml:2:21: limits.max_record_bytes");
    expect_error("sources:\n  - name: s\n    path: /x\n    start_at: middle\n",
                 "sources[0].start_at: expects one of [end, beginning]");
    expect_error("sources:\n  - name: s\n    path: relative.log\n",
                 "sources[0].path: must be an absolute path");
    expect_error("sources:\n  - {name: a, path: /x}\n  - {name: b, path: /x}\n",
                 "sources[1].path: /x is already tailed by sources[0]");
}

static void test_config_reference_lists_every_option(void **state)
{
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    lf_agent_config_reference(mem);
    fclose(mem);
    const char *keys[] = {"`agent.id`", "`kafka.brokers`", "`sources[].start_at`",
                          "`limits.max_unacked_bytes`", "`limits.partial_line_timeout`"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_non_null(strstr(out, keys[i]));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_sources),
        cmocka_unit_test(test_config_errors_name_file_line_and_key),
        cmocka_unit_test(test_config_reference_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
