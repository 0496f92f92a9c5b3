/* lf_config.h - typed YAML configuration from one option table per binary.
 *
 * Each binary describes its configuration as a table of lf_config_option_t
 * rows (name, type, where it goes in the target struct, default, range,
 * description). The same table
 *   - fills defaults (every option has a safe one),
 *   - parses the YAML file, refusing unknown keys and wrong types with
 *     "file:line:column: key.path: what is wrong (how to fix)",
 *   - prints the reference documentation (`--config-reference`), so the
 *     docs are generated from the code and cannot drift.
 *
 * Value syntax: sizes take B, KiB, MiB, GiB (or k/M/G, powers of 1024);
 * durations take ms, s, m, h, d (a bare number is milliseconds).
 */
#ifndef LF_CONFIG_H
#define LF_CONFIG_H

#include "lf_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum lf_config_type {
    LF_CFG_STRING,   /* char *, owned by the target, freed by lf_config_free */
    LF_CFG_INT,      /* int64_t within [min, max] */
    LF_CFG_BOOL,     /* bool */
    LF_CFG_SIZE,     /* int64_t bytes within [min, max] */
    LF_CFG_DURATION, /* int64_t milliseconds within [min, max] */
    LF_CFG_ENUM,     /* int: index into choices */
    LF_CFG_SECTION,  /* nested struct at offset, described by children */
    LF_CFG_LIST,     /* array of elem_size structs: void * at offset, size_t at count_offset */
    LF_CFG_STRLIST,  /* char ** at offset, size_t count at count_offset */
    LF_CFG_MAP,      /* lf_config_kv_t * at offset, size_t count at count_offset */
} lf_config_type_t;

typedef struct lf_config_kv {
    char *key;
    char *value;
} lf_config_kv_t;

typedef struct lf_config_option {
    const char *name;
    lf_config_type_t type;
    size_t offset;
    const char *default_value; /* textual, parsed like a YAML value; NULL: none */
    int64_t min, max;
    const char *const *choices;              /* ENUM, NULL-terminated */
    const struct lf_config_option *children; /* SECTION, LIST: ends with {0} */
    size_t elem_size;                        /* LIST */
    size_t count_offset;                     /* LIST, STRLIST, MAP */
    size_t max_items;                        /* LIST, STRLIST, MAP; 0 = 1024 */
    bool required;
    const char *description;
} lf_config_option_t;

/* Fills every default of the table into target (zeroed by the caller). */
lf_err_t lf_config_set_defaults(const lf_config_option_t *table, void *target, char *errstr,
                                size_t errlen);
/* Applies defaults, then the YAML file at path. On error target still holds
 * valid (default or partly loaded) values and must be freed. */
lf_err_t lf_config_load_file(const char *path, const lf_config_option_t *table, void *target,
                             char *errstr, size_t errlen);
/* Same from memory; `name` is used in error messages in place of a path. */
lf_err_t lf_config_load_string(const char *text, size_t len, const char *name,
                               const lf_config_option_t *table, void *target, char *errstr,
                               size_t errlen);
/* Frees every string, list and map the table owns inside target. */
void lf_config_free(const lf_config_option_t *table, void *target);
/* Writes the Markdown reference of a table. */
void lf_config_write_reference(FILE *out, const lf_config_option_t *table, const char *title,
                               const char *intro);

/* Parses "64MiB" / "1k" / "123" into bytes. */
lf_err_t lf_config_parse_size(const char *s, int64_t *out);
/* Parses "250ms" / "5s" / "2m" / "1h" / "7d" / "100" (ms) into milliseconds. */
lf_err_t lf_config_parse_duration(const char *s, int64_t *out);

/* Convenience row builders. */
#define LF_CFG_OPT_STRING(nm, st, fld, def, desc)                                                  \
    {                                                                                              \
        .name = nm, .type = LF_CFG_STRING, .offset = offsetof(st, fld), .default_value = def,      \
        .description = desc                                                                        \
    }
#define LF_CFG_OPT_INT(nm, st, fld, def, lo, hi, desc)                                             \
    {                                                                                              \
        .name = nm, .type = LF_CFG_INT, .offset = offsetof(st, fld), .default_value = def,         \
        .min = lo, .max = hi, .description = desc                                                  \
    }
#define LF_CFG_OPT_BOOL(nm, st, fld, def, desc)                                                    \
    {                                                                                              \
        .name = nm, .type = LF_CFG_BOOL, .offset = offsetof(st, fld), .default_value = def,        \
        .description = desc                                                                        \
    }
#define LF_CFG_OPT_SIZE(nm, st, fld, def, lo, hi, desc)                                            \
    {                                                                                              \
        .name = nm, .type = LF_CFG_SIZE, .offset = offsetof(st, fld), .default_value = def,        \
        .min = lo, .max = hi, .description = desc                                                  \
    }
#define LF_CFG_OPT_DURATION(nm, st, fld, def, lo, hi, desc)                                        \
    {                                                                                              \
        .name = nm, .type = LF_CFG_DURATION, .offset = offsetof(st, fld), .default_value = def,    \
        .min = lo, .max = hi, .description = desc                                                  \
    }
#define LF_CFG_OPT_ENUM(nm, st, fld, def, ch, desc)                                                \
    {                                                                                              \
        .name = nm, .type = LF_CFG_ENUM, .offset = offsetof(st, fld), .default_value = def,        \
        .choices = ch, .description = desc                                                         \
    }
#define LF_CFG_OPT_SECTION(nm, st, fld, kids, desc)                                                \
    {                                                                                              \
        .name = nm, .type = LF_CFG_SECTION, .offset = offsetof(st, fld), .children = kids,         \
        .description = desc                                                                        \
    }
#define LF_CFG_OPT_LIST(nm, st, fld, cnt, elemt, kids, maxn, desc)                                 \
    {                                                                                              \
        .name = nm, .type = LF_CFG_LIST, .offset = offsetof(st, fld),                              \
        .count_offset = offsetof(st, cnt), .elem_size = sizeof(elemt), .children = kids,           \
        .max_items = maxn, .description = desc                                                     \
    }
#define LF_CFG_OPT_STRLIST(nm, st, fld, cnt, maxn, desc)                                           \
    {                                                                                              \
        .name = nm, .type = LF_CFG_STRLIST, .offset = offsetof(st, fld),                           \
        .count_offset = offsetof(st, cnt), .max_items = maxn, .description = desc                  \
    }
#define LF_CFG_OPT_MAP(nm, st, fld, cnt, maxn, desc)                                               \
    {                                                                                              \
        .name = nm, .type = LF_CFG_MAP, .offset = offsetof(st, fld),                               \
        .count_offset = offsetof(st, cnt), .max_items = maxn, .description = desc                  \
    }
#define LF_CFG_END                                                                                 \
    {                                                                                              \
        0                                                                                          \
    }

#endif
