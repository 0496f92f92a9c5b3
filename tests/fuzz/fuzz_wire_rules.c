/* Fuzz target: the agent rule set message (common/lf_wire_rules.h, LFY1).
 * A message that parses must iterate exactly `count` files whose names are
 * plain file names and whose bytes lie inside the message. */
#include "lf_wire_rules.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(lf_str_t s, const uint8_t *begin, const uint8_t *end, unsigned *sum)
{
    if (s.len && ((const uint8_t *)s.ptr < begin || (const uint8_t *)s.ptr + s.len > end))
        abort();
    for (size_t i = 0; i < s.len; i++)
        *sum += (uint8_t)s.ptr[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sum = 0;
    lf_wire_rules_t rules;
    if (lf_wire_rules_parse(data, size, &rules) == LF_OK) {
        lf_wire_rules_iter_t it;
        lf_wire_rule_file_t f;
        uint32_t n = 0;
        lf_err_t rc;
        lf_wire_rules_iter(&rules, &it);
        while ((rc = lf_wire_rules_next(&rules, &it, &f)) == LF_OK) {
            if (!lf_wire_rules_name_ok(f.name))
                abort();
            touch(f.name, data, data + size, &sum);
            touch(f.text, data, data + size, &sum);
            n++;
        }
        if (rc != LF_ENOTFOUND || n != rules.count)
            abort(); /* a validated message iterates cleanly */
        char version[17];
        lf_wire_rules_version(rules.sha256, version);
    }
    volatile unsigned sink = sum;
    (void)sink;
    return 0;
}
