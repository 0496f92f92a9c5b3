/* Fuzz target: the Sigma YAML compiler (rules, filters, conditions,
 * modifiers), then one match of the compiled rules against a fixed event. */
#include "lf_sigma.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char mapping[] =
    "keywords: [event.original, message]\n"
    "logsources:\n"
    "  - name: linux\n    product: linux\n    events:\n      process.name: [sshd, sudo]\n"
    "    fields:\n      Image: process.name\n      Host: host.name\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lf_sigma_options_t opts;
    lf_sigma_options_default(&opts);
    opts.max_expansions = 256;
    lf_sigma_ruleset_t *set = lf_sigma_ruleset_new(&opts);
    if (!set)
        return 0;
    lf_sigma_load_mappings_buffer(set, "mapping", mapping, sizeof mapping - 1, NULL, NULL);
    lf_sigma_load_placeholders_buffer(set, "ph", "p: [a, 'b*']\n", 13, NULL, NULL);
    lf_sigma_load_buffer(set, "fuzz", (const char *)data, size, NULL, NULL);
    lf_sigma_matcher_t *m = lf_sigma_compile(set, NULL, NULL);
    lf_sigma_scratch_t *s = lf_sigma_scratch_new();
    if (m && s) {
        lf_event_t ev;
        lf_event_reset(&ev);
        lf_event_set_str(&ev, lf_field_lookup("message", 7),
                         lf_str_c("Failed password for root from 10.1.2.3 port 22"));
        lf_event_set_str(&ev, lf_field_lookup("process.name", 12), lf_str_c("sshd"));
        lf_sigma_match(m, &ev, s, NULL, NULL);
        lf_sigma_match_naive(m, &ev, s, NULL, NULL);
    }
    lf_sigma_scratch_free(s);
    lf_sigma_matcher_unref(m);
    return 0;
}
