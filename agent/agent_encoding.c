/* agent_encoding.c - legacy encodings to UTF-8 (agent_encoding.h). */
#include "agent_encoding.h"

#include "lf_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const lf_agent_encoding_choices[] = {"utf-8", "big5", "cp950", "big5-hkscs", NULL};
static const char *const iconv_names[] = {"UTF-8", "BIG5", "CP950", "BIG5-HKSCS"};

lf_err_t lf_agent_encoding_init(lf_agent_encoding_t *e, int encoding, size_t max_record)
{
    memset(e, 0, sizeof *e);
    e->cd = (iconv_t)-1;
    if (encoding <= LF_AGENT_ENC_UTF8 || encoding > LF_AGENT_ENC_BIG5HKSCS)
        return LF_EINVAL;
    e->cd = iconv_open("UTF-8", iconv_names[encoding]);
    if (e->cd == (iconv_t)-1)
        return LF_EINVAL;
    /* Two Big5 bytes become at most three UTF-8 bytes (four for HKSCS
     * supplementary characters): twice the input is always enough. */
    e->cap = 2 * max_record + 8;
    e->max_record = max_record;
    e->buf = malloc(e->cap);
    if (!e->buf) {
        iconv_close(e->cd);
        e->cd = (iconv_t)-1;
        return LF_ENOMEM;
    }
    return LF_OK;
}

void lf_agent_encoding_free(lf_agent_encoding_t *e)
{
    if (e->cd != (iconv_t)-1)
        iconv_close(e->cd);
    e->cd = (iconv_t)-1;
    free(e->buf);
    e->buf = NULL;
}

static bool ascii_only(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return false;
    return true;
}

bool lf_agent_encoding_apply(lf_agent_encoding_t *e, lf_agent_line_t *line)
{
    if (!e->buf || ascii_only(line->data, line->len))
        return true;
    iconv(e->cd, NULL, NULL, NULL, NULL); /* reset the shift state */
    char *in = (char *)line->data, *out = e->buf;
    size_t inleft = line->len, outleft = e->cap;
    size_t rc = iconv(e->cd, &in, &inleft, &out, &outleft);
    if (rc == (size_t)-1 && errno == EINVAL) {
        /* An incomplete character at the end (the record was cut inside
         * it): keep what converted, mark the record cut. */
        line->flags |= LF_REC_TRUNCATED;
    } else if (rc == (size_t)-1) {
        /* EILSEQ: not this encoding; E2BIG cannot happen (cap = 2 x max). */
        e->failures++;
        return false;
    }
    size_t len = (size_t)(out - e->buf);
    if (len > e->max_record) {
        len = e->max_record;
        while (len > 0 && ((unsigned char)e->buf[len] & 0xC0) == 0x80)
            len--; /* do not split a character */
        line->flags |= LF_REC_TRUNCATED;
    }
    line->data = e->buf;
    line->len = len;
    return true;
}
