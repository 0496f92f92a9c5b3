/* lf_sigma_ac.c - Aho–Corasick automaton for the literal prefilter.
 *
 * Patterns are matched ASCII case-insensitively. The automaton is a full
 * DFA over byte classes: every byte that occurs in some pattern (after
 * lowercasing) gets its own class, all other bytes share class 0, so the
 * transition table is states × classes instead of states × 256. Scanning
 * costs one table lookup per input byte whatever the number of patterns.
 *
 * Outputs: each state lists the ids of the patterns ending exactly there,
 * and `dict` links to the nearest state on its failure chain that has
 * outputs, so reporting all matches costs only the matches.
 */
#include "lf_sigma_int.h"

#include <stdlib.h>
#include <string.h>

#define SG_AC_OUT_BIT 0x80000000u

struct sg_ac_builder {
    char *bytes; /* all patterns, lowercased, back to back */
    size_t nbytes, capbytes;
    struct {
        size_t off, len;
        uint32_t id;
    } * pats;
    size_t npats, cappats;
};

struct sg_ac {
    uint8_t cls[256];
    uint32_t nclass, nstates;
    uint32_t *delta;     /* nstates × nclass */
    uint32_t *out_first; /* into ids */
    uint32_t *out_count;
    uint32_t *dict; /* UINT32_MAX: none */
    uint32_t *ids;
};

sg_ac_builder_t *sg_ac_builder_new(void)
{
    return calloc(1, sizeof(sg_ac_builder_t));
}

void sg_ac_builder_free(sg_ac_builder_t *b)
{
    if (!b)
        return;
    free(b->bytes);
    free(b->pats);
    free(b);
}

lf_err_t sg_ac_builder_add(sg_ac_builder_t *b, const char *pat, size_t len, uint32_t id)
{
    if (len == 0)
        return LF_EINVAL;
    if (b->nbytes + len > b->capbytes) {
        size_t cap = b->capbytes ? b->capbytes : 4096;
        while (cap < b->nbytes + len)
            cap *= 2;
        char *p = realloc(b->bytes, cap);
        if (!p)
            return LF_ENOMEM;
        b->bytes = p;
        b->capbytes = cap;
    }
    if (b->npats == b->cappats) {
        size_t cap = b->cappats ? b->cappats * 2 : 256;
        void *p = realloc(b->pats, cap * sizeof *b->pats);
        if (!p)
            return LF_ENOMEM;
        b->pats = p;
        b->cappats = cap;
    }
    for (size_t i = 0; i < len; i++)
        b->bytes[b->nbytes + i] = (char)sg_lower((unsigned char)pat[i]);
    b->pats[b->npats].off = b->nbytes;
    b->pats[b->npats].len = len;
    b->pats[b->npats].id = id;
    b->npats++;
    b->nbytes += len;
    return LF_OK;
}

void sg_ac_free(sg_ac_t *ac)
{
    if (!ac)
        return;
    free(ac->delta);
    free(ac->out_first);
    free(ac->out_count);
    free(ac->dict);
    free(ac->ids);
    free(ac);
}

size_t sg_ac_states(const sg_ac_t *ac)
{
    return ac ? ac->nstates : 0;
}

sg_ac_t *sg_ac_build(sg_ac_builder_t *b)
{
    sg_ac_t *ac = calloc(1, sizeof *ac);
    if (!ac) {
        sg_ac_builder_free(b);
        return NULL;
    }
    /* byte classes */
    bool used[256] = {false};
    for (size_t i = 0; i < b->nbytes; i++)
        used[(unsigned char)b->bytes[i]] = true;
    uint32_t k = 1;
    for (int c = 0; c < 256; c++)
        if (used[c])
            ac->cls[c] = (uint8_t)(k < 256 ? k++ : 0);
    for (int c = 'A'; c <= 'Z'; c++)
        ac->cls[c] = ac->cls[c + 32];
    ac->nclass = k;
    size_t maxstates = b->nbytes + 1;
    uint32_t *delta = calloc(maxstates * k, sizeof *delta); /* 0 = no edge yet (root) */
    uint32_t *term = malloc(b->npats * sizeof *term);
    if (!delta || !term)
        goto oom;
    uint32_t nstates = 1;
    for (size_t p = 0; p < b->npats; p++) {
        uint32_t s = 0;
        for (size_t i = 0; i < b->pats[p].len; i++) {
            uint32_t c = ac->cls[(unsigned char)b->bytes[b->pats[p].off + i]];
            uint32_t *t = &delta[(size_t)s * k + c];
            if (!*t)
                *t = nstates++;
            s = *t;
        }
        term[p] = s;
    }
    /* outputs per state */
    ac->nstates = nstates;
    ac->out_first = calloc(nstates, sizeof *ac->out_first);
    ac->out_count = calloc(nstates, sizeof *ac->out_count);
    ac->dict = malloc(nstates * sizeof *ac->dict);
    ac->ids = malloc((b->npats ? b->npats : 1) * sizeof *ac->ids);
    uint32_t *fail = calloc(nstates, sizeof *fail);
    uint32_t *queue = malloc(nstates * sizeof *queue);
    if (!ac->out_first || !ac->out_count || !ac->dict || !ac->ids || !fail || !queue) {
        free(fail);
        free(queue);
        goto oom;
    }
    for (size_t p = 0; p < b->npats; p++)
        ac->out_count[term[p]]++;
    uint32_t acc = 0;
    for (uint32_t s = 0; s < nstates; s++) {
        ac->out_first[s] = acc;
        acc += ac->out_count[s];
        ac->out_count[s] = 0;
    }
    for (size_t p = 0; p < b->npats; p++) {
        uint32_t s = term[p];
        ac->ids[ac->out_first[s] + ac->out_count[s]++] = b->pats[p].id;
    }
    /* BFS: failure links, dictionary links, full transitions */
    size_t qh = 0, qt = 0;
    for (uint32_t c = 0; c < k; c++) {
        uint32_t t = delta[c];
        if (t) {
            fail[t] = 0;
            queue[qt++] = t;
        }
    }
    ac->dict[0] = UINT32_MAX;
    while (qh < qt) {
        uint32_t s = queue[qh++];
        uint32_t f = fail[s];
        ac->dict[s] = ac->out_count[f] ? f : ac->dict[f];
        for (uint32_t c = 0; c < k; c++) {
            uint32_t *t = &delta[(size_t)s * k + c];
            if (*t) {
                fail[*t] = delta[(size_t)f * k + c];
                queue[qt++] = *t;
            } else {
                *t = delta[(size_t)f * k + c];
            }
        }
    }
    /* renumber states in breadth-first order: the shallow states, where a
     * scan spends most of its time, then share a few cache lines */
    uint32_t *newid = malloc(nstates * sizeof *newid);
    uint32_t *ndelta = malloc((size_t)nstates * k * sizeof *ndelta);
    uint32_t *nfirst = malloc(nstates * sizeof *nfirst);
    uint32_t *ncount = malloc(nstates * sizeof *ncount);
    uint32_t *ndict = malloc(nstates * sizeof *ndict);
    if (!newid || !ndelta || !nfirst || !ncount || !ndict) {
        free(newid);
        free(ndelta);
        free(nfirst);
        free(ncount);
        free(ndict);
        free(fail);
        free(queue);
        goto oom;
    }
    newid[0] = 0;
    for (size_t i = 0; i < qt; i++)
        newid[queue[i]] = (uint32_t)(i + 1);
    for (uint32_t st = 0; st < nstates; st++) {
        uint32_t ns = newid[st];
        for (uint32_t c = 0; c < k; c++)
            ndelta[(size_t)ns * k + c] = newid[delta[(size_t)st * k + c]];
        nfirst[ns] = ac->out_first[st];
        ncount[ns] = ac->out_count[st];
        ndict[ns] = ac->dict[st] == UINT32_MAX ? UINT32_MAX : newid[ac->dict[st]];
    }
    free(delta);
    free(ac->out_first);
    free(ac->out_count);
    free(ac->dict);
    free(newid);
    delta = ndelta;
    ac->out_first = nfirst;
    ac->out_count = ncount;
    ac->dict = ndict;
    free(fail);
    free(queue);
    free(term);
    term = NULL;
    /* mark transitions into states that report something with the top bit,
     * so the scan loop touches only the transition table per byte */
    if (nstates >= SG_AC_OUT_BIT)
        goto oom;
    for (size_t t = 0; t < (size_t)nstates * k; t++) {
        uint32_t d = delta[t];
        if (ac->out_count[d] || ac->dict[d] != UINT32_MAX)
            delta[t] = d | SG_AC_OUT_BIT;
    }
    uint32_t *shrunk = realloc(delta, (size_t)nstates * k * sizeof *delta);
    ac->delta = shrunk ? shrunk : delta;
    sg_ac_builder_free(b);
    return ac;
oom:
    free(delta);
    free(term);
    sg_ac_builder_free(b);
    sg_ac_free(ac);
    return NULL;
}

void sg_ac_scan(const sg_ac_t *ac, const char *text, size_t len, sg_ac_hit_cb *hit, void *ud)
{
    const uint32_t *delta = ac->delta;
    const uint8_t *cls = ac->cls;
    const size_t k = ac->nclass;
    uint32_t s = 0;
    for (size_t i = 0; i < len; i++) {
        s = delta[(size_t)(s & ~SG_AC_OUT_BIT) * k + cls[(unsigned char)text[i]]];
        if (!(s & SG_AC_OUT_BIT))
            continue;
        uint32_t st = s & ~SG_AC_OUT_BIT;
        for (uint32_t o = ac->out_count[st] ? st : ac->dict[st]; o != UINT32_MAX; o = ac->dict[o])
            for (uint32_t j = 0; j < ac->out_count[o]; j++)
                hit(ac->ids[ac->out_first[o] + j], ud);
    }
}
