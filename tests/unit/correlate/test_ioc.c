/* Unit tests of correlate/lf_ioc: matching compiled indicator sets against
 * events. IPv4/IPv6 CIDR edges (/0, /32, /128, first and last addresses),
 * domains (exact, subdomains, case), URLs, hashes (case-insensitive, per
 * algorithm, AND on one object), validity windows, TLP and metadata on the
 * match, list values, de-duplication, set swapping and metrics.
 *
 * Most tests bind the observables to fields of the core event table
 * (host.name, message, log.syslog.*), so they test the matcher whatever
 * the state of the ECS table's network and file fields; one test uses the
 * built-in ECS bindings and skips a field the table does not have yet. */
#include "lf_ioc.h"
#include "lf_stix.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SAMPLE_BUNDLE LF_SOURCE_DIR "/rules/intel/sample-bundle.json"

/* 2026-03-10T01:00:00Z */
#define T_MAR10 1773104400000LL

static lf_field_id_t field(const char *path)
{
    lf_field_id_t id = lf_field_lookup(path, strlen(path));
    if (id >= LF_F_COUNT)
        fail_msg("field %s is not in the event table", path);
    return id;
}

static char *ip_fields[] = {"log.syslog.hostname", "host.name"};
static char *domain_fields[] = {"message"};
static char *url_fields[] = {"event.original"};
static char *md5_fields[] = {"log.syslog.appname", "agent.id"};
static char *sha1_fields[] = {"log.syslog.msgid"};
static char *sha256_fields[] = {"log.syslog.procid"};

static void core_config(lf_ioc_config_t *cfg)
{
    lf_ioc_config_defaults(cfg);
    cfg->ip_fields = ip_fields;
    cfg->ip_field_count = 2;
    cfg->domain_fields = domain_fields;
    cfg->domain_field_count = 1;
    cfg->url_fields = url_fields;
    cfg->url_field_count = 1;
    cfg->md5_fields = md5_fields;
    cfg->md5_field_count = 2;
    cfg->sha1_fields = sha1_fields;
    cfg->sha1_field_count = 1;
    cfg->sha256_fields = sha256_fields;
    cfg->sha256_field_count = 1;
}

/* Builds a set of one indicator per pattern (ids ...0001, ...0002, ...). */
static lf_ioc_set_t *set_of(const char *const *patterns, size_t n, int domain_match,
                            lf_ioc_metrics_t *metrics)
{
    lf_ioc_config_t cfg;
    core_config(&cfg);
    cfg.domain_match = domain_match;
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        lf_stix_pattern_t *p = NULL;
        char why[256];
        if (lf_stix_pattern_parse(patterns[i], strlen(patterns[i]), 4096, &p, why, sizeof why) !=
            LF_OK)
            fail_msg("%s: %s", patterns[i], why);
        char id[64];
        snprintf(id, sizeof id, "indicator--00000000-0000-4000-8000-%012zu", i + 1);
        const char *labels[] = {"INT"};
        lf_ioc_indicator_t meta = {.id = id,
                                   .name = patterns[i],
                                   .pattern = patterns[i],
                                   .source = "test",
                                   .labels = labels,
                                   .label_count = 1,
                                   .confidence = 50,
                                   .tlp = LF_TLP_AMBER,
                                   .valid_from_ms = LF_IOC_TIME_NONE_BEFORE,
                                   .valid_until_ms = LF_IOC_TIME_NONE_AFTER};
        assert_int_equal(lf_ioc_builder_add(b, &meta, p), LF_OK);
    }
    lf_ioc_set_t *set = NULL;
    char err[256];
    assert_int_equal(lf_ioc_set_build(b, metrics, &set, NULL, err, sizeof err), LF_OK);
    lf_ioc_builder_free(b);
    /* cfg's lists point at static arrays: only free what defaults allocated */
    cfg.ip_fields = cfg.domain_fields = cfg.url_fields = NULL;
    cfg.md5_fields = cfg.sha1_fields = cfg.sha256_fields = NULL;
    cfg.ip_field_count = cfg.domain_field_count = cfg.url_field_count = 0;
    cfg.md5_field_count = cfg.sha1_field_count = cfg.sha256_field_count = 0;
    lf_config_free(lf_ioc_config_options, &cfg);
    return set;
}

typedef struct hits {
    size_t n;
    char ids[16][64];
    lf_field_id_t fields[16];
    lf_tlp_t tlp[16];
    const lf_ioc_indicator_t *ind[16];
    size_t stop_after; /* 0: never */
} hits_t;

static bool collect(const lf_ioc_match_t *m, void *ctx)
{
    hits_t *h = ctx;
    if (h->n < 16) {
        snprintf(h->ids[h->n], sizeof h->ids[0], "%s", m->indicator->id);
        h->fields[h->n] = m->field;
        h->tlp[h->n] = m->indicator->tlp;
        h->ind[h->n] = m->indicator;
    }
    h->n++;
    return h->stop_after == 0 || h->n < h->stop_after;
}

static lf_event_t *new_event(void)
{
    lf_event_t *ev = calloc(1, sizeof *ev);
    assert_non_null(ev);
    lf_event_reset(ev);
    return ev;
}

/* Number of indicators matching one value put in field `path`. */
static size_t match_one(const lf_ioc_set_t *set, const char *path, const char *value)
{
    lf_event_t *ev = new_event();
    lf_event_set_str(ev, field(path), lf_str_c(value));
    hits_t h = {0};
    size_t n = lf_ioc_match(set, ev, T_MAR10, collect, &h);
    assert_int_equal(n, h.n);
    free(ev);
    return n;
}

#define IP "host.name"

static void test_ipv4_cidr_edges(void **state)
{
    const char *pats[] = {"[ipv4-addr:value = '198.51.100.0/24']",
                          "[ipv4-addr:value = '203.0.113.45']",
                          "[ipv4-addr:value = '192.0.2.128/31']"};
    lf_ioc_set_t *set = set_of(pats, 3, 0, NULL);
    assert_int_equal(match_one(set, IP, "198.51.100.0"), 1);   /* first */
    assert_int_equal(match_one(set, IP, "198.51.100.255"), 1); /* last */
    assert_int_equal(match_one(set, IP, "198.51.101.0"), 0);   /* one past */
    assert_int_equal(match_one(set, IP, "198.51.99.255"), 0);  /* one before */
    assert_int_equal(match_one(set, IP, "203.0.113.45"), 1);   /* /32 */
    assert_int_equal(match_one(set, IP, "203.0.113.44"), 0);
    assert_int_equal(match_one(set, IP, "203.0.113.46"), 0);
    assert_int_equal(match_one(set, IP, "192.0.2.128"), 1); /* /31 */
    assert_int_equal(match_one(set, IP, "192.0.2.129"), 1);
    assert_int_equal(match_one(set, IP, "192.0.2.130"), 0);
    assert_int_equal(match_one(set, IP, "192.0.2.127"), 0);
    assert_int_equal(match_one(set, IP, "::ffff:203.0.113.45"), 1); /* mapped */
    assert_int_equal(match_one(set, IP, "203.0.113.450"), 0);       /* not an address */
    assert_int_equal(match_one(set, IP, "2001:db8::1"), 0);
    /* the other IP field of the list */
    assert_int_equal(match_one(set, "log.syslog.hostname", "198.51.100.7"), 1);
    lf_ioc_set_release(set);

    const char *all[] = {"[ipv4-addr:value = '0.0.0.0/0']"};
    set = set_of(all, 1, 0, NULL);
    assert_int_equal(match_one(set, IP, "0.0.0.0"), 1);
    assert_int_equal(match_one(set, IP, "255.255.255.255"), 1);
    assert_int_equal(match_one(set, IP, "10.1.2.3"), 1);
    assert_int_equal(match_one(set, IP, "2001:db8::1"), 0); /* IPv4 /0 is not IPv6 */
    lf_ioc_set_release(set);
}

static void test_ipv6_cidr_edges(void **state)
{
    const char *pats[] = {"[ipv6-addr:value = '2001:db8:bad::/48']",
                          "[ipv6-addr:value = '2001:db8:1::66']",
                          "[ipv6-addr:value ISSUBSET '2001:db8:0:7::/64']"};
    lf_ioc_set_t *set = set_of(pats, 3, 0, NULL);
    assert_int_equal(match_one(set, IP, "2001:db8:bad::"), 1);
    assert_int_equal(match_one(set, IP, "2001:db8:bad:ffff:ffff:ffff:ffff:ffff"), 1);
    assert_int_equal(match_one(set, IP, "2001:db8:bae::"), 0);
    assert_int_equal(match_one(set, IP, "2001:db8:bac:ffff:ffff:ffff:ffff:ffff"), 0);
    assert_int_equal(match_one(set, IP, "2001:DB8:1:0:0:0:0:66"), 1); /* /128, other spelling */
    assert_int_equal(match_one(set, IP, "2001:db8:1::67"), 0);
    assert_int_equal(match_one(set, IP, "2001:db8:0:7:ffff::1"), 1);
    assert_int_equal(match_one(set, IP, "2001:db8:0:8::"), 0);
    assert_int_equal(match_one(set, IP, "fe80::1%eth0"), 0);
    lf_ioc_set_release(set);

    const char *all[] = {"[ipv6-addr:value = '::/0']"};
    set = set_of(all, 1, 0, NULL);
    assert_int_equal(match_one(set, IP, "::"), 1);
    assert_int_equal(match_one(set, IP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 1);
    assert_int_equal(match_one(set, IP, "192.0.2.1"), 0); /* IPv6 /0 is not IPv4 */
    lf_ioc_set_release(set);
}

#define DOM "message"

static void test_domains(void **state)
{
    const char *pats[] = {"[domain-name:value = 'evil.example.com']",
                          "[domain-name:value LIKE '%.c2.example.net']"};
    lf_ioc_set_t *set = set_of(pats, 2, LF_IOC_DOMAIN_EXACT, NULL);
    assert_int_equal(match_one(set, DOM, "evil.example.com"), 1);
    assert_int_equal(match_one(set, DOM, "EVIL.Example.COM."), 1);    /* case, root label */
    assert_int_equal(match_one(set, DOM, "sub.evil.example.com"), 0); /* exact: STIX */
    assert_int_equal(match_one(set, DOM, "notevil.example.com"), 0);
    assert_int_equal(match_one(set, DOM, "example.com"), 0);
    assert_int_equal(match_one(set, DOM, "a.c2.example.net"), 1); /* LIKE '%.x' */
    assert_int_equal(match_one(set, DOM, "x.y.C2.example.net"), 1);
    assert_int_equal(match_one(set, DOM, "c2.example.net"), 0); /* not the apex */
    assert_int_equal(match_one(set, DOM, "xc2.example.net"), 0);
    lf_ioc_set_release(set);

    /* domain_match: suffix extends exact indicators to their subdomains */
    set = set_of(pats, 2, LF_IOC_DOMAIN_SUFFIX, NULL);
    assert_int_equal(match_one(set, DOM, "evil.example.com"), 1);
    assert_int_equal(match_one(set, DOM, "sub.evil.example.com"), 1);
    assert_int_equal(match_one(set, DOM, "notevil.example.com"), 0);
    assert_int_equal(match_one(set, DOM, "c2.example.net"), 0);
    lf_ioc_set_release(set);
}

#define URL "event.original"

static void test_urls(void **state)
{
    const char *pats[] = {"[url:value = 'http://malware.example.org/payload/dropper.exe']",
                          "[url:value = 'https://example.org/']"};
    lf_ioc_set_t *set = set_of(pats, 2, 0, NULL);
    assert_int_equal(match_one(set, URL, "http://malware.example.org/payload/dropper.exe"), 1);
    assert_int_equal(match_one(set, URL, "HTTP://MALWARE.example.ORG/payload/dropper.exe"), 1);
    assert_int_equal(match_one(set, URL, "http://malware.example.org/Payload/dropper.exe"), 0);
    assert_int_equal(match_one(set, URL, "http://malware.example.org/payload/dropper.exe?x=1"), 0);
    assert_int_equal(match_one(set, URL, "https://example.org"), 1);
    assert_int_equal(match_one(set, URL, "https://example.org/"), 1);
    lf_ioc_set_release(set);
}

#define MD5_A    "222e4aee83cab852b7afd1b5f26094cb"
#define SHA1_A   "43fd851d5c0818c8634466acab5564dbc5719896"
#define SHA256_A "10e2f7bc1f266280683cfd30ff62d602d9ed9ac1eac7d8756189c2823cee522a"
#define MD5_B    "32d0c83752e8e96169642429f4e9546e"
#define SHA256_B "ca0e86b571bc7b837e26944906f46d4935b5d17026b110d7e617ca076f868d3b"

static void test_hashes(void **state)
{
    const char *pats[] = {
        "[file:hashes.MD5 = '" MD5_A "' OR file:hashes.'SHA-1' = '" SHA1_A
        "' OR file:hashes.'SHA-256' = '" SHA256_A "']",
    };
    lf_ioc_set_t *set = set_of(pats, 1, 0, NULL);
    assert_int_equal(match_one(set, "log.syslog.appname", MD5_A), 1);
    assert_int_equal(match_one(set, "log.syslog.appname", "222E4AEE83CAB852B7AFD1B5F26094CB"), 1);
    assert_int_equal(match_one(set, "log.syslog.msgid", SHA1_A), 1);
    assert_int_equal(match_one(set, "log.syslog.procid", SHA256_A), 1);
    /* a value only counts in the field of its algorithm */
    assert_int_equal(match_one(set, "log.syslog.procid", MD5_A), 0);
    assert_int_equal(match_one(set, "log.syslog.appname", "222e4aee83cab852b7afd1b5f26094cc"), 0);
    lf_ioc_set_release(set);
}

static void test_and_on_one_object(void **state)
{
    const char *pats[] = {"[file:hashes.'SHA-256' = '" SHA256_B "' AND file:hashes.MD5 = '" MD5_B
                          "']"};
    lf_ioc_set_t *set = set_of(pats, 1, 0, NULL);
    lf_event_t *ev = new_event();
    hits_t h = {0};
    /* both hashes on the same object (log.*): match */
    lf_event_set_str(ev, field("log.syslog.procid"), lf_str_c(SHA256_B));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 0);
    lf_event_set_str(ev, field("log.syslog.appname"), lf_str_c(MD5_B));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 1);
    /* the MD5 on another object (agent.*) does not complete the AND */
    lf_event_reset(ev);
    lf_event_set_str(ev, field("log.syslog.procid"), lf_str_c(SHA256_B));
    lf_event_set_str(ev, field("agent.id"), lf_str_c(MD5_B));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 0);
    /* a different MD5: no */
    lf_event_reset(ev);
    lf_event_set_str(ev, field("log.syslog.procid"), lf_str_c(SHA256_B));
    lf_event_set_str(ev, field("log.syslog.appname"), lf_str_c(MD5_A));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 0);
    free(ev);
    lf_ioc_set_release(set);
}

static void test_validity_window(void **state)
{
    lf_ioc_config_t cfg;
    core_config(&cfg);
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    lf_stix_pattern_t *p;
    char why[128];
    const char *pat = "[ipv4-addr:value = '192.0.2.10']";
    assert_int_equal(lf_stix_pattern_parse(pat, strlen(pat), 4096, &p, why, sizeof why), LF_OK);
    lf_ioc_indicator_t meta = {.id = "indicator--00000000-0000-4000-8000-000000000010",
                               .name = "",
                               .pattern = pat,
                               .source = "t",
                               .confidence = -1,
                               .valid_from_ms = 1000,
                               .valid_until_ms = 2000};
    assert_int_equal(lf_ioc_builder_add(b, &meta, p), LF_OK);
    lf_ioc_metrics_t metrics;
    lf_ioc_metrics_init(&metrics);
    lf_ioc_set_t *set;
    assert_int_equal(lf_ioc_set_build(b, &metrics, &set, NULL, why, sizeof why), LF_OK);
    lf_ioc_builder_free(b);
    lf_event_t *ev = new_event();
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.10"));
    hits_t h = {0};
    assert_int_equal(lf_ioc_match(set, ev, 999, collect, &h), 0);
    assert_int_equal(lf_ioc_match(set, ev, 1000, collect, &h), 1); /* valid_from inclusive */
    assert_int_equal(lf_ioc_match(set, ev, 1999, collect, &h), 1);
    assert_int_equal(lf_ioc_match(set, ev, 2000, collect, &h), 0); /* valid_until exclusive */
    assert_int_equal(lf_metric_get(&metrics.m[LF_IOC_M_OUTSIDE_VALIDITY]), 2);
    assert_int_equal(lf_metric_get(&metrics.m[LF_IOC_M_EVENTS]), 4);
    assert_int_equal(lf_metric_get(&metrics.m[LF_IOC_M_MATCHES]), 2);
    assert_int_equal(lf_metric_get(&metrics.m[LF_IOC_M_INDICATORS]), 1);
    free(ev);
    lf_ioc_set_release(set);
    cfg.ip_fields = cfg.domain_fields = cfg.url_fields = NULL;
    cfg.md5_fields = cfg.sha1_fields = cfg.sha256_fields = NULL;
    cfg.ip_field_count = cfg.domain_field_count = cfg.url_field_count = 0;
    cfg.md5_field_count = cfg.sha1_field_count = cfg.sha256_field_count = 0;
    lf_config_free(lf_ioc_config_options, &cfg);
}

/* The shipped bundle, through the core bindings: TLP, labels, confidence,
 * the expired and the revoked indicator, the corrected version. */
static void test_sample_bundle_matches(void **state)
{
    lf_ioc_config_t cfg;
    core_config(&cfg);
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    char err[256];
    assert_int_equal(lf_stix_import_file(b, SAMPLE_BUNDLE, NULL, err, sizeof err), LF_OK);
    lf_ioc_set_t *set;
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, NULL, err, sizeof err), LF_OK);
    lf_ioc_builder_free(b);

    lf_event_t *ev = new_event();
    hits_t h = {0};
    lf_event_set_str(ev, field(IP), lf_str_c("203.0.113.45"));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 1);
    assert_string_equal(h.ids[0], "indicator--a1f3c9d2-0b6e-4f7a-8c21-5d9e4b3a2f01");
    assert_int_equal(h.tlp[0], LF_TLP_GREEN);
    assert_int_equal(h.ind[0]->confidence, 85);
    assert_string_equal(h.ind[0]->labels[1], "ssh-brute-force");
    assert_int_equal(h.fields[0], field(IP));
    /* before valid_from (2026-03-10T01:00:00Z) */
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10 - 1, collect, &h), 0);

    /* expired: valid until 2026-02-01 */
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.10"));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 0);
    assert_int_equal(lf_ioc_match(set, ev, 1767312000000LL /* 2026-01-02 */, collect, &h), 1);
    /* revoked */
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.20"));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 0);
    /* superseded version's address no longer matches; the new one does */
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.30"));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 0);
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.31"));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 1);
    /* CIDR with valid_until 2026-06-01 */
    lf_event_set_str(ev, field(IP), lf_str_c("198.51.100.200"));
    h.n = 0;
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 1);
    assert_int_equal(h.tlp[0], LF_TLP_AMBER);

    lf_event_reset(ev);
    h.n = 0;
    lf_event_set_str(ev, field(DOM), lf_str_c("beacon.c2.example.net"));
    lf_event_set_str(ev, field(URL), lf_str_c("http://malware.example.org/payload/dropper.exe"));
    lf_event_set_str(ev, field("log.syslog.procid"), lf_str_c(SHA256_A));
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 3);
    lf_ioc_set_release(set);
    free(ev);
    cfg.ip_fields = cfg.domain_fields = cfg.url_fields = NULL;
    cfg.md5_fields = cfg.sha1_fields = cfg.sha256_fields = NULL;
    cfg.ip_field_count = cfg.domain_field_count = cfg.url_field_count = 0;
    cfg.md5_field_count = cfg.sha1_field_count = cfg.sha256_field_count = 0;
    lf_config_free(lf_ioc_config_options, &cfg);
}

static void test_lists_dedupe_and_stop(void **state)
{
    const char *pats[] = {"[ipv4-addr:value = '192.0.2.1']", "[ipv4-addr:value = '192.0.2.2']",
                          "[ipv4-addr:value = '192.0.2.3']"};
    lf_ioc_set_t *set = set_of(pats, 3, 0, NULL);
    /* a list value ("a,b" as LIST fields are joined) is checked element by element */
    assert_int_equal(match_one(set, IP, "10.0.0.1,192.0.2.2, 192.0.2.3"), 2);
    /* the same indicator in two fields is reported once */
    lf_event_t *ev = new_event();
    lf_event_set_str(ev, field("log.syslog.hostname"), lf_str_c("192.0.2.1"));
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.1"));
    hits_t h = {0};
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 1);
    assert_int_equal(h.fields[0], field("log.syslog.hostname")); /* first in the list */
    /* the callback can stop matching */
    lf_event_set_str(ev, field(IP), lf_str_c("192.0.2.2 192.0.2.3"));
    h = (hits_t){.stop_after = 1};
    assert_int_equal(lf_ioc_match(set, ev, T_MAR10, collect, &h), 1);
    free(ev);
    lf_ioc_set_release(set);

    /* an empty set and a NULL set match nothing */
    set = set_of(NULL, 0, 0, NULL);
    assert_int_equal(match_one(set, IP, "192.0.2.1"), 0);
    lf_ioc_set_release(set);
    assert_int_equal(lf_ioc_match(NULL, NULL, 0, collect, NULL), 0);
}

static void test_holder_swap(void **state)
{
    const char *a[] = {"[ipv4-addr:value = '192.0.2.1']"};
    const char *b[] = {"[ipv4-addr:value = '192.0.2.2']"};
    lf_ioc_holder_t holder;
    lf_ioc_holder_init(&holder);
    assert_null(lf_ioc_holder_acquire(&holder));
    lf_ioc_holder_swap(&holder, set_of(a, 1, 0, NULL));
    lf_ioc_set_t *old = lf_ioc_holder_acquire(&holder);
    lf_ioc_holder_swap(&holder, set_of(b, 1, 0, NULL));
    /* a user of the old set finishes with it undisturbed */
    assert_int_equal(match_one(old, IP, "192.0.2.1"), 1);
    lf_ioc_set_release(old);
    lf_ioc_set_t *cur = lf_ioc_holder_acquire(&holder);
    assert_int_equal(match_one(cur, IP, "192.0.2.1"), 0);
    assert_int_equal(match_one(cur, IP, "192.0.2.2"), 1);
    lf_ioc_set_release(cur);
    assert_int_equal(atomic_load(&holder.generation), 2);
    lf_ioc_holder_destroy(&holder);
}

/* Readers match through the holder while the main thread swaps sets: every
 * reader sees a whole set (old or new), never a freed one. */
typedef struct reader {
    lf_ioc_holder_t *holder;
    _Atomic bool *stop;
    size_t rounds, hits;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    lf_event_t *ev = new_event();
    lf_event_set_str(ev, lf_field_lookup(IP, strlen(IP)), lf_str_c("192.0.2.1"));
    while (!atomic_load(r->stop) || r->rounds < 100) {
        lf_ioc_set_t *set = lf_ioc_holder_acquire(r->holder);
        hits_t h = {0};
        r->hits += lf_ioc_match(set, ev, T_MAR10, collect, &h);
        lf_ioc_set_release(set);
        r->rounds++;
    }
    free(ev);
    return NULL;
}

static void test_concurrent_swap(void **state)
{
    const char *a[] = {"[ipv4-addr:value = '192.0.2.1']"};
    const char *b[] = {"[ipv4-addr:value = '192.0.2.0/24']", "[ipv4-addr:value = '192.0.2.1']"};
    lf_ioc_holder_t holder;
    lf_ioc_holder_init(&holder);
    lf_ioc_holder_swap(&holder, set_of(a, 1, 0, NULL));
    _Atomic bool stop = false;
    reader_t readers[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        readers[i] = (reader_t){.holder = &holder, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &readers[i]), 0);
    }
    for (int i = 0; i < 50; i++)
        lf_ioc_holder_swap(&holder, i % 2 ? set_of(a, 1, 0, NULL) : set_of(b, 2, 0, NULL));
    atomic_store(&stop, true);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(readers[i].hits >= readers[i].rounds); /* every set matches */
    }
    lf_ioc_holder_destroy(&holder);
}

/* The built-in ECS bindings (source.ip, url.full, dns.question.name, ...).
 * Fields the event table does not have yet are reported as warnings and
 * skipped here. */
static void test_default_bindings(void **state)
{
    lf_ioc_builder_t *b = lf_ioc_builder_new(NULL);
    char err[256];
    assert_int_equal(lf_stix_import_file(b, SAMPLE_BUNDLE, NULL, err, sizeof err), LF_OK);
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    lf_ioc_set_t *set;
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, &r, err, sizeof err), LF_OK);
    lf_ioc_builder_free(b);
    for (size_t i = 0; i < r.problem_count; i++) {
        assert_int_equal(r.problems[i].kind, LF_IOC_PROBLEM_WARNING);
        assert_non_null(strstr(r.problems[i].reason, "not in the event field table"));
    }
    static const struct {
        const char *path, *value;
    } cases[] = {
        {"source.ip", "203.0.113.45"},
        {"destination.ip", "198.51.100.9"},
        {"related.ip", "10.0.0.1,2001:db8:bad::1"},
        {"url.full", "http://malware.example.org/payload/dropper.exe"},
        {"url.domain", "login-gov-tw.example.com"},
        {"dns.question.name", "x.c2.example.net"},
        {"file.hash.sha256", SHA256_A},
        {"process.hash.md5", MD5_A},
    };
    size_t ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (lf_field_lookup(cases[i].path, strlen(cases[i].path)) >= LF_F_COUNT)
            continue;
        ran++;
        if (match_one(set, cases[i].path, cases[i].value) != 1)
            fail_msg("%s = %s should match", cases[i].path, cases[i].value);
    }
    print_message("default bindings: %zu of %zu fields present in the event table\n", ran,
                  sizeof cases / sizeof cases[0]);
    lf_ioc_set_release(set);
    lf_ioc_report_free(&r);
}

static void test_unknown_configured_field(void **state)
{
    lf_ioc_config_t cfg;
    lf_ioc_config_defaults(&cfg);
    char *bad[] = {"no.such.field", "host.name"};
    cfg.ip_fields = bad;
    cfg.ip_field_count = 2;
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    cfg.ip_fields = NULL;
    cfg.ip_field_count = 0;
    lf_config_free(lf_ioc_config_options, &cfg);
    lf_ioc_report_t r;
    lf_ioc_report_init(&r);
    lf_ioc_set_t *set;
    char err[128];
    assert_int_equal(lf_ioc_set_build(b, NULL, &set, &r, err, sizeof err), LF_OK);
    bool found = false;
    for (size_t i = 0; i < r.problem_count; i++)
        found |= strstr(r.problems[i].reason, "no.such.field") != NULL;
    assert_true(found);
    lf_ioc_set_release(set);
    lf_ioc_report_free(&r);
    lf_ioc_builder_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_cidr_edges),
        cmocka_unit_test(test_ipv6_cidr_edges),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_and_on_one_object),
        cmocka_unit_test(test_validity_window),
        cmocka_unit_test(test_sample_bundle_matches),
        cmocka_unit_test(test_lists_dedupe_and_stop),
        cmocka_unit_test(test_holder_swap),
        cmocka_unit_test(test_concurrent_swap),
        cmocka_unit_test(test_default_bindings),
        cmocka_unit_test(test_unknown_configured_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
