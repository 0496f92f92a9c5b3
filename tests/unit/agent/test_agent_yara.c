/* Unit tests of agent/agent_yara: the scan cache (hits, misses on every
 * identity change, its bound, save and load), the match record, and rule
 * set messages compiled as the agent does (a good set, a set with an error
 * refused with file:line, a damaged digest). */
#include "agent_test_util.h"
#include "agent_yara.h"
#include "lf_wire_rules.h"

#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static lf_agent_yara_file_id_t sample_id(void)
{
    lf_agent_yara_file_id_t id = {.dev = 2049, .ino = 131, .size = 4096, .mtime_ns = 17000};
    memcpy(id.set, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    return id;
}

static void test_cache_hits_and_misses(void **state)
{
    (void)state;
    lf_agent_yara_cache_t *c = lf_agent_yara_cache_new(1000);
    assert_non_null(c);
    lf_agent_yara_file_id_t id = sample_id();
    assert_false(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &id));
    assert_true(lf_agent_yara_cache_put(c, "/srv/www/a.php", &id));
    assert_true(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &id));
    assert_false(lf_agent_yara_cache_hit(c, "/srv/www/b.php", &id));
    /* Each part of the identity matters. */
    lf_agent_yara_file_id_t other = id;
    other.size++;
    assert_false(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &other));
    other = id;
    other.mtime_ns++;
    assert_false(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &other));
    other = id;
    other.ino++;
    assert_false(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &other));
    other = id;
    other.set[7] ^= 1; /* a new rule set */
    assert_false(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &other));
    /* Replacing keeps one entry. */
    assert_true(lf_agent_yara_cache_put(c, "/srv/www/a.php", &other));
    assert_int_equal(lf_agent_yara_cache_count(c), 1);
    assert_true(lf_agent_yara_cache_hit(c, "/srv/www/a.php", &other));
    lf_agent_yara_cache_free(c);
}

static void test_cache_bound_and_persistence(void **state)
{
    (void)state;
    char *dir = test_tmpdir();
    char *path = test_path(dir, "cache.bin");
    lf_agent_yara_cache_t *c = lf_agent_yara_cache_new(1000);
    lf_agent_yara_file_id_t id = sample_id();
    char name[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "/data/f%04d", i);
        id.ino = (uint64_t)i;
        assert_true(lf_agent_yara_cache_put(c, name, &id));
    }
    id.ino = 5000;
    assert_false(lf_agent_yara_cache_put(c, "/data/one-too-many", &id));
    assert_int_equal(lf_agent_yara_cache_full(c), 1);
    assert_int_equal(lf_agent_yara_cache_count(c), 1000);
    assert_int_equal(lf_agent_yara_cache_save(c, path), LF_OK);
    lf_agent_yara_cache_free(c);

    c = lf_agent_yara_cache_new(1000);
    assert_int_equal(lf_agent_yara_cache_load(c, path), 1000);
    id.ino = 417;
    assert_true(lf_agent_yara_cache_hit(c, "/data/f0417", &id));
    id.ino = 418;
    assert_false(lf_agent_yara_cache_hit(c, "/data/f0417", &id));
    lf_agent_yara_cache_free(c);

    /* A damaged file loads up to the damage; a missing one is empty. */
    test_write_file(path, "LFYC1\n\x05", 7, 0);
    c = lf_agent_yara_cache_new(10);
    assert_int_equal(lf_agent_yara_cache_load(c, path), 0);
    char *missing = test_path(dir, "missing.bin");
    assert_int_equal(lf_agent_yara_cache_load(c, missing), 0);
    lf_agent_yara_cache_free(c);
    free(missing);
    test_rmtree(dir);
    free(path);
    free(dir);
}

static void test_match_record(void **state)
{
    (void)state;
    const char *tags[] = {"webshell", "attack_t1505_003"};
    lf_agent_yara_hit_t hit = {
        .path = "/var/www/html/up\"load.php",
        .size = 1234,
        .mtime_ms = 1773104520000LL,
        .sha256_hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        .rule = "webshell_php_eval_input_file",
        .ns = "webshell_files",
        .tags = tags,
        .tag_count = 2,
        .severity = 4,
        .description = "PHP file evaluating request input",
        .version = "5fb90331deb20279",
        .scan = "webroot",
        .time_ms = 1773104521000LL,
    };
    lf_buf_t out;
    lf_buf_init(&out, 65536);
    assert_int_equal(lf_agent_yara_format_hit(&hit, &out), LF_OK);
    const char *j = lf_buf_cstr(&out);
    const char *want[] = {
        "\"kind\":\"alert\"",
        "\"module\":\"yara\"",
        "\"dataset\":\"yara.scan\"",
        "\"severity\":4",
        "\"path\":\"/var/www/html/up\\\"load.php\"",
        "\"name\":\"up\\\"load.php\"",
        "\"size\":1234",
        "\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
        "\"id\":\"yara:webshell_files:webshell_php_eval_input_file\"",
        "\"category\":\"webshell_files\"",
        "\"ruleset\":\"yara-agent\"",
        "\"version\":\"5fb90331deb20279\"",
        "\"tags\":\"webshell,attack_t1505_003\"",
        "\"yara_scan\":\"webroot\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(j, want[i]))
            fail_msg("missing %s in %s", want[i], j);
    assert_null(strchr(j, '\n'));
    lf_buf_free(&out);
}

/* An LFY1 message of the given files with its real digest. */
static void message(lf_buf_t *buf, const char *const *files, size_t n)
{
    lf_buf_init(buf, 1 << 20);
    assert_int_equal(lf_wire_rules_begin(buf, 1), LF_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(lf_wire_rules_add(buf, lf_str_c(files[2 * i]), files[2 * i + 1],
                                           strlen(files[2 * i + 1])),
                         LF_OK);
    uint8_t sha[32];
    unsigned int len = 32;
    EVP_Digest(buf->data + LF_WIRE_RULES_FIXED, buf->len - LF_WIRE_RULES_FIXED, sha, &len,
               EVP_sha256(), NULL);
    lf_wire_rules_finish(buf, (uint32_t)n, sha);
}

static void test_compile(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a.yar", "rule one : t1 { strings: $a = \"MARK\" condition: $a }", "b.yar",
        "rule two { condition: lf_field == \"file.content\" and filesize > 0 }"};
    lf_buf_t buf;
    message(&buf, good, 2);
    size_t rules = 0;
    char err[1024] = "";
    assert_int_equal(lf_agent_yara_compile_check(buf.data, buf.len, &rules, err, sizeof err),
                     LF_OK);
    assert_int_equal(rules, 2);
    /* A damaged file is refused by its digest. */
    buf.data[buf.len - 3] ^= 1;
    assert_int_equal(lf_agent_yara_compile_check(buf.data, buf.len, &rules, err, sizeof err),
                     LF_EPARSE);
    assert_non_null(strstr(err, "SHA-256"));
    lf_buf_free(&buf);

    static const char *const bad[] = {"ok.yar", "rule fine { condition: true }", "broken.yar",
                                      "rule fine2 {\n  strings: $a = \"x\"\n  condition: $b\n}"};
    message(&buf, bad, 2);
    assert_int_equal(lf_agent_yara_compile_check(buf.data, buf.len, &rules, err, sizeof err),
                     LF_EPARSE);
    if (!strstr(err, "broken.yar:4"))
        fail_msg("no file:line in '%s'", err);
    lf_buf_free(&buf);
    assert_int_equal(lf_agent_yara_compile_check("LFY1", 4, &rules, err, sizeof err), LF_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_hits_and_misses),
        cmocka_unit_test(test_cache_bound_and_persistence),
        cmocka_unit_test(test_match_record),
        cmocka_unit_test(test_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
