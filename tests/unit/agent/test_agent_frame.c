/* The syslog stream framer (RFC 6587): octet counting and newline framing
 * detected per connection, frames split across reads, oversized frames cut
 * and flagged, malformed frames reported with their reason. */
#include "agent_frame.h"
#include "lf_wire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_FRAMES 64

typedef struct seen {
    char data[MAX_FRAMES][512];
    size_t len[MAX_FRAMES];
    uint8_t flags[MAX_FRAMES];
    int n;
    const char *errors[MAX_FRAMES];
    bool fatal[MAX_FRAMES];
    int nerr;
} seen_t;

static void on_frame(void *opaque, const char *data, size_t len, uint8_t flags)
{
    seen_t *s = opaque;
    assert_true(s->n < MAX_FRAMES);
    assert_true(len < sizeof s->data[0]);
    memcpy(s->data[s->n], data, len);
    s->data[s->n][len] = '\0';
    s->len[s->n] = len;
    s->flags[s->n] = flags;
    s->n++;
}

static void on_error(void *opaque, const char *reason, bool fatal)
{
    seen_t *s = opaque;
    assert_true(s->nerr < MAX_FRAMES);
    s->errors[s->nerr] = reason;
    s->fatal[s->nerr] = fatal;
    s->nerr++;
}

/* Feeds text in pieces of `step` bytes (0: all at once). */
static lf_err_t feed(lf_agent_framer_t *fr, const char *text, size_t len, size_t step)
{
    if (step == 0)
        return lf_agent_framer_feed(fr, text, len);
    for (size_t i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        lf_err_t rc = lf_agent_framer_feed(fr, text + i, n);
        if (rc != LF_OK)
            return rc;
    }
    return LF_OK;
}

static void test_newline_framing_any_split(void **state)
{
    const char text[] = "<13>Mar 10 09:02:00 fw1 a: one\n<13>two\r\n\n2026-03-10 three\n<14>four";
    for (size_t step = 0; step <= 7; step++) {
        seen_t s = {0};
        lf_agent_framer_t fr;
        lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
        assert_int_equal(feed(&fr, text, sizeof text - 1, step), LF_OK);
        assert_int_equal(fr.framing, LF_AGENT_FRAMING_NEWLINE);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.data[0], "<13>Mar 10 09:02:00 fw1 a: one");
        assert_string_equal(s.data[1], "<13>two");
        assert_string_equal(s.data[2], "2026-03-10 three");
        assert_int_equal(s.nerr, 1); /* the empty line */
        assert_string_equal(s.errors[0], "empty frame");
        assert_false(s.fatal[0]);
        assert_true(lf_agent_framer_pending(&fr));
        assert_true(lf_agent_framer_finish(&fr, false)); /* the last line, at close */
        assert_string_equal(s.data[3], "<14>four");
        assert_int_equal(s.flags[3], 0);
        lf_agent_framer_free(&fr);
    }
}

static void test_octet_counting_any_split(void **state)
{
    /* A newline after a frame (some senders add one) is tolerated; a frame
     * may hold newlines. */
    const char text[] = "9 <13>hello\n11 <13>a\nb\nc d"
                        "3 <1>";
    for (size_t step = 0; step <= 5; step++) {
        seen_t s = {0};
        lf_agent_framer_t fr;
        lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
        assert_int_equal(feed(&fr, text, sizeof text - 1, step), LF_OK);
        assert_int_equal(fr.framing, LF_AGENT_FRAMING_OCTET);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.data[0], "<13>hello");
        assert_string_equal(s.data[1], "<13>a\nb\nc d");
        assert_string_equal(s.data[2], "<1>");
        assert_int_equal(s.nerr, 0);
        assert_false(lf_agent_framer_pending(&fr));
        assert_false(lf_agent_framer_finish(&fr, false));
        lf_agent_framer_free(&fr);
    }
}

static void test_oversized_frames_cut_and_flagged(void **state)
{
    char big[1200];
    memset(big, 'x', sizeof big);
    for (size_t step = 0; step <= 300; step += 100) {
        /* newline framing: cut at max_frame, rest skipped, next frame intact */
        seen_t s = {0};
        lf_agent_framer_t fr;
        lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
        char text[1400];
        int n = snprintf(text, sizeof text, "<13>%.*s\n<13>next\n", (int)sizeof big, big);
        assert_int_equal(feed(&fr, text, (size_t)n, step), LF_OK);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.len[0], 256);
        assert_int_equal(s.flags[0], LF_REC_TRUNCATED);
        assert_memory_equal(s.data[0], "<13>xxx", 7);
        assert_string_equal(s.data[1], "<13>next");
        assert_int_equal(s.flags[1], 0);
        lf_agent_framer_free(&fr);

        /* octet counting: the declared length is honoured, the excess skipped */
        memset(&s, 0, sizeof s);
        lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
        n = snprintf(text, sizeof text, "1204 <13>%.*s8 <13>next", (int)sizeof big, big);
        assert_int_equal(feed(&fr, text, (size_t)n, step), LF_OK);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.len[0], 256);
        assert_int_equal(s.flags[0], LF_REC_TRUNCATED);
        assert_string_equal(s.data[1], "<13>next");
        lf_agent_framer_free(&fr);
    }
    /* exactly max_frame, and max_frame plus a '\r' before the '\n': not cut */
    seen_t s = {0};
    lf_agent_framer_t fr;
    lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
    char text[600];
    int n = snprintf(text, sizeof text, "<1>%.*s\n<1>%.*s\r\n", 253, big, 253, big);
    assert_int_equal(feed(&fr, text, (size_t)n, 100), LF_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.len[0], 256);
    assert_int_equal(s.flags[0], 0);
    assert_int_equal(s.len[1], 256);
    assert_int_equal(s.flags[1], 0);
    lf_agent_framer_free(&fr);
}

static void test_malformed_octet_streams(void **state)
{
    static const struct {
        const char *text;
        const char *reason;
        int frames_before;
    } cases[] = {
        {"5 <13>a<13>b\n", "octet-counted frame does not start with a length", 1},
        {"5 <13>a05 <13>b", "octet-counted frame does not start with a length", 1},
        {"5 <13>a12x <13>b", "octet count not followed by a space", 1},
        {"5 <13>a12345678901 x", "octet count longer than 10 digits", 1},
        {"999999999 x", "octet count larger than 256 MiB", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        seen_t s = {0};
        lf_agent_framer_t fr;
        lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
        assert_int_equal(lf_agent_framer_feed(&fr, cases[i].text, strlen(cases[i].text)),
                         LF_EPARSE);
        assert_int_equal(s.n, cases[i].frames_before);
        assert_int_equal(s.nerr, 1);
        assert_string_equal(s.errors[0], cases[i].reason);
        assert_true(s.fatal[0]);
        /* the stream stays failed */
        assert_int_equal(lf_agent_framer_feed(&fr, "1 x", 3), LF_EPARSE);
        assert_false(lf_agent_framer_finish(&fr, false));
        lf_agent_framer_free(&fr);
    }
}

static void test_first_frame_decides(void **state)
{
    /* Digits without a space: a line, and the connection is newline framed. */
    seen_t s = {0};
    lf_agent_framer_t fr;
    lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
    assert_int_equal(lf_agent_framer_feed(&fr, "12345\n12 x\n", 11), LF_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.data[0], "12345");
    assert_string_equal(s.data[1], "12 x");
    lf_agent_framer_free(&fr);

    /* A stream that ends inside an octet-counted frame: what came is kept,
     * flagged truncated. */
    memset(&s, 0, sizeof s);
    lf_agent_framer_init(&fr, 256, on_frame, on_error, &s);
    assert_int_equal(lf_agent_framer_feed(&fr, "20 <13>par", 10), LF_OK);
    assert_true(lf_agent_framer_pending(&fr));
    assert_true(lf_agent_framer_finish(&fr, false));
    assert_string_equal(s.data[0], "<13>par");
    assert_int_equal(s.flags[0], LF_REC_TRUNCATED);
    lf_agent_framer_free(&fr);
}

static void test_datagrams(void **state)
{
    uint8_t flags;
    assert_int_equal(lf_agent_frame_datagram("<13>a\n", 6, 256, &flags), 5);
    assert_int_equal(flags, 0);
    assert_int_equal(lf_agent_frame_datagram("<13>a\r\n\0", 8, 256, &flags), 5);
    assert_int_equal(lf_agent_frame_datagram("\n\r\n", 3, 256, &flags), 0);
    assert_int_equal(lf_agent_frame_datagram("", 0, 256, &flags), 0);
    char big[300];
    memset(big, 'y', sizeof big);
    assert_int_equal(lf_agent_frame_datagram(big, sizeof big, 256, &flags), 256);
    assert_int_equal(flags, LF_REC_TRUNCATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_newline_framing_any_split),
        cmocka_unit_test(test_octet_counting_any_split),
        cmocka_unit_test(test_oversized_frames_cut_and_flagged),
        cmocka_unit_test(test_malformed_octet_streams),
        cmocka_unit_test(test_first_frame_decides),
        cmocka_unit_test(test_datagrams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
