#include "lf_region.h"

#include <stdio.h>
#include <string.h>

static const char *const resp_levels[] = {"A", "B", "C", "D", "E", NULL};
static const char *const asset_classes[] = {"non_core",        "core", "core_ci", "sensitive",
                                            "national_secret", NULL};

static const lf_config_option_t asset_options[] = {
    LF_CFG_OPT_STRING("name", lf_region_asset_t, name, NULL, "Name of the system or asset."),
    LF_CFG_OPT_ENUM("class", lf_region_asset_t, asset_class, "non_core", asset_classes,
                    "Asset class of the incident level table: non_core, core (核心, not CI), "
                    "core_ci (核心, CI-related), sensitive (公務機密/敏感資訊), "
                    "national_secret (國家機密)."),
    LF_CFG_OPT_STRLIST("hosts", lf_region_asset_t, hosts, host_count, 4096,
                       "Host names (host.name) that belong to the asset."),
    LF_CFG_END};

static const lf_config_option_t agency_options[] = {
    {.name = "id",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_region_agency_t, id),
     .required = true,
     .description = "Agency id, as agents send it (organization.id)."},
    LF_CFG_OPT_STRING("name", lf_region_agency_t, name, "", "Full name of the agency."),
    {.name = "county",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_region_agency_t, county),
     .required = true,
     .description = "County or city of the agency; one of its region's."},
    LF_CFG_OPT_ENUM("level", lf_region_agency_t, level, "C", resp_levels,
                    "資通安全責任等級 responsibility level A–E."),
    LF_CFG_OPT_STRING("reviewer", lf_region_agency_t, reviewer, "",
                      "Supervising agency that reviews its incident reports (審核); "
                      "e.g. the county government, not necessarily the region's lead."),
    LF_CFG_OPT_BOOL("critical_infrastructure", lf_region_agency_t, critical_infrastructure, "false",
                    "Designated CI provider (關鍵基礎設施提供者)."),
    LF_CFG_OPT_LIST("assets", lf_region_agency_t, assets, asset_count, lf_region_asset_t,
                    asset_options, 4096, "Assets with their class, for incident levels."),
    LF_CFG_END};

static const lf_config_option_t region_options[] = {
    {.name = "id",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_region_t, id),
     .required = true,
     .description = "Region id, e.g. taichung."},
    LF_CFG_OPT_STRING("name", lf_region_t, name, "", "Name, e.g. 臺中市區域聯防."),
    {.name = "lead",
     .type = LF_CFG_STRING,
     .offset = offsetof(lf_region_t, lead),
     .required = true,
     .description = "Lead city government running the SOC."},
    {.name = "counties",
     .type = LF_CFG_STRLIST,
     .offset = offsetof(lf_region_t, counties),
     .count_offset = offsetof(lf_region_t, county_count),
     .max_items = 32,
     .required = true,
     .description = "Counties and cities of the region, lead city first."},
    LF_CFG_OPT_LIST("agencies", lf_region_t, agencies, agency_count, lf_region_agency_t,
                    agency_options, 100000, "Member agencies."),
    LF_CFG_END};

const lf_config_option_t lf_region_model_options[] = {
    LF_CFG_OPT_LIST("regions", lf_region_model_t, regions, region_count, lf_region_t,
                    region_options, 64, "The regions of the joint defence."),
    LF_CFG_END};

const char *lf_region_level_name(int level)
{
    return level >= 0 && level < 5 ? resp_levels[level] : "?";
}

static lf_err_t validate(const char *name, lf_region_model_t *m, char *errstr, size_t errlen)
{
    for (size_t r = 0; r < m->region_count; r++) {
        lf_region_t *reg = &m->regions[r];
        if (reg->county_count == 0) {
            snprintf(errstr, errlen, "%s: regions[%zu] (%s): lists no counties", name, r, reg->id);
            return LF_ECONFIG;
        }
        for (size_t c = 0; c < reg->county_count; c++)
            for (size_t r2 = 0; r2 <= r; r2++)
                for (size_t c2 = 0; c2 < m->regions[r2].county_count; c2++) {
                    if (r2 == r && c2 >= c)
                        break;
                    if (!strcmp(reg->counties[c], m->regions[r2].counties[c2])) {
                        snprintf(errstr, errlen,
                                 "%s: county %s is in regions %s and %s: a county belongs to one "
                                 "region",
                                 name, reg->counties[c], m->regions[r2].id, reg->id);
                        return LF_ECONFIG;
                    }
                }
        for (size_t a = 0; a < reg->agency_count; a++) {
            lf_region_agency_t *ag = &reg->agencies[a];
            bool county_ok = false;
            for (size_t c = 0; c < reg->county_count && !county_ok; c++)
                county_ok = !strcmp(ag->county, reg->counties[c]);
            if (!county_ok) {
                snprintf(errstr, errlen,
                         "%s: regions[%zu].agencies[%zu] (%s): county %s is not one of region "
                         "%s's counties",
                         name, r, a, ag->id, ag->county, reg->id);
                return LF_ECONFIG;
            }
        }
    }
    /* Duplicate agency ids anywhere in the model. */
    for (size_t r = 0; r < m->region_count; r++)
        for (size_t a = 0; a < m->regions[r].agency_count; a++) {
            const char *id = m->regions[r].agencies[a].id;
            for (size_t r2 = 0; r2 <= r; r2++)
                for (size_t a2 = 0; a2 < m->regions[r2].agency_count; a2++) {
                    if (r2 == r && a2 >= a)
                        break;
                    if (!strcmp(id, m->regions[r2].agencies[a2].id)) {
                        snprintf(errstr, errlen,
                                 "%s: agency %s appears twice: regions[%zu].agencies[%zu] and "
                                 "regions[%zu].agencies[%zu]; agency ids must be unique",
                                 name, id, r2, a2, r, a);
                        return LF_ECONFIG;
                    }
                }
        }
    return LF_OK;
}

lf_err_t lf_region_model_load_string(const char *text, size_t len, const char *name,
                                     lf_region_model_t *model, char *errstr, size_t errlen)
{
    memset(model, 0, sizeof *model);
    lf_err_t rc =
        lf_config_load_string(text, len, name, lf_region_model_options, model, errstr, errlen);
    if (rc == LF_OK)
        rc = validate(name, model, errstr, errlen);
    if (rc != LF_OK)
        lf_region_model_free(model);
    return rc;
}

lf_err_t lf_region_model_load(const char *path, lf_region_model_t *model, char *errstr,
                              size_t errlen)
{
    memset(model, 0, sizeof *model);
    lf_err_t rc = lf_config_load_file(path, lf_region_model_options, model, errstr, errlen);
    if (rc == LF_OK)
        rc = validate(path, model, errstr, errlen);
    if (rc != LF_OK)
        lf_region_model_free(model);
    return rc;
}

void lf_region_model_free(lf_region_model_t *model)
{
    lf_config_free(lf_region_model_options, model);
}

const lf_region_agency_t *lf_region_find_agency(const lf_region_model_t *m, lf_str_t id,
                                                const lf_region_t **region)
{
    for (size_t r = 0; r < m->region_count; r++)
        for (size_t a = 0; a < m->regions[r].agency_count; a++)
            if (lf_str_eq_c(id, m->regions[r].agencies[a].id)) {
                if (region)
                    *region = &m->regions[r];
                return &m->regions[r].agencies[a];
            }
    return NULL;
}
