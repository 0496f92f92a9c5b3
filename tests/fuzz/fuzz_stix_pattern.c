/* Fuzz target: the STIX pattern parser, and for patterns it accepts, set
 * compilation and matching against a fixed event (so normalised values,
 * the tries and the hash sets see arbitrary input too). */
#include "lf_ioc.h"
#include "lf_stix.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool count_match(const lf_ioc_match_t *m, void *ctx)
{
    (*(size_t *)ctx)++;
    return m->indicator != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lf_stix_pattern_t *pat = NULL;
    char why[256];
    if (lf_stix_pattern_parse((const char *)data, size, 16384, &pat, why, sizeof why) != LF_OK)
        return 0;
    static char *ip[] = {"host.name"}, *dom[] = {"message"}, *url[] = {"event.original"};
    static char *md5[] = {"log.syslog.appname"}, *sha1[] = {"log.syslog.msgid"};
    static char *sha256[] = {"log.syslog.procid"};
    lf_ioc_config_t cfg;
    lf_ioc_config_defaults(&cfg);
    cfg.ip_fields = ip, cfg.ip_field_count = 1;
    cfg.domain_fields = dom, cfg.domain_field_count = 1;
    cfg.url_fields = url, cfg.url_field_count = 1;
    cfg.md5_fields = md5, cfg.md5_field_count = 1;
    cfg.sha1_fields = sha1, cfg.sha1_field_count = 1;
    cfg.sha256_fields = sha256, cfg.sha256_field_count = 1;
    lf_ioc_builder_t *b = lf_ioc_builder_new(&cfg);
    if (!b) {
        lf_stix_pattern_free(pat);
        return 0;
    }
    lf_ioc_indicator_t meta = {.id = "indicator--fuzz",
                               .name = "",
                               .pattern = "",
                               .source = "fuzz",
                               .confidence = -1,
                               .valid_from_ms = LF_IOC_TIME_NONE_BEFORE,
                               .valid_until_ms = LF_IOC_TIME_NONE_AFTER};
    lf_ioc_set_t *set = NULL;
    if (lf_ioc_builder_add(b, &meta, pat) == LF_OK &&
        lf_ioc_set_build(b, NULL, &set, NULL, why, sizeof why) == LF_OK) {
        static lf_event_t ev;
        static const struct {
            const char *path, *value;
        } values[] = {
            {"host.name", "192.0.2.1, 2001:db8::1 ::ffff:10.0.0.1"},
            {"message", "a.b.example.com"},
            {"event.original", "http://Example.org/x"},
            {"log.syslog.appname", "222e4aee83cab852b7afd1b5f26094cb"},
            {"log.syslog.msgid", "43fd851d5c0818c8634466acab5564dbc5719896"},
            {"log.syslog.procid",
             "10e2f7bc1f266280683cfd30ff62d602d9ed9ac1eac7d8756189c2823cee522a"},
        };
        lf_event_reset(&ev);
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            lf_field_id_t id = lf_field_lookup(values[i].path, strlen(values[i].path));
            if (id < LF_F_COUNT)
                lf_event_set_str(&ev, id, lf_str_c(values[i].value));
        }
        size_t n = 0;
        lf_ioc_match(set, &ev, 0, count_match, &n);
        lf_ioc_set_release(set);
    }
    lf_ioc_builder_free(b);
    return 0;
}
