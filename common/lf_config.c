#include "lf_config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CFG_MAX_FILE_BYTES    (4u << 20)
#define CFG_MAX_NODES         100000
#define CFG_DEFAULT_MAX_ITEMS 1024

typedef struct cfg_ctx {
    yaml_document_t *doc;
    const char *name;
    char *errstr;
    size_t errlen;
    int visits;
} cfg_ctx_t;

static lf_err_t cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *path, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static lf_err_t cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *path, const char *fmt,
                         ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx->errstr && ctx->errlen) {
        if (node)
            snprintf(ctx->errstr, ctx->errlen, "%s:%zu:%zu: %s: %s", ctx->name,
                     node->start_mark.line + 1, node->start_mark.column + 1, path, msg);
        else
            snprintf(ctx->errstr, ctx->errlen, "%s: %s: %s", ctx->name, path, msg);
    }
    return LF_ECONFIG;
}

static const char *type_name(lf_config_type_t t)
{
    switch (t) {
    case LF_CFG_STRING:
        return "string";
    case LF_CFG_INT:
        return "integer";
    case LF_CFG_BOOL:
        return "boolean";
    case LF_CFG_SIZE:
        return "size";
    case LF_CFG_DURATION:
        return "duration";
    case LF_CFG_ENUM:
        return "one of";
    case LF_CFG_SECTION:
        return "section";
    case LF_CFG_LIST:
        return "list of sections";
    case LF_CFG_STRLIST:
        return "list of strings";
    case LF_CFG_MAP:
        return "map of strings";
    }
    return "?";
}

static lf_err_t parse_int_strict(const char *s, int64_t *out)
{
    if (!*s)
        return LF_EPARSE;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return LF_EPARSE;
    *out = v;
    return LF_OK;
}

/* Splits "<number><unit>" and scales; units are matched case-sensitively
 * except for a few common spellings. */
static lf_err_t parse_scaled(const char *s, const char *const *units, const int64_t *scale,
                             int64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return LF_EPARSE;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return LF_EPARSE;
    while (*end == ' ')
        end++;
    int64_t mul = 1;
    if (*end) {
        int i;
        for (i = 0; units[i]; i++)
            if (strcmp(end, units[i]) == 0)
                break;
        if (!units[i])
            return LF_EPARSE;
        mul = scale[i];
    } else {
        mul = scale[0];
    }
    if (v > (unsigned long long)(INT64_MAX / mul))
        return LF_EPARSE;
    *out = (int64_t)v * mul;
    return LF_OK;
}

lf_err_t lf_config_parse_size(const char *s, int64_t *out)
{
    static const char *const units[] = {"B",   "b", "k",  "K",   "KB", "KiB", "M", "MB",
                                        "MiB", "G", "GB", "GiB", "T",  "TiB", NULL};
    static const int64_t K = 1024, M = 1024 * 1024, G = 1024LL * 1024 * 1024;
    static const int64_t scale[] = {1, 1, K, K, K, K, M, M, M, G, G, G, G * 1024, G * 1024};
    return parse_scaled(s, units, scale, out);
}

lf_err_t lf_config_parse_duration(const char *s, int64_t *out)
{
    static const char *const units[] = {"ms", "s", "m", "min", "h", "d", NULL};
    static const int64_t scale[] = {1, 1000, 60000, 60000, 3600000, 86400000};
    return parse_scaled(s, units, scale, out);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void *field(void *target, size_t offset)
{
    return (char *)target + offset;
}

/* Applies a textual scalar to one option. */
static lf_err_t apply_scalar(cfg_ctx_t *ctx, const yaml_node_t *node, const char *path,
                             const lf_config_option_t *opt, void *target, const char *text)
{
    void *dst = field(target, opt->offset);
    int64_t v = 0;
    switch (opt->type) {
    case LF_CFG_STRING: {
        char *copy = strdup(text);
        if (!copy)
            return LF_ENOMEM;
        free(*(char **)dst);
        *(char **)dst = copy;
        return LF_OK;
    }
    case LF_CFG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on")) {
            *(bool *)dst = true;
            return LF_OK;
        }
        if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off")) {
            *(bool *)dst = false;
            return LF_OK;
        }
        return cfg_fail(ctx, node, path, "expects true or false, got '%s'", text);
    case LF_CFG_ENUM:
        for (int i = 0; opt->choices[i]; i++)
            if (!strcmp(text, opt->choices[i])) {
                *(int *)dst = i;
                return LF_OK;
            }
        {
            char list[256] = "";
            for (int i = 0; opt->choices[i]; i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, opt->choices[i], sizeof list - strlen(list) - 1);
            }
            return cfg_fail(ctx, node, path, "expects one of [%s], got '%s'", list, text);
        }
    case LF_CFG_INT:
        if (parse_int_strict(text, &v) != LF_OK)
            return cfg_fail(ctx, node, path, "expects an integer, got '%s'", text);
        break;
    case LF_CFG_SIZE:
        if (lf_config_parse_size(text, &v) != LF_OK)
            return cfg_fail(ctx, node, path,
                            "expects a size such as 512KiB, 64MiB or 1GiB, got '%s'", text);
        break;
    case LF_CFG_DURATION:
        if (lf_config_parse_duration(text, &v) != LF_OK)
            return cfg_fail(ctx, node, path,
                            "expects a duration such as 250ms, 5s, 10m, 1h or 7d, got '%s'", text);
        break;
    default:
        return cfg_fail(ctx, node, path, "expects a %s, got the scalar '%s'", type_name(opt->type),
                        text);
    }
    if (v < opt->min || v > opt->max)
        return cfg_fail(ctx, node, path, "value %s is out of range [%" PRId64 ", %" PRId64 "]%s",
                        text, opt->min, opt->max,
                        opt->type == LF_CFG_DURATION ? " (milliseconds)"
                        : opt->type == LF_CFG_SIZE   ? " (bytes)"
                                                     : "");
    *(int64_t *)dst = v;
    return LF_OK;
}

static lf_err_t apply_defaults(cfg_ctx_t *ctx, const lf_config_option_t *table, void *target,
                               const char *prefix)
{
    for (const lf_config_option_t *opt = table; opt->name; opt++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", opt->name);
        if (opt->type == LF_CFG_SECTION) {
            lf_err_t rc = apply_defaults(ctx, opt->children, field(target, opt->offset), path);
            if (rc != LF_OK)
                return rc;
        } else if (opt->default_value) {
            lf_err_t rc = apply_scalar(ctx, NULL, path, opt, target, opt->default_value);
            if (rc != LF_OK)
                return rc;
        }
    }
    return LF_OK;
}

static lf_err_t apply_mapping(cfg_ctx_t *ctx, yaml_node_t *node, const char *prefix,
                              const lf_config_option_t *table, void *target);
static void free_option(const lf_config_option_t *opt, void *target);

static const char *scalar_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

static lf_err_t check_count(cfg_ctx_t *ctx, const yaml_node_t *node, const char *path,
                            const lf_config_option_t *opt, size_t n)
{
    size_t max = opt->max_items ? opt->max_items : CFG_DEFAULT_MAX_ITEMS;
    if (n > max)
        return cfg_fail(ctx, node, path, "has %zu entries, at most %zu are allowed", n, max);
    return LF_OK;
}

static lf_err_t apply_value(cfg_ctx_t *ctx, yaml_node_t *node, const char *path,
                            const lf_config_option_t *opt, void *target)
{
    if (++ctx->visits > CFG_MAX_NODES)
        return cfg_fail(ctx, node, path, "document too large (more than %d nodes)", CFG_MAX_NODES);
    switch (opt->type) {
    case LF_CFG_SECTION:
        if (node->type != YAML_MAPPING_NODE)
            return cfg_fail(ctx, node, path, "expects a section (a map of keys)");
        return apply_mapping(ctx, node, path, opt->children, field(target, opt->offset));
    case LF_CFG_LIST: {
        if (node->type != YAML_SEQUENCE_NODE)
            return cfg_fail(ctx, node, path, "expects a list (entries starting with '- ')");
        size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
        lf_err_t rc = check_count(ctx, node, path, opt, n);
        if (rc != LF_OK)
            return rc;
        void **arr = field(target, opt->offset);
        size_t *cnt = field(target, opt->count_offset);
        free_option(opt, target); /* replaces earlier values */
        *arr = calloc(n ? n : 1, opt->elem_size);
        if (!*arr)
            return LF_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *item =
                yaml_document_get_node(ctx->doc, node->data.sequence.items.start[i]);
            char ipath[300];
            snprintf(ipath, sizeof ipath, "%s[%zu]", path, i);
            void *elem = (char *)*arr + i * opt->elem_size;
            *cnt = i + 1;
            rc = apply_defaults(ctx, opt->children, elem, ipath);
            if (rc != LF_OK)
                return rc;
            if (!item || item->type != YAML_MAPPING_NODE)
                return cfg_fail(ctx, item ? item : node, ipath,
                                "expects a section (a map of keys)");
            rc = apply_mapping(ctx, item, ipath, opt->children, elem);
            if (rc != LF_OK)
                return rc;
        }
        *cnt = n;
        return LF_OK;
    }
    case LF_CFG_STRLIST: {
        if (node->type != YAML_SEQUENCE_NODE)
            return cfg_fail(ctx, node, path, "expects a list of strings");
        size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
        lf_err_t rc = check_count(ctx, node, path, opt, n);
        if (rc != LF_OK)
            return rc;
        free_option(opt, target);
        char ***arr = field(target, opt->offset);
        size_t *cnt = field(target, opt->count_offset);
        *arr = calloc(n ? n : 1, sizeof(char *));
        if (!*arr)
            return LF_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *item =
                yaml_document_get_node(ctx->doc, node->data.sequence.items.start[i]);
            if (!item || item->type != YAML_SCALAR_NODE)
                return cfg_fail(ctx, item ? item : node, path, "entry %zu is not a string", i);
            (*arr)[i] = dup_n(scalar_text(item), item->data.scalar.length);
            if (!(*arr)[i])
                return LF_ENOMEM;
            *cnt = i + 1;
        }
        return LF_OK;
    }
    case LF_CFG_MAP: {
        if (node->type != YAML_MAPPING_NODE)
            return cfg_fail(ctx, node, path, "expects a map of key: value strings");
        size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
        lf_err_t rc = check_count(ctx, node, path, opt, n);
        if (rc != LF_OK)
            return rc;
        free_option(opt, target);
        lf_config_kv_t **arr = field(target, opt->offset);
        size_t *cnt = field(target, opt->count_offset);
        *arr = calloc(n ? n : 1, sizeof(lf_config_kv_t));
        if (!*arr)
            return LF_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);
            yaml_node_t *v = yaml_document_get_node(ctx->doc, pair->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
                return cfg_fail(ctx, k ? k : node, path, "entries must be key: value strings");
            (*arr)[i].key = dup_n(scalar_text(k), k->data.scalar.length);
            (*arr)[i].value = dup_n(scalar_text(v), v->data.scalar.length);
            *cnt = i + 1;
            if (!(*arr)[i].key || !(*arr)[i].value)
                return LF_ENOMEM;
        }
        return LF_OK;
    }
    default:
        if (node->type != YAML_SCALAR_NODE)
            return cfg_fail(ctx, node, path, "expects a %s value, not a %s", type_name(opt->type),
                            node->type == YAML_MAPPING_NODE ? "section" : "list");
        return apply_scalar(ctx, node, path, opt, target, scalar_text(node));
    }
}

static lf_err_t apply_mapping(cfg_ctx_t *ctx, yaml_node_t *node, const char *prefix,
                              const lf_config_option_t *table, void *target)
{
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(ctx->doc, pair->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return cfg_fail(ctx, k ? k : node, prefix[0] ? prefix : "(top level)",
                            "keys must be plain strings");
        const char *key = scalar_text(k);
        /* A key may appear only once per section. */
        for (size_t j = 0; j < i; j++) {
            yaml_node_t *pk =
                yaml_document_get_node(ctx->doc, node->data.mapping.pairs.start[j].key);
            if (pk && pk->type == YAML_SCALAR_NODE && !strcmp(scalar_text(pk), key)) {
                char path[256];
                snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
                return cfg_fail(ctx, k, path, "key given twice (first on line %zu)",
                                pk->start_mark.line + 1);
            }
        }
        const lf_config_option_t *opt;
        for (opt = table; opt->name; opt++)
            if (!strcmp(opt->name, key))
                break;
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (!opt->name) {
            char known[512] = "";
            for (const lf_config_option_t *o = table; o->name; o++) {
                strncat(known, o == table ? "" : ", ", sizeof known - strlen(known) - 1);
                strncat(known, o->name, sizeof known - strlen(known) - 1);
            }
            return cfg_fail(ctx, k, path, "unknown key (known keys here: %s)", known);
        }
        lf_err_t rc = apply_value(ctx, v, path, opt, target);
        if (rc != LF_OK)
            return rc;
    }
    /* Required keys. */
    for (const lf_config_option_t *opt = table; opt->name; opt++) {
        if (!opt->required)
            continue;
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++) {
            yaml_node_t *k =
                yaml_document_get_node(ctx->doc, node->data.mapping.pairs.start[i].key);
            seen = k && !strcmp(scalar_text(k), opt->name);
        }
        if (!seen) {
            char path[256];
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", opt->name);
            return cfg_fail(ctx, node, path, "required key is missing");
        }
    }
    return LF_OK;
}

lf_err_t lf_config_set_defaults(const lf_config_option_t *table, void *target, char *errstr,
                                size_t errlen)
{
    cfg_ctx_t ctx = {.name = "(defaults)", .errstr = errstr, .errlen = errlen};
    return apply_defaults(&ctx, table, target, "");
}

lf_err_t lf_config_load_string(const char *text, size_t len, const char *name,
                               const lf_config_option_t *table, void *target, char *errstr,
                               size_t errlen)
{
    cfg_ctx_t ctx = {.name = name, .errstr = errstr, .errlen = errlen};
    lf_err_t rc = apply_defaults(&ctx, table, target, "");
    if (rc != LF_OK)
        return rc;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return LF_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s:%zu:%zu: YAML syntax error: %s%s%s", name,
                     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
                     parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return LF_ECONFIG;
    }
    ctx.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = LF_OK; /* empty file: all defaults */
    } else if (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0) {
        rc = LF_OK;
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = cfg_fail(&ctx, root, "(top level)", "the file must be a map of sections");
    } else {
        rc = apply_mapping(&ctx, root, "", table, target);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

lf_err_t lf_config_load_file(const char *path, const lf_config_option_t *table, void *target,
                             char *errstr, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s: cannot open configuration file: %s", path,
                     strerror(errno));
        lf_config_set_defaults(table, target, NULL, 0);
        return LF_EIO;
    }
    char *text = malloc(CFG_MAX_FILE_BYTES + 1);
    if (!text) {
        fclose(f);
        return LF_ENOMEM;
    }
    size_t n = fread(text, 1, CFG_MAX_FILE_BYTES + 1, f);
    fclose(f);
    lf_err_t rc;
    if (n > CFG_MAX_FILE_BYTES) {
        if (errstr && errlen)
            snprintf(errstr, errlen, "%s: configuration file larger than %u bytes", path,
                     CFG_MAX_FILE_BYTES);
        lf_config_set_defaults(table, target, NULL, 0);
        rc = LF_ECONFIG;
    } else {
        rc = lf_config_load_string(text, n, path, table, target, errstr, errlen);
    }
    free(text);
    return rc;
}

/* Frees what one option owns inside target. */
static void free_option(const lf_config_option_t *opt, void *target)
{
    void *dst = field(target, opt->offset);
    switch (opt->type) {
    case LF_CFG_STRING:
        free(*(char **)dst);
        *(char **)dst = NULL;
        break;
    case LF_CFG_SECTION:
        lf_config_free(opt->children, dst);
        break;
    case LF_CFG_LIST: {
        void **arr = dst;
        size_t *cnt = field(target, opt->count_offset);
        for (size_t i = 0; *arr && i < *cnt; i++)
            lf_config_free(opt->children, (char *)*arr + i * opt->elem_size);
        free(*arr);
        *arr = NULL;
        *cnt = 0;
        break;
    }
    case LF_CFG_STRLIST: {
        char ***arr = dst;
        size_t *cnt = field(target, opt->count_offset);
        for (size_t i = 0; *arr && i < *cnt; i++)
            free((*arr)[i]);
        free(*arr);
        *arr = NULL;
        *cnt = 0;
        break;
    }
    case LF_CFG_MAP: {
        lf_config_kv_t **arr = dst;
        size_t *cnt = field(target, opt->count_offset);
        for (size_t i = 0; *arr && i < *cnt; i++) {
            free((*arr)[i].key);
            free((*arr)[i].value);
        }
        free(*arr);
        *arr = NULL;
        *cnt = 0;
        break;
    }
    default:
        break;
    }
}

void lf_config_free(const lf_config_option_t *table, void *target)
{
    if (!table || !target)
        return;
    for (const lf_config_option_t *opt = table; opt->name; opt++)
        free_option(opt, target);
}

static void write_rows(FILE *out, const lf_config_option_t *table, const char *prefix)
{
    for (const lf_config_option_t *opt = table; opt->name; opt++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", opt->name);
        char range[128] = "";
        if (opt->type == LF_CFG_INT || opt->type == LF_CFG_SIZE || opt->type == LF_CFG_DURATION)
            snprintf(range, sizeof range, "%" PRId64 " – %" PRId64 "%s", opt->min, opt->max,
                     opt->type == LF_CFG_SIZE       ? " bytes"
                     : opt->type == LF_CFG_DURATION ? " ms"
                                                    : "");
        else if (opt->type == LF_CFG_ENUM) {
            for (int i = 0; opt->choices[i]; i++) {
                strncat(range, i ? ", " : "", sizeof range - strlen(range) - 1);
                strncat(range, opt->choices[i], sizeof range - strlen(range) - 1);
            }
        } else if (opt->type == LF_CFG_LIST || opt->type == LF_CFG_STRLIST ||
                   opt->type == LF_CFG_MAP) {
            snprintf(range, sizeof range, "at most %zu entries",
                     opt->max_items ? opt->max_items : (size_t)CFG_DEFAULT_MAX_ITEMS);
        }
        fprintf(out, "| `%s`%s | %s | %s | %s | %s |\n", path, opt->required ? " (required)" : "",
                type_name(opt->type), opt->default_value ? opt->default_value : "—", range,
                opt->description ? opt->description : "");
        if (opt->type == LF_CFG_SECTION)
            write_rows(out, opt->children, path);
        else if (opt->type == LF_CFG_LIST) {
            char ipath[300];
            snprintf(ipath, sizeof ipath, "%s[]", path);
            write_rows(out, opt->children, ipath);
        }
    }
}

void lf_config_write_reference(FILE *out, const lf_config_option_t *table, const char *title,
                               const char *intro)
{
    fprintf(out, "# %s\n\n", title);
    if (intro)
        fprintf(out, "%s\n\n", intro);
    fprintf(out, "Sizes take B, KiB, MiB, GiB; durations take ms, s, m, h, d (a bare number is "
                 "milliseconds). Unknown keys are refused.\n\n");
    fprintf(out, "| key | type | default | range | description |\n|---|---|---|---|---|\n");
    write_rows(out, table, "");
}
