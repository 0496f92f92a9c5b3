/* Unit tests of correlate/lf_stix: every supported pattern form, the
 * unsupported and malformed ones with their reasons, bundle import (the
 * shipped sample bundle, TLP markings, validity, revocation, versions) and
 * the bounds on bundle size, indicator count and pattern length. */
#include "lf_ioc.h"
#include "lf_stix.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SAMPLE_BUNDLE LF_SOURCE_DIR "/rules/intel/sample-bundle.json"

static lf_err_t parse(const char *text, lf_stix_pattern_t **out, char *why, size_t whylen)
{
    return lf_stix_pattern_parse(text, strlen(text), 16384, out, why, whylen);
}

/* Parses text, expects success, returns the pattern. */
static lf_stix_pattern_t *parse_ok(const char *text)
{
    lf_stix_pattern_t *p = NULL;
    char why[256];
    lf_err_t rc = parse(text, &p, why, sizeof why);
    if (rc != LF_OK)
        fail_msg("'%s' should parse: %s (%s)", text, why, lf_err_name(rc));
    return p;
}

/* Expects rc and a reason containing `reason`. */
static void parse_fails(const char *text, lf_err_t want, const char *reason)
{
    lf_stix_pattern_t *p = NULL;
    char why[256] = "";
    lf_err_t rc = parse(text, &p, why, sizeof why);
    if (rc != want)
        fail_msg("'%s': got %s (%s), want %s", text, lf_err_name(rc), why, lf_err_name(want));
    assert_null(p);
    if (reason && !strstr(why, reason))
        fail_msg("'%s': reason '%s' lacks '%s'", text, why, reason);
}

static const lf_stix_cmp_t *term_cmp(const lf_stix_pattern_t *p, size_t term, size_t k)
{
    assert_true(term < p->term_count);
    assert_true(p->term_start[term] + k < p->term_start[term + 1]);
    return &p->cmps[p->term_cmps[p->term_start[term] + k]];
}

static size_t term_size(const lf_stix_pattern_t *p, size_t term)
{
    return p->term_start[term + 1] - p->term_start[term];
}

static void test_ipv4_forms(void **state)
{
    lf_stix_pattern_t *p = parse_ok("[ipv4-addr:value = '198.51.100.7']");
    assert_int_equal(p->term_count, 1);
    const lf_stix_cmp_t *c = term_cmp(p, 0, 0);
    assert_int_equal(c->kind, LF_IOC_IPV4);
    assert_int_equal(c->prefix_len, 32);
    uint8_t want[4] = {198, 51, 100, 7};
    assert_memory_equal(c->addr, want, 4);
    lf_stix_pattern_free(p);

    /* CIDR with '=' (a CIDR is a valid ipv4-addr value) and ISSUBSET; host bits cleared */
    const char *forms[] = {"[ipv4-addr:value = '10.1.2.3/8']",
                           "[ipv4-addr:value ISSUBSET '10.0.0.0/8']"};
    for (size_t i = 0; i < 2; i++) {
        p = parse_ok(forms[i]);
        c = term_cmp(p, 0, 0);
        assert_int_equal(c->prefix_len, 8);
        uint8_t net[4] = {10, 0, 0, 0};
        assert_memory_equal(c->addr, net, 4);
        lf_stix_pattern_free(p);
    }
    p = parse_ok("[ipv4-addr:value = '0.0.0.0/0']");
    assert_int_equal(term_cmp(p, 0, 0)->prefix_len, 0);
    lf_stix_pattern_free(p);
}

static void test_ipv6_forms(void **state)
{
    lf_stix_pattern_t *p = parse_ok("[ipv6-addr:value = '2001:DB8::/32']");
    const lf_stix_cmp_t *c = term_cmp(p, 0, 0);
    assert_int_equal(c->kind, LF_IOC_IPV6);
    assert_int_equal(c->prefix_len, 32);
    uint8_t want[16];
    inet_pton(AF_INET6, "2001:db8::", want);
    assert_memory_equal(c->addr, want, 16);
    lf_stix_pattern_free(p);

    p = parse_ok("[ipv6-addr:value ISSUBSET '2001:db8:1:2:3:4:5:6/128']");
    assert_int_equal(term_cmp(p, 0, 0)->prefix_len, 128);
    lf_stix_pattern_free(p);

    /* an IPv4-mapped address is compiled as the IPv4 address */
    p = parse_ok("[ipv6-addr:value = '::ffff:192.0.2.1']");
    assert_int_equal(term_cmp(p, 0, 0)->kind, LF_IOC_IPV4);
    assert_int_equal(term_cmp(p, 0, 0)->prefix_len, 32);
    lf_stix_pattern_free(p);
}

static void test_domain_url_forms(void **state)
{
    lf_stix_pattern_t *p = parse_ok("[domain-name:value = 'WWW.Example.COM.']");
    const lf_stix_cmp_t *c = term_cmp(p, 0, 0);
    assert_int_equal(c->kind, LF_IOC_DOMAIN);
    assert_false(c->suffix);
    assert_string_equal(c->value, "www.example.com");
    lf_stix_pattern_free(p);

    p = parse_ok("[domain-name:value LIKE '%.c2.Example.net']");
    c = term_cmp(p, 0, 0);
    assert_true(c->suffix);
    assert_string_equal(c->value, "c2.example.net");
    lf_stix_pattern_free(p);

    p = parse_ok("[url:value = 'HTTP://Malware.Example.org/Payload/x.exe?a=B']");
    c = term_cmp(p, 0, 0);
    assert_int_equal(c->kind, LF_IOC_URL);
    assert_string_equal(c->value, "http://malware.example.org/Payload/x.exe?a=B");
    lf_stix_pattern_free(p);

    /* a bare authority and the same with "/" are one resource */
    p = parse_ok("[url:value = 'https://Example.org/']");
    assert_string_equal(term_cmp(p, 0, 0)->value, "https://example.org");
    lf_stix_pattern_free(p);

    /* escapes in strings */
    p = parse_ok("[url:value = 'http://example.org/it\\'s/a\\\\b']");
    assert_string_equal(term_cmp(p, 0, 0)->value, "http://example.org/it's/a\\b");
    lf_stix_pattern_free(p);
}

static void test_hash_forms(void **state)
{
    static const struct {
        const char *pattern;
        lf_ioc_kind_t kind;
    } cases[] = {
        {"[file:hashes.MD5 = '222E4AEE83CAB852B7AFD1B5F26094CB']", LF_IOC_MD5},
        {"[file:hashes.'MD5' = '222e4aee83cab852b7afd1b5f26094cb']", LF_IOC_MD5},
        {"[file:hashes.'SHA-1' = '43fd851d5c0818c8634466acab5564dbc5719896']", LF_IOC_SHA1},
        {"[file:hashes.SHA1 = '43fd851d5c0818c8634466acab5564dbc5719896']", LF_IOC_SHA1},
        {"[file:hashes.'SHA-256' = "
         "'10e2f7bc1f266280683cfd30ff62d602d9ed9ac1eac7d8756189c2823cee522a']",
         LF_IOC_SHA256},
        {"[file:hashes.SHA256 = "
         "'10E2F7BC1F266280683CFD30FF62D602D9ED9AC1EAC7D8756189C2823CEE522A']",
         LF_IOC_SHA256},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lf_stix_pattern_t *p = parse_ok(cases[i].pattern);
        const lf_stix_cmp_t *c = term_cmp(p, 0, 0);
        assert_int_equal(c->kind, cases[i].kind);
        for (size_t k = 0; k < c->len; k++) /* lowercased */
            assert_false(c->value[k] >= 'A' && c->value[k] <= 'F');
        lf_stix_pattern_free(p);
    }
}

static void test_boolean_structure(void **state)
{
    /* OR inside one observation and OR between observations: one term each */
    lf_stix_pattern_t *p = parse_ok("[ipv4-addr:value = '192.0.2.1' OR ipv4-addr:value = "
                                    "'192.0.2.2'] OR [domain-name:value = 'example.com']");
    assert_int_equal(p->term_count, 3);
    assert_int_equal(term_cmp(p, 2, 0)->kind, LF_IOC_DOMAIN);
    lf_stix_pattern_free(p);

    /* IN expands to alternatives */
    p = parse_ok("[ipv4-addr:value IN ('192.0.2.1', '192.0.2.0/28', '198.51.100.1')]");
    assert_int_equal(p->term_count, 3);
    assert_int_equal(term_cmp(p, 1, 0)->prefix_len, 28);
    lf_stix_pattern_free(p);

    /* AND on one file object: one term of two comparisons */
    p = parse_ok("[file:hashes.MD5 = '222e4aee83cab852b7afd1b5f26094cb' AND "
                 "file:hashes.'SHA-1' = '43fd851d5c0818c8634466acab5564dbc5719896']");
    assert_int_equal(p->term_count, 1);
    assert_int_equal(term_size(p, 0), 2);
    lf_stix_pattern_free(p);

    /* AND binds tighter than OR; parentheses distribute */
    p = parse_ok("[file:hashes.MD5 = '222e4aee83cab852b7afd1b5f26094cb' AND "
                 "(file:hashes.'SHA-1' = '43fd851d5c0818c8634466acab5564dbc5719896' OR "
                 "file:hashes.'SHA-256' = "
                 "'10e2f7bc1f266280683cfd30ff62d602d9ed9ac1eac7d8756189c2823cee522a')]");
    assert_int_equal(p->term_count, 2);
    assert_int_equal(term_size(p, 0), 2);
    assert_int_equal(term_size(p, 1), 2);
    lf_stix_pattern_free(p);

    p = parse_ok("([ipv4-addr:value = '192.0.2.1'] OR ([ipv6-addr:value = '2001:db8::1']))");
    assert_int_equal(p->term_count, 2);
    lf_stix_pattern_free(p);

    /* whitespace is free */
    p = parse_ok("  [\tipv4-addr:value\n=\r'192.0.2.1' ]  ");
    assert_int_equal(p->term_count, 1);
    lf_stix_pattern_free(p);
}

static void test_unsupported_forms(void **state)
{
    static const struct {
        const char *pattern;
        const char *reason;
    } cases[] = {
        {"[email-addr:value = 'a@example.com']", "object path email-addr:value"},
        {"[file:name = 'x.exe']", "object path file:name"},
        {"[file:hashes.'SHA-512' = 'aa']", "hash algorithm 'SHA-512'"},
        {"[network-traffic:dst_ref.value = '192.0.2.1']", "network-traffic"},
        {"[ipv4-addr:value != '192.0.2.1']", "operator !="},
        {"[ipv4-addr:value NOT = '192.0.2.1']", "NOT"},
        {"[url:value MATCHES '^http://']", "operator MATCHES"},
        {"[domain-name:value LIKE 'evil%']", "'%.<domain>'"},
        {"[ipv4-addr:value ISSUPERSET '192.0.2.0/24']", "ISSUPERSET"},
        {"[EXISTS ipv4-addr:value]", "EXISTS"},
        {"[domain-name:value > 'a']", "operator"},
        {"[ipv4-addr:value = '192.0.2.1'] AND [domain-name:value = 'example.com']",
         "AND between observation"},
        {"[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [ipv4-addr:value = '192.0.2.2']",
         "FOLLOWEDBY"},
        {"[ipv4-addr:value = '192.0.2.1'] WITHIN 300 SECONDS", "WITHIN"},
        {"[ipv4-addr:value = '192.0.2.1'] REPEATS 5 TIMES", "REPEATS"},
        {"[ipv4-addr:value = '192.0.2.1'] START t'2026-01-01T00:00:00Z' STOP "
         "t'2026-02-01T00:00:00Z'",
         "START/STOP"},
        {"[ipv4-addr:value = '192.0.2.1' AND domain-name:value = 'example.com']",
         "AND across object types"},
        {"[ipv4-addr:value = '192.0.2.1' OR email-addr:value = 'a@example.com']", "email-addr"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_fails(cases[i].pattern, LF_EINVAL, cases[i].reason);
}

static void test_malformed_forms(void **state)
{
    static const struct {
        const char *pattern;
        const char *reason;
    } cases[] = {
        {"", "expected '[' or '('"},
        {"[]", "object path"},
        {"[ipv4-addr:value = '192.0.2.1'", "expected ']'"},
        {"ipv4-addr:value = '192.0.2.1'", "expected '[' or '('"},
        {"[ipv4-addr:value = '192.0.2.1]", "unterminated string"},
        {"[ipv4-addr:value = '192.0.2.1'] garbage", "unexpected text"},
        {"[ipv4-addr:value '192.0.2.1']", "comparison operator"},
        {"[ipv4-addr:value = ]", "expected a value"},
        {"[ipv4-addr:value = '999.0.2.1']", "not an IPv4"},
        {"[ipv4-addr:value = '192.0.2.0/33']", "not an IPv4"},
        {"[ipv6-addr:value = '2001:db8::/129']", "not an IPv6"},
        {"[ipv4-addr:value = '2001:db8::1']", "not an IPv4"},
        {"[ipv4-addr:value = 42]", "not a string"},
        {"[file:hashes.MD5 = 'abc']", "32 hex digits"},
        {"[file:hashes.'SHA-256' = "
         "'zz0e86b571bc7b837e26944906f46d4935b5d17026b110d7e617ca076f868d3b']",
         "64 hex digits"},
        {"[domain-name:value = 'a..b']", "not a domain"},
        {"[url:value = 'http://exa mple.org/']", "url value"},
        {"[url:value = 'a\\b']", "escapes"},
        {"[ipv4-addr:value IN '192.0.2.1']", "parenthesised list"},
        {"[ipv4-addr:value IN ('192.0.2.1' '192.0.2.2')]", "IN list"},
        {"[ipv4-addr:value = '192.0.2.1' OR]", "object path"},
        {"[ipv4-addr:value = '192.0.2.1'] WITHIN 5", "SECONDS"},
        {"[ipv4-addr:value = '192.0.2.1'] OR", "expected '[' or '('"},
        {"[ipv4-addr:value[x] = '192.0.2.1']", "list index"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_fails(cases[i].pattern, LF_EPARSE, cases[i].reason);
}

static void test_pattern_bounds(void **state)
{
    /* length */
    lf_stix_pattern_t *p = NULL;
    char why[256];
    const char *text = "[ipv4-addr:value = '192.0.2.1']";
    assert_int_equal(lf_stix_pattern_parse(text, strlen(text), 10, &p, why, sizeof why), LF_EFULL);
    assert_non_null(strstr(why, "above the limit"));

    /* nesting */
    char deep[512] = "";
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        deep[n++] = '(';
    n += (size_t)snprintf(deep + n, sizeof deep - n, "[ipv4-addr:value = '192.0.2.1']");
    for (int i = 0; i < 40; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    parse_fails(deep, LF_EFULL, "nesting");

    /* DNF explosion: (a OR b) AND (c OR d) AND ... 2^9 = 512 terms > 256 */
    char big[4096] = "[";
    n = 1;
    for (int i = 0; i < 9; i++)
        n += (size_t)snprintf(big + n, sizeof big - n,
                              "%s(ipv4-addr:value = '192.0.2.%d' OR ipv4-addr:value = "
                              "'198.51.100.%d')",
                              i ? " AND " : "", i, i);
    snprintf(big + n, sizeof big - n, "]");
    parse_fails(big, LF_EFULL, "alternatives");

    /* too many comparisons in one AND */
    char wide[4096] = "[";
    n = 1;
    for (int i = 0; i < 17; i++)
        n += (size_t)snprintf(wide + n, sizeof wide - n, "%sipv4-addr:value = '192.0.2.%d'",
                              i ? " AND " : "", i);
    snprintf(wide + n, sizeof wide - n, "]");
    parse_fails(wide, LF_EFULL, "joined by AND");

    /* a long IN list is fine up to the comparison bound */
    size_t cap = 64 * 1100;
    char *list = malloc(cap);
    assert_non_null(list);
    n = (size_t)snprintf(list, cap, "[ipv4-addr:value IN (");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(list + n, cap - n, "%s'10.0.%d.%d'", i ? ", " : "", i / 250, i % 250);
    snprintf(list + n, cap - n, ")]");
    p = NULL;
    assert_int_equal(lf_stix_pattern_parse(list, strlen(list), cap, &p, why, sizeof why), LF_OK);
    assert_int_equal(p->term_count, 200);
    lf_stix_pattern_free(p);
    n = (size_t)snprintf(list, cap, "[ipv4-addr:value IN (");
    for (int i = 0; i < 1030; i++)
        n += (size_t)snprintf(list + n, cap - n, "%s'10.0.%d.%d'", i ? ", " : "", i / 250, i % 250);
    snprintf(list + n, cap - n, ")]");
    assert_int_equal(lf_stix_pattern_parse(list, strlen(list), cap, &p, why, sizeof why), LF_EFULL);
    free(list);
}

static void test_time_parse(void **state)
{
    int64_t ms;
    assert_int_equal(lf_ioc_parse_time("2026-03-10T01:02:03Z", 20, &ms), LF_OK);
    assert_int_equal(ms, 1773104523000LL);
    const char *frac = "2026-03-10T01:02:03.456789Z";
    assert_int_equal(lf_ioc_parse_time(frac, strlen(frac), &ms), LF_OK);
    assert_int_equal(ms, 1773104523456LL);
    const char *off = "2026-03-10T09:02:03+08:00";
    assert_int_equal(lf_ioc_parse_time(off, strlen(off), &ms), LF_OK);
    assert_int_equal(ms, 1773104523000LL);
    const char *bad[] = {"2026-03-10", "2026-13-10T01:02:03Z", "2026-03-10T01:02:03",
                         "2026-03-10T01:02:03.Z", "2026-03-10T01:02:03Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(lf_ioc_parse_time(bad[i], strlen(bad[i]), &ms), LF_EPARSE);
}

/* ---- bundles ------------------------------------------------------------ */

static const lf_ioc_problem_t *find_problem(const lf_ioc_report_t *r, const char *id)
{
    for (size_t i = 0; i < r->problem_count; i++)
        if (!strcmp(r->problems[i].object_id, id))
            return &r->problems[i];
    return NULL;
}

static void test_sample_bundle(void **state)
{
    lf_ioc_builder_t *b = lf_ioc_builder_new(NULL);
    assert_non_null(b);
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    char err[256];
    assert_int_equal(lf_stix_import_file(b, SAMPLE_BUNDLE, &r, err, sizeof err), LF_OK);
    assert_int_equal(r.bundles, 1);
    assert_int_equal(r.indicators, 12); /* 14 indicator objects, 2 unsupported */
    assert_int_equal(r.unsupported, 2);
    assert_int_equal(r.invalid, 0);
    const lf_ioc_problem_t *pb =
        find_problem(&r, "indicator--5c2e0a2d-b619-4e25-b7dc-0306f6f5d012");
    assert_non_null(pb);
    assert_int_equal(pb->kind, LF_IOC_PROBLEM_UNSUPPORTED);
    assert_non_null(strstr(pb->reason, "email-addr"));
    assert_non_null(strstr(pb->source, "sample-bundle.json"));
    pb = find_problem(&r, "indicator--6d3f1b3e-c72a-4f36-88ed-1417a7a6e013");
    assert_non_null(pb);
    assert_non_null(strstr(pb->reason, "REPEATS"));

    lf_ioc_set_t *set = NULL;
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, &r, err, sizeof err), LF_OK);
    assert_int_equal(r.revoked, 1);
    assert_int_equal(r.superseded, 1);
    assert_int_equal(lf_ioc_set_indicator_count(set), 10);
    assert_int_equal(r.compiled, 10);
    assert_null(lf_ioc_set_find(set, "indicator--3a0ce80b-94f7-4c03-95ba-e081d4d3b010"));

    const lf_ioc_indicator_t *ind =
        lf_ioc_set_find(set, "indicator--a1f3c9d2-0b6e-4f7a-8c21-5d9e4b3a2f01");
    assert_non_null(ind);
    assert_int_equal(ind->tlp, LF_TLP_GREEN); /* TLP 1.0 green id */
    assert_int_equal(ind->confidence, 85);
    assert_int_equal(ind->label_count, 2);
    assert_string_equal(ind->labels[0], "INT");
    assert_string_equal(ind->name, "SSH brute force source seen at three agencies");
    assert_int_equal(ind->valid_until_ms, LF_IOC_TIME_NONE_AFTER);

    static const struct {
        const char *id;
        lf_tlp_t tlp;
    } tlps[] = {
        {"indicator--b2e4d0e3-1c7f-4a8b-9d32-6e0f5c4b3a02", LF_TLP_AMBER},        /* 2.0 */
        {"indicator--c3f5e1f4-2d80-4b9c-ae43-7f1a6d5c4b03", LF_TLP_GREEN},        /* local */
        {"indicator--d4a6f2a5-3e91-4cad-bf54-8a2b7e6d5c04", LF_TLP_GREEN},        /* 2.0 */
        {"indicator--e5b7a3b6-4fa2-4dbe-8065-9b3c8f7e6d05", LF_TLP_AMBER_STRICT}, /* 2.0 */
        {"indicator--f6c8b4c7-50b3-4ecf-9176-ac4d908f7e06", LF_TLP_CLEAR},        /* 2.0 */
        {"indicator--07d9c5d8-61c4-4fd0-a287-bd5ea1a08f07", LF_TLP_RED},          /* 2.0 */
        {"indicator--18eac6e9-72d5-4ae1-b398-ce6fb2b19008", LF_TLP_AMBER},        /* 1.0 */
        {"indicator--29fbd7fa-83e6-4bf2-84a9-df70c3c2a009", LF_TLP_CLEAR},        /* 1.0 white */
        {"indicator--4b1df91c-a508-4d14-a6cb-f192e5e4c011", LF_TLP_NONE},
    };
    for (size_t i = 0; i < sizeof tlps / sizeof tlps[0]; i++) {
        ind = lf_ioc_set_find(set, tlps[i].id);
        assert_non_null(ind);
        if (ind->tlp != tlps[i].tlp)
            fail_msg("%s: TLP %s, want %s", tlps[i].id, lf_tlp_name(ind->tlp),
                     lf_tlp_name(tlps[i].tlp));
    }
    /* the newer version won */
    ind = lf_ioc_set_find(set, "indicator--4b1df91c-a508-4d14-a6cb-f192e5e4c011");
    assert_string_equal(ind->pattern, "[ipv4-addr:value = '192.0.2.31']");
    assert_int_equal(ind->confidence, 75);
    assert_string_equal(lf_tlp_name(LF_TLP_AMBER_STRICT), "TLP:AMBER+STRICT");

    lf_ioc_set_release(set);
    lf_ioc_report_free(&r);
    lf_ioc_builder_free(b);
}

static lf_err_t import_text(lf_ioc_builder_t *b, const char *json, lf_ioc_report_t *r, char *err,
                            size_t errlen)
{
    return lf_stix_import_buffer(b, json, strlen(json), "test", r, err, errlen);
}

#define IND(id, extra)                                                                             \
    "{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--" id "\","               \
    "\"created\":\"2026-03-01T00:00:00Z\",\"pattern_type\":\"stix\"," extra "}"

static void test_malformed_bundles(void **state)
{
    lf_ioc_builder_t *b = lf_ioc_builder_new(NULL);
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    char err[256];
    assert_int_equal(import_text(b, "{\"type\":\"bundle\",\"objects\":[", &r, err, sizeof err),
                     LF_EPARSE);
    assert_non_null(strstr(err, "test: line 1 column"));
    assert_int_equal(import_text(b, "[1,2]", &r, err, sizeof err), LF_EPARSE);
    assert_non_null(strstr(err, "no \"objects\" array"));
    assert_int_equal(import_text(b, "{\"type\":\"report\",\"objects\":[]}", &r, err, sizeof err),
                     LF_EPARSE);
    assert_int_equal(import_text(b, "", &r, err, sizeof err), LF_EPARSE);
    assert_int_equal(import_text(b, "{\"objects\":[],\"objects\":[]}", &r, err, sizeof err),
                     LF_EPARSE);
    assert_int_equal(r.bundles_refused, 5);
    assert_int_equal(r.problems[0].kind, LF_IOC_PROBLEM_ERROR);
    /* a TAXII envelope (no "type") is accepted */
    assert_int_equal(import_text(b, "{\"more\":false,\"objects\":[]}", &r, err, sizeof err), LF_OK);

    /* per-indicator problems: skipped with the reason, the rest loads */
    const char *bundle =
        "{\"type\":\"bundle\",\"objects\":["
        "1, {\"type\":7},"
        "{\"type\":\"indicator\",\"pattern\":\"[ipv4-addr:value = '192.0.2.1']\"}," IND(
            "00000000-0000-4000-8000-000000000001",
            "\"pattern\":\"[ipv4-addr:value = "
            "'192.0.2.1']\"") "," IND("00000000-0000-4000-8000-000000000002",
                                      "\"valid_from\":\"yesterday\",\"pattern\":\"[ipv4-addr:value "
                                      "= '192.0.2.1']\"") "," IND("00000000-0000-4000-8000-"
                                                                  "000000000003",
                                                                  "\"valid_from\":\"2026-03-01T00:"
                                                                  "00:00Z\",\"valid_until\":\"2026-"
                                                                  "03-01T00:00:00Z\","
                                                                  "\"pattern\":\"[ipv4-addr:value "
                                                                  "= '192.0.2.1']\"") "," IND("0000"
                                                                                              "0000"
                                                                                              "-000"
                                                                                              "0-"
                                                                                              "4000"
                                                                                              "-800"
                                                                                              "0-"
                                                                                              "0000"
                                                                                              "0000"
                                                                                              "000"
                                                                                              "4",
                                                                                              "\"va"
                                                                                              "lid_"
                                                                                              "from"
                                                                                              "\":"
                                                                                              "\"20"
                                                                                              "26-"
                                                                                              "03-"
                                                                                              "01T0"
                                                                                              "0:"
                                                                                              "00:"
                                                                                              "00Z"
                                                                                              "\","
                                                                                              "\"pa"
                                                                                              "tter"
                                                                                              "n\":"
                                                                                              "\"["
                                                                                              "ipv4"
                                                                                              "-add"
                                                                                              "r:"
                                                                                              "valu"
                                                                                              "e = "
                                                                                              "\"") ","
                                                                                                    "{\"type\":\"indicator\",\"id\":\"indicator--00000000-0000-4000-8000-000000000005\","
                                                                                                    "\"valid_from\":\"2026-03-01T00:00:00Z\",\"pattern_type\":\"sigma\","
                                                                                                    "\"pattern\":\"title: x\"}," IND(
                                                                                                        "00000000-0000-4000-8000-000000000006",
                                                                                                        "\"valid_from\":\"2026-03-01T00:00:00Z\",\"confidence\":300,\"revoked\":false,"
                                                                                                        "\"pattern\":\"[ipv4-addr:value = '192.0.2.6']\"") "," IND("00000000-0000-4000-8000-000000000007",
                                                                                                                                                                   "\"valid_from\":\"2026-03-01T00:00:00Z\",\"revoked\":\"yes\","
                                                                                                                                                                   "\"pattern\":\"[ipv4-addr:value = '192.0.2.7']\"") "]}";
    lf_ioc_report_free(&r);
    lf_ioc_report_init(&r);
    assert_int_equal(import_text(b, bundle, &r, err, sizeof err), LF_OK);
    assert_int_equal(r.indicators, 1);
    assert_int_equal(r.invalid, 6);
    assert_int_equal(r.unsupported, 1);
    assert_int_equal(r.warnings, 1);
    static const struct {
        const char *id, *reason;
    } want[] = {
        {"", "without a valid \"id\""},
        {"indicator--00000000-0000-4000-8000-000000000001", "without \"valid_from\""},
        {"indicator--00000000-0000-4000-8000-000000000002", "not an RFC 3339"},
        {"indicator--00000000-0000-4000-8000-000000000003", "not after \"valid_from\""},
        {"indicator--00000000-0000-4000-8000-000000000004", "malformed pattern"},
        {"indicator--00000000-0000-4000-8000-000000000005", "pattern_type 'sigma'"},
        {"indicator--00000000-0000-4000-8000-000000000006", "confidence"},
        {"indicator--00000000-0000-4000-8000-000000000007", "\"revoked\" is not a boolean"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const lf_ioc_problem_t *pb = find_problem(&r, want[i].id);
        if (!pb || !strstr(pb->reason, want[i].reason))
            fail_msg("%s: want a problem with '%s', got '%s'", want[i].id, want[i].reason,
                     pb ? pb->reason : "(none)");
    }
    lf_ioc_report_free(&r);
    lf_ioc_builder_free(b);
}

static void test_bundle_bounds(void **state)
{
    lf_ioc_config_t cfg;
    lf_ioc_config_defaults(&cfg);
    cfg.max_bundle_bytes = 4096;
    cfg.max_indicators = 3;
    cfg.max_pattern_bytes = 64;
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    lf_config_free(lf_ioc_config_options, &cfg);
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    char err[256];

    /* a huge buffer is refused before parsing: immediate, no allocation */
    size_t huge = 64u << 20;
    char *big = malloc(huge);
    assert_non_null(big);
    memset(big, '[', huge);
    clock_t t0 = clock();
    assert_int_equal(lf_stix_import_buffer(b, big, huge, "huge", &r, err, sizeof err), LF_EFULL);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);
    assert_non_null(strstr(err, "above intel.max_bundle_bytes"));
    /* the same as a file: refused on its size */
    char path[] = "/tmp/lf_stix_huge_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, 8192), 8192);
    close(fd);
    assert_int_equal(lf_stix_import_file(b, path, &r, err, sizeof err), LF_EFULL);
    unlink(path);
    free(big);
    assert_int_equal(lf_stix_import_file(b, "/nonexistent/bundle.json", &r, err, sizeof err),
                     LF_EIO);

#define OK_IND(n)                                                                                  \
    IND("00000000-0000-4000-8000-00000000000" n,                                                   \
        "\"valid_from\":\"2026-03-01T00:00:00Z\",\"pattern\":\"[ipv4-addr:value = "                \
        "'192.0.2." n "']\"")
    const char *two = "{\"type\":\"bundle\",\"objects\":[" OK_IND("1") "," OK_IND("2") "]}";
    assert_int_equal(import_text(b, two, &r, err, sizeof err), LF_OK);
    assert_int_equal(lf_ioc_builder_count(b), 2);
    /* two more would pass max_indicators: the whole bundle is refused */
    const char *more = "{\"type\":\"bundle\",\"objects\":[" OK_IND("3") "," OK_IND("4") "]}";
    assert_int_equal(import_text(b, more, &r, err, sizeof err), LF_EFULL);
    assert_non_null(strstr(err, "max_indicators"));
    assert_int_equal(lf_ioc_builder_count(b), 2);
    /* a pattern longer than max_pattern_bytes is skipped and reported */
    const char *longp = "{\"type\":\"bundle\",\"objects\":[" IND(
        "00000000-0000-4000-8000-000000000009",
        "\"valid_from\":\"2026-03-01T00:00:00Z\",\"pattern\":\"[ipv4-addr:value = "
        "'192.0.2.9' OR ipv4-addr:value = '192.0.2.10' OR ipv4-addr:value = '192.0.2.11']\"") "]}";
    assert_int_equal(import_text(b, longp, &r, err, sizeof err), LF_OK);
    const lf_ioc_problem_t *pb =
        find_problem(&r, "indicator--00000000-0000-4000-8000-000000000009");
    assert_non_null(pb);
    assert_non_null(strstr(pb->reason, "above the limit"));
    assert_int_equal(lf_ioc_builder_count(b), 2);

    lf_ioc_report_free(&r);
    lf_ioc_builder_free(b);
}

static void test_report_cap(void **state)
{
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    for (int i = 0; i < LF_IOC_REPORT_MAX_PROBLEMS + 10; i++)
        lf_ioc_report_add(&r, LF_IOC_PROBLEM_WARNING, "s", "", "w%d", i);
    assert_int_equal(r.problem_count, LF_IOC_REPORT_MAX_PROBLEMS);
    assert_int_equal(r.problems_omitted, 10);
    assert_int_equal(r.warnings, LF_IOC_REPORT_MAX_PROBLEMS + 10);
    lf_ioc_report_free(&r);
    lf_ioc_report_add(NULL, LF_IOC_PROBLEM_WARNING, "s", "", "ignored");
}

static void test_revocation_and_versions(void **state)
{
    lf_ioc_builder_t *b = lf_ioc_builder_new(NULL);
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    char err[256];
#define VER(mod, ip, extra)                                                                        \
    "{\"type\":\"bundle\",\"objects\":[" IND("00000000-0000-4000-8000-0000000000aa",               \
                                             "\"modified\":\"" mod "\","                           \
                                             "\"valid_from\":\"2026-03-01T00:00:00Z\","            \
                                             "\"pattern\":\"[ipv4-addr:value = '" ip               \
                                             "']\"" extra) "]}"
    /* newer version imported first, older second: the newer still wins */
    assert_int_equal(
        import_text(b, VER("2026-03-05T00:00:00Z", "192.0.2.2", ""), &r, err, sizeof err), LF_OK);
    assert_int_equal(
        import_text(b, VER("2026-03-02T00:00:00Z", "192.0.2.1", ""), &r, err, sizeof err), LF_OK);
    lf_ioc_set_t *set;
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, &r, err, sizeof err), LF_OK);
    const lf_ioc_indicator_t *ind =
        lf_ioc_set_find(set, "indicator--00000000-0000-4000-8000-0000000000aa");
    assert_non_null(ind);
    assert_string_equal(ind->pattern, "[ipv4-addr:value = '192.0.2.2']");
    lf_ioc_set_release(set);

    /* a revoked version, even with a pattern outside the subset, removes the id */
    assert_int_equal(import_text(b,
                                 "{\"type\":\"bundle\",\"objects\":[" IND(
                                     "00000000-0000-4000-8000-0000000000aa",
                                     "\"modified\":\"2026-03-06T00:00:00Z\",\"revoked\":true,"
                                     "\"valid_from\":\"2026-03-01T00:00:00Z\","
                                     "\"pattern\":\"[email-addr:value = 'x@example.com']\"") "]}",
                                 &r, err, sizeof err),
                     LF_OK);
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, &r, err, sizeof err), LF_OK);
    assert_null(lf_ioc_set_find(set, "indicator--00000000-0000-4000-8000-0000000000aa"));
    assert_int_equal(lf_ioc_set_indicator_count(set), 0);
    lf_ioc_set_release(set);
    lf_ioc_report_free(&r);
    lf_ioc_builder_free(b);
}

static void test_tlp_ids(void **state)
{
    assert_int_equal(
        lf_stix_tlp_from_marking_id("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"),
        LF_TLP_RED);
    assert_int_equal(
        lf_stix_tlp_from_marking_id("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"),
        LF_TLP_RED);
    assert_int_equal(lf_stix_tlp_from_marking_id("marking-definition--unknown"), LF_TLP_NONE);

    /* several markings: the most restrictive wins */
    lf_ioc_builder_t *b = lf_ioc_builder_new(NULL);
    char err[256];
    const char *bundle = "{\"type\":\"bundle\",\"objects\":[" IND(
        "00000000-0000-4000-8000-0000000000bb",
        "\"valid_from\":\"2026-03-01T00:00:00Z\",\"pattern\":\"[ipv4-addr:value = "
        "'192.0.2.1']\",\"object_marking_refs\":["
        "\"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da\","
        "\"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003\","
        "\"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb\"]") "]}";
    assert_int_equal(import_text(b, bundle, NULL, err, sizeof err), LF_OK);
    lf_ioc_set_t *set;
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, NULL, err, sizeof err), LF_OK);
    assert_int_equal(lf_ioc_set_find(set, "indicator--00000000-0000-4000-8000-0000000000bb")->tlp,
                     LF_TLP_AMBER_STRICT);
    lf_ioc_set_release(set);
    lf_ioc_builder_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_forms),        cmocka_unit_test(test_ipv6_forms),
        cmocka_unit_test(test_domain_url_forms),  cmocka_unit_test(test_hash_forms),
        cmocka_unit_test(test_boolean_structure), cmocka_unit_test(test_unsupported_forms),
        cmocka_unit_test(test_malformed_forms),   cmocka_unit_test(test_pattern_bounds),
        cmocka_unit_test(test_time_parse),        cmocka_unit_test(test_sample_bundle),
        cmocka_unit_test(test_malformed_bundles), cmocka_unit_test(test_bundle_bounds),
        cmocka_unit_test(test_report_cap),        cmocka_unit_test(test_revocation_and_versions),
        cmocka_unit_test(test_tlp_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
