/* lf_region.h - the joint-defence model: regions, their lead city and
 * member counties, and the agencies with their responsibility level (A–E),
 * county, supervising reviewer and asset classes (domain.md §1).
 *
 * Loaded from one YAML file (rules/regions/taiwan.yaml ships the six
 * regions); reference: docs/regions.md. Immutable once loaded: safe to read
 * from any thread.
 */
#ifndef LF_REGION_H
#define LF_REGION_H

#include "lf_config.h"
#include "lf_error.h"
#include "lf_incident.h"
#include "lf_str.h"

typedef struct lf_region_asset {
    char *name;
    int asset_class; /* lf_asset_class_t */
    char **hosts;    /* host names of the asset, matched against host.name */
    size_t host_count;
} lf_region_asset_t;

typedef struct lf_region_agency {
    char *id;       /* organization.id, e.g. "CH-07" */
    char *name;     /* 彰化縣衛生局 */
    char *county;   /* 彰化縣 */
    int level;      /* responsibility level: 0 = A ... 4 = E */
    char *reviewer; /* supervising agency that reviews its reports (審核) */
    bool critical_infrastructure;
    lf_region_asset_t *assets;
    size_t asset_count;
} lf_region_agency_t;

typedef struct lf_region {
    char *id;        /* "taichung" */
    char *name;      /* 臺中市區域聯防 */
    char *lead;      /* 臺中市政府 */
    char **counties; /* lead city first, then member counties */
    size_t county_count;
    lf_region_agency_t *agencies;
    size_t agency_count;
} lf_region_t;

typedef struct lf_region_model {
    lf_region_t *regions;
    size_t region_count;
} lf_region_model_t;

extern const lf_config_option_t lf_region_model_options[];

/* Loads and validates a region file: schema errors name file:line:key;
 * semantic errors (an agency or county in two regions, an unknown county of
 * an agency, an empty region) name the entries involved. On error the model
 * is freed. */
lf_err_t lf_region_model_load(const char *path, lf_region_model_t *model, char *errstr,
                              size_t errlen);
lf_err_t lf_region_model_load_string(const char *text, size_t len, const char *name,
                                     lf_region_model_t *model, char *errstr, size_t errlen);
void lf_region_model_free(lf_region_model_t *model);

/* The agency with that id and its region; NULL when unknown. */
const lf_region_agency_t *lf_region_find_agency(const lf_region_model_t *model, lf_str_t id,
                                                const lf_region_t **region);
/* "A".."E" for a responsibility level. */
const char *lf_region_level_name(int level);

#endif
