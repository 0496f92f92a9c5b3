/* Fuzz target: the YAML configuration loader (common/lf_config). Every input
 * is loaded against a small table with one option of each type (string,
 * integer, boolean, size, duration, enum, section, list of sections with a
 * required key, list of strings, map), then freed; LeakSanitizer catches
 * anything the loader forgets on an error path. */
#include "lf_config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz_item {
    char *name;
    int64_t port;
    bool tls;
} fz_item_t;

typedef struct fz_section {
    int64_t size;
    int64_t timeout;
    char *dir;
} fz_section_t;

typedef struct fz_cfg {
    char *name;
    int64_t count;
    bool flag;
    int64_t size;
    int64_t interval;
    int mode;
    fz_section_t sub;
    fz_item_t *items;
    size_t item_count;
    char **tags;
    size_t tag_count;
    lf_config_kv_t *labels;
    size_t label_count;
} fz_cfg_t;

static const char *const fz_modes[] = {"fast", "safe", "off", NULL};

static const lf_config_option_t fz_item_options[] = {
    {.name = "name",
     .type = LF_CFG_STRING,
     .offset = offsetof(fz_item_t, name),
     .required = true,
     .description = "name"},
    LF_CFG_OPT_INT("port", fz_item_t, port, "514", 1, 65535, "port"),
    LF_CFG_OPT_BOOL("tls", fz_item_t, tls, "false", "tls"),
    LF_CFG_END,
};

static const lf_config_option_t fz_section_options[] = {
    LF_CFG_OPT_SIZE("size", fz_section_t, size, "64MiB", 0, INT64_MAX, "size"),
    LF_CFG_OPT_DURATION("timeout", fz_section_t, timeout, "5s", 0, INT64_MAX, "timeout"),
    LF_CFG_OPT_STRING("dir", fz_section_t, dir, "/var/lib/x", "dir"),
    LF_CFG_END,
};

static const lf_config_option_t fz_options[] = {
    LF_CFG_OPT_STRING("name", fz_cfg_t, name, "lianfang", "name"),
    LF_CFG_OPT_INT("count", fz_cfg_t, count, "10", INT64_MIN, INT64_MAX, "count"),
    LF_CFG_OPT_BOOL("flag", fz_cfg_t, flag, "true", "flag"),
    LF_CFG_OPT_SIZE("size", fz_cfg_t, size, "1KiB", 16, 1LL << 40, "size"),
    LF_CFG_OPT_DURATION("interval", fz_cfg_t, interval, "1s", 1, 86400000, "interval"),
    LF_CFG_OPT_ENUM("mode", fz_cfg_t, mode, "safe", fz_modes, "mode"),
    LF_CFG_OPT_SECTION("sub", fz_cfg_t, sub, fz_section_options, "section"),
    LF_CFG_OPT_LIST("items", fz_cfg_t, items, item_count, fz_item_t, fz_item_options, 16, "items"),
    LF_CFG_OPT_STRLIST("tags", fz_cfg_t, tags, tag_count, 16, "tags"),
    LF_CFG_OPT_MAP("labels", fz_cfg_t, labels, label_count, 16, "labels"),
    LF_CFG_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[512];
    err[0] = '\0';
    lf_err_t rc = lf_config_load_string((const char *)data, size, "fuzz.yaml", fz_options, &cfg,
                                        err, sizeof err);
    if (rc == LF_OK && cfg.item_count > 16)
        __builtin_trap();
    if (memchr(err, '\0', sizeof err) == NULL)
        __builtin_trap(); /* the message is always terminated */
    lf_config_free(fz_options, &cfg);
    return 0;
}
