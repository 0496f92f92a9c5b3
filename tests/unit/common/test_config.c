/* Unit tests of common/lf_config: defaults, every option type, and the
 * error messages an operator sees (file:line:column: key.path: what). */
#include "lf_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct item {
    char *name;
    int64_t port;
} item_t;

typedef struct sub {
    int64_t size;
    int64_t timeout;
} sub_t;

typedef struct test_cfg {
    char *name;
    int64_t count;
    bool flag;
    int64_t size;
    int64_t dur;
    int mode;
    sub_t sub;
    item_t *items;
    size_t item_count;
    char **tags;
    size_t tag_count;
    lf_config_kv_t *labels;
    size_t label_count;
} test_cfg_t;

static const char *const modes[] = {"fast", "safe", "off", NULL};

static const lf_config_option_t item_options[] = {
    {.name = "name",
     .type = LF_CFG_STRING,
     .offset = offsetof(item_t, name),
     .required = true,
     .description = "item name"},
    LF_CFG_OPT_INT("port", item_t, port, "514", 1, 65535, "item port"),
    LF_CFG_END,
};

static const lf_config_option_t sub_options[] = {
    LF_CFG_OPT_SIZE("size", sub_t, size, "64MiB", 1024, 1LL << 40, "a size"),
    LF_CFG_OPT_DURATION("timeout", sub_t, timeout, "5s", 1, 86400000, "a duration"),
    LF_CFG_END,
};

static const lf_config_option_t options[] = {
    LF_CFG_OPT_STRING("name", test_cfg_t, name, "default-name", "a string"),
    LF_CFG_OPT_INT("count", test_cfg_t, count, "10", 0, 100, "an integer"),
    LF_CFG_OPT_BOOL("flag", test_cfg_t, flag, "false", "a boolean"),
    LF_CFG_OPT_SIZE("size", test_cfg_t, size, "1KiB", 0, 1LL << 40, "a size"),
    LF_CFG_OPT_DURATION("dur", test_cfg_t, dur, "250ms", 0, 86400000, "a duration"),
    LF_CFG_OPT_ENUM("mode", test_cfg_t, mode, "safe", modes, "an enum"),
    LF_CFG_OPT_SECTION("sub", test_cfg_t, sub, sub_options, "a section"),
    LF_CFG_OPT_LIST("items", test_cfg_t, items, item_count, item_t, item_options, 3, "a list"),
    LF_CFG_OPT_STRLIST("tags", test_cfg_t, tags, tag_count, 4, "strings"),
    LF_CFG_OPT_MAP("labels", test_cfg_t, labels, label_count, 4, "a map"),
    LF_CFG_END,
};

typedef struct fixture {
    test_cfg_t cfg;
    char err[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lf_config_free(options, &f->cfg);
    free(f);
    return 0;
}

static lf_err_t load(fixture_t *f, const char *yaml)
{
    f->err[0] = '\0';
    return lf_config_load_string(yaml, strlen(yaml), "test.yaml", options, &f->cfg, f->err,
                                 sizeof f->err);
}

/* Asserts a load fails with LF_ECONFIG and every fragment is in the message. */
static void expect_error(fixture_t *f, const char *yaml, const char *const *fragments)
{
    assert_int_equal(load(f, yaml), LF_ECONFIG);
    for (size_t i = 0; fragments[i]; i++)
        if (!strstr(f->err, fragments[i]))
            fail_msg("error '%s' lacks '%s'", f->err, fragments[i]);
}

static void test_defaults(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(lf_config_set_defaults(options, &f->cfg, f->err, sizeof f->err), LF_OK);
    assert_string_equal(f->cfg.name, "default-name");
    assert_int_equal(f->cfg.count, 10);
    assert_false(f->cfg.flag);
    assert_int_equal(f->cfg.size, 1024);
    assert_int_equal(f->cfg.dur, 250);
    assert_int_equal(f->cfg.mode, 1);
    assert_int_equal(f->cfg.sub.size, 64LL << 20);
    assert_int_equal(f->cfg.sub.timeout, 5000);
    assert_null(f->cfg.items);
    assert_int_equal(f->cfg.item_count, 0);
    assert_int_equal(f->cfg.tag_count, 0);
    assert_int_equal(f->cfg.label_count, 0);
}

static void test_empty_document_gives_defaults(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(load(f, ""), LF_OK);
    assert_string_equal(f->cfg.name, "default-name");
    assert_int_equal(load(f, "# only a comment\n"), LF_OK);
    assert_int_equal(f->cfg.count, 10);
}

static void test_every_type(void **state)
{
    fixture_t *f = *state;
    const char *yaml = "name: \"lianfang 聯防\"\n"
                       "count: 42\n"
                       "flag: yes\n"
                       "size: 3MiB\n"
                       "dur: 2m\n"
                       "mode: off\n"
                       "sub:\n"
                       "  size: 2GiB\n"
                       "  timeout: 1h\n"
                       "items:\n"
                       "  - name: first\n"
                       "    port: 6514\n"
                       "  - name: second\n"
                       "tags: [red, green, blue]\n"
                       "labels:\n"
                       "  region: central\n"
                       "  city: taichung\n";
    assert_int_equal(load(f, yaml), LF_OK);
    assert_string_equal(f->cfg.name, "lianfang 聯防");
    assert_int_equal(f->cfg.count, 42);
    assert_true(f->cfg.flag);
    assert_int_equal(f->cfg.size, 3LL << 20);
    assert_int_equal(f->cfg.dur, 120000);
    assert_int_equal(f->cfg.mode, 2);
    assert_int_equal(f->cfg.sub.size, 2LL << 30);
    assert_int_equal(f->cfg.sub.timeout, 3600000);
    assert_int_equal(f->cfg.item_count, 2);
    assert_string_equal(f->cfg.items[0].name, "first");
    assert_int_equal(f->cfg.items[0].port, 6514);
    assert_string_equal(f->cfg.items[1].name, "second");
    assert_int_equal(f->cfg.items[1].port, 514); /* default inside a list entry */
    assert_int_equal(f->cfg.tag_count, 3);
    assert_string_equal(f->cfg.tags[0], "red");
    assert_string_equal(f->cfg.tags[2], "blue");
    assert_int_equal(f->cfg.label_count, 2);
    assert_string_equal(f->cfg.labels[0].key, "region");
    assert_string_equal(f->cfg.labels[0].value, "central");
    assert_string_equal(f->cfg.labels[1].key, "city");
    assert_string_equal(f->cfg.labels[1].value, "taichung");
}

static void test_bool_spellings(void **state)
{
    fixture_t *f = *state;
    const char *yes[] = {"flag: true\n", "flag: yes\n", "flag: on\n"};
    const char *no[] = {"flag: false\n", "flag: no\n", "flag: off\n"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(load(f, yes[i]), LF_OK);
        assert_true(f->cfg.flag);
        assert_int_equal(load(f, no[i]), LF_OK);
        assert_false(f->cfg.flag);
    }
    expect_error(f, "flag: maybe\n",
                 (const char *const[]){"test.yaml:1:7", "flag", "true or false", NULL});
}

static void test_unknown_key(void **state)
{
    fixture_t *f = *state;
    expect_error(
        f, "name: x\nsub:\n  size: 2MiB\n  colour: red\n",
        (const char *const[]){"test.yaml:4:3", "sub.colour", "unknown key", "size, timeout", NULL});
    expect_error(f, "bogus: 1\n", (const char *const[]){"test.yaml:1:1", "bogus", NULL});
    expect_error(f, "items:\n  - name: a\n    prot: 1\n",
                 (const char *const[]){"test.yaml:3:5", "items[0].prot", "unknown key", NULL});
}

static void test_unknown_key_in_file_names_the_file(void **state)
{
    fixture_t *f = *state;
    char path[] = "/tmp/lf-config-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "count: 1\nextra: 2\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    assert_int_equal(lf_config_load_file(path, options, &f->cfg, f->err, sizeof f->err),
                     LF_ECONFIG);
    char want[64];
    snprintf(want, sizeof want, "%s:2:1: extra", path);
    assert_non_null(strstr(f->err, want));
    unlink(path);
    lf_config_free(options, &f->cfg);
    memset(&f->cfg, 0, sizeof f->cfg);
    assert_int_equal(lf_config_load_file(path, options, &f->cfg, f->err, sizeof f->err), LF_EIO);
    assert_non_null(strstr(f->err, path));
    assert_string_equal(f->cfg.name, "default-name"); /* defaults still applied */
}

static void test_wrong_types(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "count: many\n",
                 (const char *const[]){"test.yaml:1:8", "count", "expects an integer", NULL});
    expect_error(f, "count: 12abc\n", (const char *const[]){"expects an integer", NULL});
    expect_error(f, "size: 12 parsecs\n", (const char *const[]){"size", "expects a size", NULL});
    expect_error(f, "dur: soon\n", (const char *const[]){"dur", "expects a duration", NULL});
    expect_error(f, "mode: turbo\n",
                 (const char *const[]){"mode", "fast, safe, off", "turbo", NULL});
    expect_error(f, "sub: 5\n", (const char *const[]){"sub", "expects a section", NULL});
    expect_error(f, "items: 5\n", (const char *const[]){"items", "expects a list", NULL});
    expect_error(f, "items:\n  - 5\n",
                 (const char *const[]){"items[0]", "expects a section", NULL});
    expect_error(f, "tags: red\n", (const char *const[]){"tags", "list of strings", NULL});
    expect_error(f, "tags: [[a]]\n", (const char *const[]){"tags", "entry 0", NULL});
    expect_error(f, "labels: [a]\n", (const char *const[]){"labels", "map", NULL});
    expect_error(f, "labels: {a: [b]}\n", (const char *const[]){"labels", "key: value", NULL});
    expect_error(f, "count: [1]\n", (const char *const[]){"count", "not a list", NULL});
    expect_error(f, "name: {a: b}\n", (const char *const[]){"name", "not a section", NULL});
    expect_error(f, "- a\n- b\n", (const char *const[]){"test.yaml:1:1", "map of sections", NULL});
    expect_error(f, "? [a]\n: b\n", (const char *const[]){"keys must be plain strings", NULL});
}

static void test_out_of_range(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "count: 101\n",
                 (const char *const[]){"test.yaml:1:8", "count", "out of range [0, 100]", NULL});
    expect_error(f, "count: -1\n", (const char *const[]){"out of range", NULL});
    expect_error(f, "sub:\n  size: 1B\n",
                 (const char *const[]){"test.yaml:2:9", "sub.size", "out of range", "bytes", NULL});
    expect_error(f, "sub:\n  timeout: 2d\n",
                 (const char *const[]){"sub.timeout", "milliseconds", NULL});
    expect_error(f, "size: -5\n", (const char *const[]){"expects a size", NULL});
    expect_error(f, "size: 99999999999999999999\n", (const char *const[]){"size", NULL});
    expect_error(f, "size: 20000000000GiB\n", (const char *const[]){"size", NULL});
    assert_int_equal(load(f, "count: 100\n"), LF_OK);
    assert_int_equal(load(f, "count: 0\n"), LF_OK);
}

static void test_duplicate_key(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "count: 1\nname: a\ncount: 2\n",
                 (const char *const[]){"test.yaml:3:1", "count", "given twice", "line 1", NULL});
    expect_error(f, "sub:\n  size: 2MiB\n  size: 3MiB\n",
                 (const char *const[]){"sub.size", "given twice", "line 2", NULL});
}

static void test_required_key(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "items:\n  - name: a\n  - port: 1\n",
                 (const char *const[]){"test.yaml:3:5", "items[1].name", "required", NULL});
}

static void test_list_limits(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "items:\n - name: a\n - name: b\n - name: c\n - name: d\n",
                 (const char *const[]){"items", "4 entries", "at most 3", NULL});
    expect_error(f, "tags: [a, b, c, d, e]\n", (const char *const[]){"tags", "at most 4", NULL});
    expect_error(f, "labels: {a: 1, b: 2, c: 3, d: 4, e: 5}\n",
                 (const char *const[]){"labels", "at most 4", NULL});
    assert_int_equal(load(f, "tags: []\nitems: []\n"), LF_OK);
    assert_int_equal(f->cfg.tag_count, 0);
    assert_int_equal(f->cfg.item_count, 0);
}

static void test_yaml_syntax_error(void **state)
{
    fixture_t *f = *state;
    expect_error(f, "name: a\ncount: 1\ntags: [a, b\n",
                 (const char *const[]){"test.yaml:4:", "YAML syntax error", NULL});
    expect_error(f, "name: a\n  bad indent: 2\n",
                 (const char *const[]){"test.yaml:2:", "YAML syntax error", NULL});
    expect_error(f, "a: *undefined\n", (const char *const[]){"test.yaml:1:", NULL});
}

static void test_parse_helpers(void **state)
{
    int64_t v;
    assert_int_equal(lf_config_parse_size("512KiB", &v), LF_OK);
    assert_int_equal(v, 512 * 1024);
    assert_int_equal(lf_config_parse_size("1k", &v), LF_OK);
    assert_int_equal(v, 1024);
    assert_int_equal(lf_config_parse_size("7", &v), LF_OK);
    assert_int_equal(v, 7);
    assert_int_equal(lf_config_parse_size("1T", &v), LF_OK);
    assert_int_equal(v, 1LL << 40);
    assert_int_equal(lf_config_parse_size("", &v), LF_EPARSE);
    assert_int_equal(lf_config_parse_size("MiB", &v), LF_EPARSE);
    assert_int_equal(lf_config_parse_size("1XB", &v), LF_EPARSE);
    assert_int_equal(lf_config_parse_duration("250ms", &v), LF_OK);
    assert_int_equal(v, 250);
    assert_int_equal(lf_config_parse_duration("7d", &v), LF_OK);
    assert_int_equal(v, 7LL * 86400000);
    assert_int_equal(lf_config_parse_duration("3min", &v), LF_OK);
    assert_int_equal(v, 180000);
    assert_int_equal(lf_config_parse_duration("100", &v), LF_OK);
    assert_int_equal(v, 100);
    assert_int_equal(lf_config_parse_duration("-5s", &v), LF_EPARSE);
    assert_int_equal(lf_config_parse_duration("5 weeks", &v), LF_EPARSE);
}

static void test_reference_lists_every_option(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    lf_config_write_reference(out, options, "Test", "Intro text.");
    fclose(out);
    assert_non_null(strstr(text, "# Test"));
    assert_non_null(strstr(text, "| `sub.timeout` | duration | 5s |"));
    assert_non_null(strstr(text, "| `items[].name` (required) | string |"));
    assert_non_null(strstr(text, "fast, safe, off"));
    free(text);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_empty_document_gives_defaults),
        T(test_every_type),
        T(test_bool_spellings),
        T(test_unknown_key),
        T(test_unknown_key_in_file_names_the_file),
        T(test_wrong_types),
        T(test_out_of_range),
        T(test_duplicate_key),
        T(test_required_key),
        T(test_list_limits),
        T(test_yaml_syntax_error),
        cmocka_unit_test(test_parse_helpers),
        cmocka_unit_test(test_reference_lists_every_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
