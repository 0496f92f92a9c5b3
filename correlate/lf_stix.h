/* lf_stix.h - STIX 2.1 bundle import and the STIX pattern parser.
 *
 * Bundles (a file, or a memory buffer posted through the API) are parsed
 * with jansson; each `indicator` with pattern_type "stix" has its pattern
 * compiled into comparisons that lf_ioc_set_build() turns into fast sets.
 * `marking-definition` objects of the bundle and the well-known TLP 1.0 and
 * TLP 2.0 marking ids give each indicator its TLP level.
 *
 * Supported pattern subset (docs/intel.md has examples and the reasons):
 *
 *   pattern     := observation ( "OR" observation )*
 *   observation := "[" expr "]" | "(" pattern ")"          no qualifiers
 *   expr        := term ( "OR" term )*
 *   term        := atom ( "AND" atom )*                    one object type
 *   atom        := comparison | "(" expr ")"
 *   comparison  := ipv4-addr:value   ( "=" | "ISSUBSET" ) 'a.b.c.d[/n]'
 *                | ipv6-addr:value   ( "=" | "ISSUBSET" ) 'x::y[/n]'
 *                | domain-name:value "=" 'example.org'
 *                | domain-name:value "LIKE" '%.example.org'  (subdomains)
 *                | url:value         "=" 'https://...'
 *                | file:hashes.(MD5|'SHA-1'|'SHA-256') "=" 'hex'
 *                | <any of the above> "IN" ( 'v1', 'v2', ... )
 *
 * Valid STIX outside it is "unsupported" (with the reason): other object
 * types and properties, the operators != < > <= >= MATCHES ISSUPERSET
 * EXISTS and NOT, AND or FOLLOWEDBY between observations (they need
 * several events), qualifiers (WITHIN, REPEATS, START/STOP), binary and
 * hex literals, AND across object types. Text that is not a STIX pattern
 * is "malformed".
 *
 * Threads: every function here works on the objects passed in only; use a
 * builder from one thread at a time.
 */
#ifndef LF_STIX_H
#define LF_STIX_H

#include "lf_error.h"
#include "lf_ioc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed bounds of one pattern, beyond the configurable byte length. */
#define LF_STIX_MAX_COMPARISONS 1024 /* comparisons written in one pattern */
#define LF_STIX_MAX_TERMS       256  /* OR-ed terms after expansion (DNF) */
#define LF_STIX_MAX_TERM_CMPS   16   /* comparisons AND-ed in one term */
#define LF_STIX_MAX_DEPTH       32   /* parentheses and brackets nesting */

/* One compiled comparison: "the observable of `kind` equals/is within". */
typedef struct lf_stix_cmp {
    lf_ioc_kind_t kind;
    bool suffix;        /* DOMAIN: LIKE '%.x': proper subdomains of x */
    uint8_t prefix_len; /* IPV4: 0..32, IPV6: 0..128 */
    uint8_t addr[16];   /* IPV4 (first 4 bytes) / IPV6 network address, host bits zero */
    char *value;        /* DOMAIN, URL, hashes: the normalised text (owned); else NULL */
    size_t len;
} lf_stix_cmp_t;

/* A parsed pattern in disjunctive normal form: it matches when any term
 * matches; a term matches when all its comparisons match on one object. */
struct lf_stix_pattern {
    lf_stix_cmp_t *cmps; /* distinct comparisons */
    size_t cmp_count;
    uint32_t *term_cmps;  /* indexes into cmps, term after term */
    uint32_t *term_start; /* term i is term_cmps[term_start[i] .. term_start[i+1]) */
    size_t term_count;    /* term_start has term_count + 1 entries */
};

/* Parses a STIX pattern. On LF_OK *out is a new pattern (free it with
 * lf_stix_pattern_free or hand it to lf_ioc_builder_add). Errors:
 *   LF_EPARSE  malformed (errstr: "offset N: what")
 *   LF_EINVAL  valid STIX outside the supported subset (errstr: why)
 *   LF_EFULL   longer than max_bytes or past one of the bounds above
 *   LF_ENOMEM
 * Time and memory are linear in len, bounded by the limits above. */
lf_err_t lf_stix_pattern_parse(const char *text, size_t len, size_t max_bytes,
                               lf_stix_pattern_t **out, char *errstr, size_t errlen);
void lf_stix_pattern_free(lf_stix_pattern_t *pattern);

/* Normalisers shared by the pattern parser and the matcher, so indicator
 * values and event values are compared in one form. Each writes at most
 * outlen bytes into out and returns the length, or 0 when the input is not
 * a valid value of its kind (or does not fit). */
size_t lf_stix_normalize_domain(const char *s, size_t len, char *out, size_t outlen);
size_t lf_stix_normalize_url(const char *s, size_t len, char *out, size_t outlen);
/* want: 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hex digits; lowercases. */
size_t lf_stix_normalize_hash(const char *s, size_t len, size_t want, char *out, size_t outlen);
/* Parses "a.b.c.d" / IPv6 text, optionally with "/n" when allow_prefix;
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is returned as IPv4. family: 4 or 6. */
bool lf_stix_parse_ip(const char *s, size_t len, bool allow_prefix, int *family, uint8_t addr[16],
                      unsigned *prefix_len);

/* Imports one bundle (or a TAXII 2.1 envelope: any JSON object with an
 * "objects" array) into the builder. `source` names it in the report.
 * Indicators that are malformed or outside the subset are skipped and
 * reported; the rest are added. The whole bundle is refused, leaving the
 * builder as it was, when it is larger than max_bundle_bytes (checked
 * before parsing), is not JSON or has no "objects" array (LF_EPARSE), or
 * would take the builder past max_indicators (LF_EFULL). errstr gets the
 * reason of a refusal; report (may be NULL) gets everything. */
lf_err_t lf_stix_import_buffer(lf_ioc_builder_t *b, const char *data, size_t len,
                               const char *source, lf_ioc_report_t *report, char *errstr,
                               size_t errlen);
/* Same from a file; LF_EIO when it cannot be read. The size is checked with
 * fstat before anything is read. */
lf_err_t lf_stix_import_file(lf_ioc_builder_t *b, const char *path, lf_ioc_report_t *report,
                             char *errstr, size_t errlen);

/* The TLP level of a well-known marking-definition id (TLP 1.0 and 2.0
 * ids as published by OASIS); LF_TLP_NONE when not one of them. */
lf_tlp_t lf_stix_tlp_from_marking_id(const char *id);

#endif
