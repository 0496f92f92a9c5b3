/* test_api_params.c - the API's parsers, its configuration table and the
 * generated reference that docs/api.md must contain. */
#include "lf_api.h"
#include "lf_api_internal.h"
#include "lf_time.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void test_parse_time(void **state)
{
    (void)state;
    int64_t base = lf_time_days_from_civil(2026, 3, 10) * 86400000LL;
    static const struct {
        const char *text;
        int64_t offset_ms; /* from 2026-03-10T00:00:00Z */
    } good[] = {
        {"2026-03-10T00:00:00Z", 0},
        {"2026-03-10t00:00:00z", 0},
        {"2026-03-10T09:02:00+08:00", 62 * 60000},
        {"2026-03-10T09:02:00 08:00", 62 * 60000}, /* '+' decoded to a space */
        {"2026-03-10T01:02:00.5Z", 3720500},
        {"2026-03-10T01:02:00.123456789Z", 3720123},
        {"2026-03-09T23:00:00-01:00", 0},
        {"2026-03-10 00:00:01Z", 1000},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        if (!lf_api_parse_time(good[i].text, &ms))
            fail_msg("refused %s", good[i].text);
        assert_int_equal(ms, base + good[i].offset_ms);
    }
    int64_t ms;
    assert_true(lf_api_parse_time("1773104520000", &ms));
    assert_int_equal(ms, 1773104520000LL);
    assert_true(lf_api_parse_time("2024-02-29T00:00:00Z", &ms));

    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-03-10",
        "2026-03-10T00:00:00",  /* no offset */
        "2026-02-29T00:00:00Z", /* not a leap year */
        "2026-13-01T00:00:00Z",
        "2026-03-10T24:00:00Z",
        "2026-03-10T00:60:00Z",
        "2026-03-10T00:00:00.Z",
        "2026-03-10T00:00:00.1234567890Z",
        "2026-03-10T00:00:00+8:00",
        "2026-03-10T00:00:00Zjunk",
        "1969-12-31T23:59:59Z",
        "-5",
        "99999999999999999999",
        "253402300800000", /* past 9999 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (lf_api_parse_time(bad[i], &ms))
            fail_msg("accepted '%s'", bad[i]);
}

static void test_parse_listen(void **state)
{
    (void)state;
    struct sockaddr_storage addr;
    socklen_t len;
    char err[256];

    assert_int_equal(lf_api_parse_listen("127.0.0.1:8080", &addr, &len, err, sizeof err), LF_OK);
    assert_int_equal(addr.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&addr)->sin_port), 8080);
    assert_int_equal(lf_api_parse_listen("[::1]:0", &addr, &len, err, sizeof err), LF_OK);
    assert_int_equal(addr.ss_family, AF_INET6);
    assert_int_equal(lf_api_parse_listen("0.0.0.0:65535", &addr, &len, err, sizeof err), LF_OK);

    static const char *const bad[] = {
        "",       "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "localhost:80",
        "::1:80", "[::1]80",   "[::1",       "[127.0.0.1]:80",  "1.2.3:80",     "127.0.0.1:80x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (lf_api_parse_listen(bad[i], &addr, &len, err, sizeof err) != LF_ECONFIG)
            fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(err, "api.listen"));
    }
}

static void test_parse_u64(void **state)
{
    (void)state;
    uint64_t v;
    assert_true(lf_api_parse_u64("0", 1, &v));
    assert_int_equal(v, 0);
    assert_true(lf_api_parse_u64("18446744073709551615", 20, &v));
    assert_true(v == UINT64_MAX);
    assert_false(lf_api_parse_u64("18446744073709551616", 20, &v));
    assert_false(lf_api_parse_u64("", 0, &v));
    assert_false(lf_api_parse_u64("+1", 2, &v));
    assert_false(lf_api_parse_u64(" 1", 2, &v));
    assert_false(lf_api_parse_u64(NULL, 0, &v));
}

static void test_content_types(void **state)
{
    (void)state;
    assert_string_equal(lf_api_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(lf_api_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(lf_api_content_type("style.css"), "text/css; charset=utf-8");
    assert_string_equal(lf_api_content_type("README"), "application/octet-stream");
    /* Every embedded file has a known type. */
    assert_true(lf_api_asset_count >= 3);
    for (size_t i = 0; i < lf_api_asset_count; i++)
        assert_string_not_equal(lf_api_content_type(lf_api_assets[i].name),
                                "application/octet-stream");
}

static void test_config_defaults_are_safe(void **state)
{
    (void)state;
    lf_api_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[256];
    assert_int_equal(lf_config_set_defaults(lf_api_config_options, &cfg, err, sizeof err), LF_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_int_equal(cfg.threads, 2);
    assert_int_equal(cfg.max_connections, 256);
    assert_int_equal(cfg.connection_timeout_ms, 30000);
    assert_int_equal(cfg.max_page_size, 1000);
    assert_int_equal(cfg.per_ip_connection_limit, 64);
    assert_int_equal(cfg.max_response_size, 32 << 20);
    lf_config_free(lf_api_config_options, &cfg);

    static const char yaml[] = "listen: \"[::1]:9090\"\nthreads: 4\nconnection_timeout: 5s\n";
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(lf_config_load_string(yaml, strlen(yaml), "api.yaml", lf_api_config_options,
                                           &cfg, err, sizeof err),
                     LF_OK);
    assert_string_equal(cfg.listen, "[::1]:9090");
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.connection_timeout_ms, 5000);
    lf_config_free(lf_api_config_options, &cfg);

    static const char bad[] = "max_page_size: 5000\n";
    memset(&cfg, 0, sizeof cfg);
    assert_int_not_equal(lf_config_load_string(bad, strlen(bad), "api.yaml", lf_api_config_options,
                                               &cfg, err, sizeof err),
                         LF_OK);
    lf_config_free(lf_api_config_options, &cfg);
}

static char *capture(void (*write)(FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    write(f);
    fclose(f);
    return text;
}

static void write_routes(FILE *f)
{
    lf_api_write_reference(f);
}

static void write_config(FILE *f)
{
    lf_config_write_reference(f, lf_api_config_options, "api",
                              "The `api:` section of lianfangd.yaml: the HTTP API and "
                              "dashboard server.");
}

static void test_reference_lists_every_route(void **state)
{
    (void)state;
    char *text = capture(write_routes);
    for (size_t i = 0; i < lf_api_route_count; i++) {
        char cell[160];
        snprintf(cell, sizeof cell, "| %s | `%s` |", lf_api_routes[i].method,
                 lf_api_routes[i].pattern);
        if (!strstr(text, cell))
            fail_msg("reference lacks %s", cell);
    }
    assert_non_null(strstr(text, "`limit`, `cursor`, `agent`, `agency`, `from`, `to`"));
    free(text);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* docs/api.md carries the generated route table and configuration reference
 * verbatim; regenerate with build/.../dashboard-api/lf-api-reference. */
static void test_docs_in_sync(void **state)
{
    (void)state;
    char *doc = read_file(LF_SOURCE_DIR "/docs/api.md");
    char *routes = capture(write_routes);
    char *config = capture(write_config);
    if (!strstr(doc, routes))
        fail_msg("docs/api.md: route table is stale; paste `lf-api-reference routes`");
    if (!strstr(doc, config))
        fail_msg("docs/api.md: configuration reference is stale; paste `lf-api-reference "
                 "config`");
    free(doc);
    free(routes);
    free(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_config_defaults_are_safe),
        cmocka_unit_test(test_reference_lists_every_route),
        cmocka_unit_test(test_docs_in_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
