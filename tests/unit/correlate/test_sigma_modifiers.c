/* Sigma modifiers, values and condition forms: events that must and must not
 * match. Every check runs the prefiltered engine and the naive evaluator and
 * requires the same answer from both. */
#include "sigma_test_util.h"

#include <stdlib.h>

static lf_sigma_matcher_t *rule(const char *detection)
{
    char text[8192];
    snprintf(text, sizeof text, "title: test rule\nid: r\nlevel: high\ndetection:\n%s", detection);
    diag_log_t log = {0};
    lf_sigma_matcher_t *m = compile_text(NULL, NULL, text, &log);
    if (log.errors)
        fail_msg("unexpected error: %s", log.last);
    assert_int_equal(lf_sigma_matcher_rule_count(m), 1);
    return m;
}

/* Does `detection` fire on an event whose field `path` is `value`? */
static bool on(const char *detection, const char *path, const char *value)
{
    lf_sigma_matcher_t *m = rule(detection);
    lf_event_t ev;
    lf_event_reset(&ev);
    if (value)
        set_s(&ev, path, value);
    bool r = fires(m, &ev, "r");
    lf_sigma_matcher_unref(m);
    return r;
}

#define SEL(x) "  sel:\n    " x "\n  condition: sel\n"

static void test_exact_is_case_insensitive(void **state)
{
    assert_true(on(SEL("process.name: SSHD"), "process.name", "sshd"));
    assert_true(on(SEL("process.name: sshd"), "process.name", "SsHd"));
    assert_false(on(SEL("process.name: sshd"), "process.name", "sshd2"));
    assert_false(on(SEL("process.name: sshd"), "process.name", "xsshd"));
    assert_false(on(SEL("process.name: sshd"), "process.name", NULL));
}

static void test_cased(void **state)
{
    assert_false(on(SEL("process.name|cased: SSHD"), "process.name", "sshd"));
    assert_true(on(SEL("process.name|cased: SSHD"), "process.name", "SSHD"));
    assert_true(on(SEL("message|cased|contains: Failed"), "message", "x Failed y"));
    assert_false(on(SEL("message|cased|contains: Failed"), "message", "x failed y"));
}

static void test_wildcards(void **state)
{
    assert_true(on(SEL("message: 'Failed * for ?oot'"), "message", "failed password for root"));
    assert_false(on(SEL("message: 'Failed * for ?oot'"), "message", "failed password for rooot"));
    assert_true(on(SEL("message: '*'"), "message", ""));
    assert_true(on(SEL("message: 'a*'"), "message", "abc"));
    assert_true(on(SEL("message: '*c'"), "message", "abc"));
    assert_true(on(SEL("message: 'a*b*c'"), "message", "a1b2b3c"));
    assert_false(on(SEL("message: 'a*b*c'"), "message", "a1b2b3c4"));
    /* ? matches one character, also a multi-byte one */
    assert_true(on(SEL("message: 'caf?'"), "message", "caf\xc3\xa9"));
    assert_false(on(SEL("message: 'caf?'"), "message", "caf"));
}

static void test_escaped_wildcards(void **state)
{
    /* \* is a literal star */
    assert_true(on(SEL("message: 'a\\*b'"), "message", "a*b"));
    assert_false(on(SEL("message: 'a\\*b'"), "message", "axxb"));
    assert_true(on(SEL("message: 'what\\?'"), "message", "what?"));
    assert_false(on(SEL("message: 'what\\?'"), "message", "whatx"));
    /* \\* is a backslash followed by a wildcard */
    assert_true(on(SEL("message: 'a\\\\*'"), "message", "a\\anything"));
    assert_false(on(SEL("message: 'a\\\\*'"), "message", "a*"));
    /* a backslash before an ordinary character stays a backslash */
    assert_true(on(SEL("message: 'C:\\Windows\\System32'"), "message", "c:\\windows\\system32"));
    /* \\\\ is two backslashes... read as \\ → one literal backslash each */
    assert_true(on(SEL("message|endswith: '\\\\cmd.exe'"), "message", "C:\\x\\cmd.exe"));
}

static void test_contains_startswith_endswith(void **state)
{
    assert_true(on(SEL("message|contains: PASSWORD"), "message", "Failed password for x"));
    assert_false(on(SEL("message|contains: passwd"), "message", "Failed password for x"));
    assert_true(on(SEL("message|startswith: failed"), "message", "Failed password"));
    assert_false(on(SEL("message|startswith: password"), "message", "Failed password"));
    assert_true(on(SEL("message|endswith: '.PHP'"), "message", "/a/shell.php"));
    assert_false(on(SEL("message|endswith: '.php'"), "message", "/a/shell.php?x"));
    /* wildcards inside a contains value still work */
    assert_true(on(SEL("message|contains: 'for * from'"), "message", "ok for root from 1.2.3.4"));
}

static void test_lists_and_all(void **state)
{
    const char *any = SEL("message|contains: [alpha, beta]");
    assert_true(on(any, "message", "x beta y"));
    assert_false(on(any, "message", "gamma"));
    const char *all = SEL("message|contains|all: [alpha, beta]");
    assert_true(on(all, "message", "beta and alpha"));
    assert_false(on(all, "message", "only alpha"));
    /* all with a single value is just that value */
    assert_true(on(SEL("message|contains|all: [alpha]"), "message", "alpha"));
    /* a list of plain values is OR */
    assert_true(on(SEL("process.name: [sshd, sudo]"), "process.name", "SUDO"));
}

static void test_neq(void **state)
{
    assert_true(on(SEL("process.name|neq: sshd"), "process.name", "sudo"));
    assert_false(on(SEL("process.name|neq: sshd"), "process.name", "SSHD"));
    assert_false(on(SEL("process.name|neq: [sshd, sudo]"), "process.name", "sudo"));
    assert_true(on(SEL("process.name|neq: [sshd, sudo]"), "process.name", "cron"));
}

static void test_re(void **state)
{
    assert_true(on(SEL("message|re: 'Failed (password|publickey)'"), "message",
                   "x Failed publickey for y"));
    /* regexes are case-sensitive unless i */
    assert_false(on(SEL("message|re: '^failed'"), "message", "Failed"));
    assert_true(on(SEL("message|re|i: '^failed'"), "message", "Failed"));
    /* m: ^ and $ at line breaks */
    assert_false(on(SEL("message|re: '^second$'"), "message", "first\nsecond\nthird"));
    assert_true(on(SEL("message|re|m: '^second$'"), "message", "first\nsecond\nthird"));
    /* s: dot matches newline */
    assert_false(on(SEL("message|re: 'a.b'"), "message", "a\nb"));
    assert_true(on(SEL("message|re|s: 'a.b'"), "message", "a\nb"));
    assert_true(on(SEL("message|re|i|m|s: '^A.B$'"), "message", "x\na\nb"));
}

/* regexes give the prefilter a literal when one is provably required;
 * quantifiers, groups, classes and alternation must not lose matches */
static void test_re_literals_keep_matches(void **state)
{
    struct {
        const char *re, *text;
        bool want;
    } cases[] = {
        {"colou?r", "the color", true},
        {"colou?r", "the colour", true},
        {"ab*cde", "acde", true},
        {"xy{0,2}zzz", "xzzz", true},
        {"xy{2}zzz", "xyyzzz", true},
        {"abc+def", "abcccdef", true},
        {"abc+def", "abdef", false},
        {"(foo|bar)bazz", "barbazz", true},
        {"[abc]defg", "cdefg", true},
        {"alpha|omega", "omega", true},
        {"\\\\evil[0-9]+\\.dll", "c:\\evil42.dll", true},
        {"\\.dll$", "a.DLL", false},
        {"(?i)\\.dll$", "a.DLL", true},
        {"\\x41BCD", "ABCD", true},
        {"ab\\dcd", "ab1cd", true},
        {"a.b.c.d", "a1b2c3d", true},
    };
    char det[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(det, sizeof det, "  sel:\n    message|re: '%s'\n  condition: sel\n", cases[i].re);
        if (on(det, "message", cases[i].text) != cases[i].want)
            fail_msg("re '%s' on '%s'", cases[i].re, cases[i].text);
    }
}

static char *b64(const char *in, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;
    const unsigned char *s = (const unsigned char *)in;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0);
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return out;
}

static void test_base64(void **state)
{
    assert_true(on(SEL("message|base64: 'cmd'"), "message", "Y21k"));
    assert_false(on(SEL("message|base64: 'cmd'"), "message", "Y21kZA=="));
    assert_true(on(SEL("message|base64|contains: 'cmd'"), "message", "xx Y21k yy"));
}

static void test_base64offset_alignments(void **state)
{
    const char *det = SEL("message|base64offset|contains: 'Invoke-Mimikatz'");
    /* the value at every byte offset modulo 3, with text before and after */
    const char *prefixes[] = {"", "a", "ab", "abc", "abcd"};
    const char *suffixes[] = {"", "x", "xy", " -DumpCreds"};
    for (size_t p = 0; p < 5; p++) {
        for (size_t s = 0; s < 4; s++) {
            char plain[128];
            snprintf(plain, sizeof plain, "%sInvoke-Mimikatz%s", prefixes[p], suffixes[s]);
            char *enc = b64(plain, strlen(plain));
            if (!on(det, "message", enc))
                fail_msg("base64offset missed %s (%s)", plain, enc);
            free(enc);
        }
    }
    char *other = b64("Invoke-Mimikatx", 15);
    assert_false(on(det, "message", other));
    free(other);
}

static void test_utf16_and_base64offset(void **state)
{
    /* "ab" + "whoami" in UTF-16LE, base64 encoded, like powershell -enc */
    char wide[64];
    const char *plain = "abwhoami /all";
    size_t n = strlen(plain);
    for (size_t i = 0; i < n; i++) {
        wide[2 * i] = plain[i];
        wide[2 * i + 1] = 0;
    }
    for (size_t shift = 0; shift < 3; shift++) {
        char *enc = b64(wide + 2 * shift, 2 * (n - shift));
        assert_true(on(SEL("message|utf16le|base64offset|contains: 'whoami'"), "message", enc));
        assert_true(on(SEL("message|wide|base64offset|contains: 'whoami'"), "message", enc));
        free(enc);
    }
    /* utf16 prepends the byte order mark FF FE */
    char bom[64] = {(char)0xff, (char)0xfe};
    memcpy(bom + 2, wide, 2 * n);
    char *enc = b64(bom, 2 * n + 2);
    assert_true(on(SEL("message|utf16|base64: 'abwhoami /all'"), "message", enc));
    free(enc);
    char be[8] = {0, 'c', 0, 'm', 0, 'd'};
    enc = b64(be, 6);
    assert_true(on(SEL("message|utf16be|base64: 'cmd'"), "message", enc));
    free(enc);
}

static void test_windash(void **state)
{
    const char *det = SEL("message|windash|contains: ' -enc '");
    assert_true(on(det, "message", "powershell -enc AAAA"));
    assert_true(on(det, "message", "powershell /enc AAAA"));
    assert_true(on(det, "message",
                   "powershell \xe2\x80\x93"
                   "enc AAAA"));
    assert_true(on(det, "message",
                   "powershell \xe2\x80\x94"
                   "enc AAAA"));
    assert_true(on(det, "message",
                   "powershell \xe2\x80\x95"
                   "enc AAAA"));
    assert_false(on(det, "message", "powershell +enc AAAA"));
    /* a dash inside a word is not an option dash */
    const char *inner = SEL("message|windash: 'Invoke-Item'");
    assert_true(on(inner, "message", "invoke-item"));
    assert_false(on(inner, "message", "invoke/item"));
}

static void test_cidr_edges(void **state)
{
    const char *v4 = SEL("host.name|cidr: 10.0.0.0/8");
    assert_true(on(v4, "host.name", "10.0.0.0"));
    assert_true(on(v4, "host.name", "10.255.255.255"));
    assert_false(on(v4, "host.name", "11.0.0.0"));
    assert_false(on(v4, "host.name", "9.255.255.255"));
    assert_false(on(v4, "host.name", "not-an-ip"));
    assert_false(on(v4, "host.name", "::ffff:10.0.0.1"));
    const char *odd = SEL("host.name|cidr: 192.168.1.128/25");
    assert_true(on(odd, "host.name", "192.168.1.128"));
    assert_true(on(odd, "host.name", "192.168.1.255"));
    assert_false(on(odd, "host.name", "192.168.1.127"));
    /* host bits in the network are ignored; /32 is one address; /0 is all */
    assert_true(on(SEL("host.name|cidr: 192.168.1.77/24"), "host.name", "192.168.1.1"));
    assert_true(on(SEL("host.name|cidr: 203.0.113.5/32"), "host.name", "203.0.113.5"));
    assert_false(on(SEL("host.name|cidr: 203.0.113.5/32"), "host.name", "203.0.113.6"));
    assert_true(on(SEL("host.name|cidr: 0.0.0.0/0"), "host.name", "8.8.8.8"));
    assert_true(on(SEL("host.name|cidr: 203.0.113.5"), "host.name", "203.0.113.5"));
    const char *v6 = SEL("host.name|cidr: '2001:db8::/32'");
    assert_true(on(v6, "host.name", "2001:db8:ffff::1"));
    assert_true(on(v6, "host.name", "2001:DB8::"));
    assert_false(on(v6, "host.name", "2001:db9::1"));
    assert_false(on(v6, "host.name", "10.0.0.1"));
    assert_true(on(SEL("host.name|cidr: 'fe80::/10'"), "host.name", "febf::1"));
    assert_false(on(SEL("host.name|cidr: 'fe80::/10'"), "host.name", "fec0::1"));
    /* a list of networks */
    assert_true(on(SEL("host.name|cidr: [10.0.0.0/8, 172.16.0.0/12]"), "host.name", "172.31.0.1"));
}

static void test_exists_null_empty(void **state)
{
    assert_true(on(SEL("process.name|exists: true"), "process.name", "x"));
    assert_false(on(SEL("process.name|exists: true"), "process.name", NULL));
    assert_true(on(SEL("process.name|exists: false"), "process.name", NULL));
    assert_false(on(SEL("process.name|exists: false"), "process.name", "x"));
    /* null: the field is absent */
    assert_true(on(SEL("process.name: null"), "process.name", NULL));
    assert_false(on(SEL("process.name: null"), "process.name", "x"));
    /* '' matches an empty value, not an absent one */
    assert_true(on(SEL("process.name: ''"), "process.name", ""));
    assert_false(on(SEL("process.name: ''"), "process.name", NULL));
    assert_false(on(SEL("process.name: ''"), "process.name", "x"));
    /* null in a list is one alternative */
    assert_true(on(SEL("process.name: [null, sshd]"), "process.name", NULL));
    assert_true(on(SEL("process.name: [null, sshd]"), "process.name", "sshd"));
    assert_false(on(SEL("process.name: [null, sshd]"), "process.name", "sudo"));
}

static void test_numbers(void **state)
{
    lf_event_t ev;
    lf_event_reset(&ev);
    lf_event_set_num(&ev, fid("process.pid"), 4720);
    struct {
        const char *det;
        bool want;
    } cases[] = {
        {SEL("process.pid: 4720"), true},      {SEL("process.pid: 4721"), false},
        {SEL("process.pid|lt: 5000"), true},   {SEL("process.pid|lt: 4720"), false},
        {SEL("process.pid|lte: 4720"), true},  {SEL("process.pid|gt: 4719.5"), true},
        {SEL("process.pid|gt: 4720"), false},  {SEL("process.pid|gte: 4720"), true},
        {SEL("process.pid|gte: 4721"), false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lf_sigma_matcher_t *m = rule(cases[i].det);
        if (fires(m, &ev, "r") != cases[i].want)
            fail_msg("case %zu: %s", i, cases[i].det);
        lf_sigma_matcher_unref(m);
    }
    /* a text value that is not a number never compares */
    assert_false(on(SEL("message|gt: 1"), "message", "abc"));
    assert_true(on(SEL("message|gt: 1"), "message", " 2 "));
}

static void test_time_parts(void **state)
{
    lf_event_t ev;
    lf_event_reset(&ev);
    /* 2024-03-10T09:02:03Z, a Sunday in ISO week 10 */
    lf_event_set_num(&ev, fid("@timestamp"), 1710061323000LL);
    struct {
        const char *det;
        bool want;
    } cases[] = {
        {SEL("'@timestamp|minute': 2"), true},  {SEL("'@timestamp|minute': 3"), false},
        {SEL("'@timestamp|hour': 9"), true},    {SEL("'@timestamp|hour': [0, 1, 2]"), false},
        {SEL("'@timestamp|day': 10"), true},    {SEL("'@timestamp|week': 10"), true},
        {SEL("'@timestamp|week': 11"), false},  {SEL("'@timestamp|month': 3"), true},
        {SEL("'@timestamp|year': 2024"), true}, {SEL("'@timestamp|year': 2023"), false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lf_sigma_matcher_t *m = rule(cases[i].det);
        if (fires(m, &ev, "r") != cases[i].want)
            fail_msg("case %zu: %s", i, cases[i].det);
        lf_sigma_matcher_unref(m);
    }
    /* ISO week across a year boundary: 2021-01-03 is in week 53 of 2020 */
    assert_true(on(SEL("message|week: 53"), "message", "2021-01-03T10:00:00Z"));
    assert_true(on(SEL("message|week: 1"), "message", "2021-01-04 10:00:00"));
}

static void test_fieldref(void **state)
{
    lf_sigma_matcher_t *m = rule(SEL("host.name|fieldref: agent.id"));
    lf_sigma_matcher_t *c = rule(SEL("message|fieldref|contains: process.name"));
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "host.name", "web01");
    set_s(&ev, "agent.id", "WEB01");
    set_s(&ev, "message", "started sshd on port 22");
    set_s(&ev, "process.name", "SSHD");
    assert_true(fires(m, &ev, "r"));
    assert_true(fires(c, &ev, "r"));
    set_s(&ev, "agent.id", "web02");
    set_s(&ev, "process.name", "sudo");
    assert_false(fires(m, &ev, "r"));
    assert_false(fires(c, &ev, "r"));
    lf_sigma_matcher_unref(m);
    lf_sigma_matcher_unref(c);
}

static void test_expand(void **state)
{
    diag_log_t log = {0};
    const char *ph = "bad_hosts: ['evil.example', '*.bad.example']\nadmins: root\n";
    const char *rules = "title: t\nid: r\ndetection:\n  sel:\n    host.name|expand: "
                        "'%bad_hosts%'\n  condition: sel\n";
    lf_sigma_matcher_t *m = compile_text(NULL, ph, rules, &log);
    assert_int_equal(log.errors, 0);
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "host.name", "EVIL.example");
    assert_true(fires(m, &ev, "r"));
    set_s(&ev, "host.name", "x.bad.example");
    assert_true(fires(m, &ev, "r"));
    set_s(&ev, "host.name", "good.example");
    assert_false(fires(m, &ev, "r"));
    lf_sigma_matcher_unref(m);
    /* an unknown placeholder is an error naming it */
    log = (diag_log_t){0};
    m = compile_text(NULL, ph,
                     "title: t\nid: r\ndetection:\n  sel:\n    host.name|expand: '%nope%'\n"
                     "  condition: sel\n",
                     &log);
    assert_int_equal(log.errors, 1);
    assert_non_null(strstr(log.last, "nope"));
    assert_int_equal(lf_sigma_matcher_rule_count(m), 0);
    lf_sigma_matcher_unref(m);
}

static void test_keywords(void **state)
{
    const char *det = "  keywords:\n    - 'Invalid user'\n    - 'authentication failure'\n"
                      "  condition: keywords\n";
    assert_true(on(det, "message", "sshd: Invalid user bob from 1.2.3.4"));
    assert_true(on(det, "event.original", "<34>pam: AUTHENTICATION FAILURE; x"));
    assert_false(on(det, "message", "Accepted password"));
    assert_false(on(det, "process.name", "Invalid user")); /* not a keyword field */
    /* a single keyword string and a keyword item with modifiers */
    assert_true(on("  kw: 'segfault'\n  condition: kw\n", "message", "app[1]: segfault at 0"));
    assert_true(on("  kw:\n    '|all': [alpha, beta]\n  condition: kw\n", "message", "beta alpha"));
    assert_false(on("  kw:\n    '|all': [alpha, beta]\n  condition: kw\n", "message", "alpha"));
}

static void test_conditions(void **state)
{
    const char *sels = "  a:\n    message|contains: alpha\n"
                       "  b:\n    message|contains: beta\n"
                       "  c:\n    message|contains: gamma\n";
    char det[1024];
    struct {
        const char *cond, *msg;
        bool want;
    } cases[] = {
        /* precedence: not > and > or */
        {"a or b and c", "alpha", true},
        {"a or b and c", "beta", false},
        {"a or b and c", "beta gamma", true},
        {"(a or b) and c", "alpha", false},
        {"(a or b) and c", "alpha gamma", true},
        {"not a and b", "beta", true},
        {"not a and b", "alpha beta", false},
        {"not (a and b)", "alpha beta", false},
        {"not (a and b)", "alpha", true},
        {"a and not b and not c", "alpha", true},
        {"a and not b and not c", "alpha gamma", false},
        {"not not a", "alpha", true},
        {"a AND b", "alpha beta", true},
        {"((a))", "alpha", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(det, sizeof det, "%s  condition: %s\n", sels, cases[i].cond);
        if (on(det, "message", cases[i].msg) != cases[i].want)
            fail_msg("condition '%s' on '%s'", cases[i].cond, cases[i].msg);
    }
}

static void test_x_of(void **state)
{
    const char *sels = "  sel_one:\n    message|contains: alpha\n"
                       "  sel_two:\n    message|contains: beta\n"
                       "  other:\n    message|contains: gamma\n"
                       "  _hidden:\n    message|contains: delta\n";
    char det[1024];
    struct {
        const char *cond, *msg;
        bool want;
    } cases[] = {
        {"1 of sel_*", "beta", true},
        {"1 of sel_*", "gamma", false},
        {"all of sel_*", "alpha beta", true},
        {"all of sel_*", "alpha", false},
        {"any of sel*", "alpha", true},
        {"1 of them", "gamma", true},
        {"1 of them", "delta", false}, /* underscore identifiers are not in them */
        {"all of them", "alpha beta gamma", true},
        {"all of them", "alpha beta delta", false},
        {"2 of them", "alpha gamma", true},
        {"2 of them", "gamma", false},
        {"1 of sel_* and not other", "alpha", true},
        {"1 of sel_* and not other", "alpha gamma", false},
        {"all of *", "alpha beta gamma delta", true},
        {"all of *", "alpha beta gamma", false},
        {"1 of _h*", "delta", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(det, sizeof det, "%s  condition: %s\n", sels, cases[i].cond);
        if (on(det, "message", cases[i].msg) != cases[i].want)
            fail_msg("condition '%s' on '%s'", cases[i].cond, cases[i].msg);
    }
    /* a list of conditions is OR */
    snprintf(det, sizeof det, "%s  condition:\n    - sel_one\n    - other\n", sels);
    assert_true(on(det, "message", "gamma"));
    assert_false(on(det, "message", "beta"));
}

static void test_maps_and_lists_of_maps(void **state)
{
    /* a map is AND, a list of maps is OR */
    const char *andmap = "  sel:\n    process.name: sshd\n    message|contains: failed\n"
                         "  condition: sel\n";
    lf_sigma_matcher_t *m = rule(andmap);
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "process.name", "sshd");
    set_s(&ev, "message", "Accepted");
    assert_false(fires(m, &ev, "r"));
    set_s(&ev, "message", "Failed password");
    assert_true(fires(m, &ev, "r"));
    lf_sigma_matcher_unref(m);
    const char *ormaps = "  sel:\n    - process.name: sudo\n    - message|contains: failed\n"
                         "  condition: sel\n";
    m = rule(ormaps);
    lf_event_reset(&ev);
    set_s(&ev, "process.name", "sudo");
    assert_true(fires(m, &ev, "r"));
    lf_event_reset(&ev);
    set_s(&ev, "message", "FAILED");
    assert_true(fires(m, &ev, "r"));
    lf_event_reset(&ev);
    set_s(&ev, "process.name", "cron");
    assert_false(fires(m, &ev, "r"));
    lf_sigma_matcher_unref(m);
}

static void test_unknown_field_is_absent_with_warning(void **state)
{
    diag_log_t log = {0};
    lf_sigma_matcher_t *m =
        compile_text(NULL, NULL,
                     "title: t\nid: r\ndetection:\n  sel:\n    NoSuchField: x\n  gone:\n"
                     "    NoSuchField|exists: false\n  condition: gone and not sel\n",
                     &log);
    assert_int_equal(log.errors, 0);
    assert_true(log.warnings >= 1);
    assert_non_null(strstr(log.last, "NoSuchField"));
    lf_event_t ev;
    lf_event_reset(&ev);
    set_s(&ev, "message", "x");
    assert_true(fires(m, &ev, "r"));
    lf_sigma_matcher_unref(m);
}

static void test_numbers_and_bools_as_values(void **state)
{
    assert_true(on(SEL("message: 4720"), "message", "4720"));
    assert_false(on(SEL("message: 4720"), "message", "47200"));
    assert_true(on(SEL("message: true"), "message", "TRUE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_is_case_insensitive),
        cmocka_unit_test(test_cased),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_escaped_wildcards),
        cmocka_unit_test(test_contains_startswith_endswith),
        cmocka_unit_test(test_lists_and_all),
        cmocka_unit_test(test_neq),
        cmocka_unit_test(test_re),
        cmocka_unit_test(test_re_literals_keep_matches),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64offset_alignments),
        cmocka_unit_test(test_utf16_and_base64offset),
        cmocka_unit_test(test_windash),
        cmocka_unit_test(test_cidr_edges),
        cmocka_unit_test(test_exists_null_empty),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_time_parts),
        cmocka_unit_test(test_fieldref),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_x_of),
        cmocka_unit_test(test_maps_and_lists_of_maps),
        cmocka_unit_test(test_unknown_field_is_absent_with_warning),
        cmocka_unit_test(test_numbers_and_bools_as_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
