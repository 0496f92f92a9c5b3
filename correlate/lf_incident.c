#include "lf_incident.h"
#include "lf_time.h"

#include <string.h>

#define HOUR_MS (3600LL * 1000)

void lf_incident_rules_default(lf_incident_rules_t *r)
{
    static const int table[LF_ASSET_CLASS_COUNT][2] = {
        [LF_ASSET_NON_CORE] = {1, 2},        [LF_ASSET_CORE] = {2, 3},
        [LF_ASSET_CORE_CI] = {3, 4},         [LF_ASSET_SENSITIVE] = {3, 4},
        [LF_ASSET_NATIONAL_SECRET] = {4, 4},
    };
    memset(r, 0, sizeof *r);
    memcpy(r->level, table, sizeof table);
    r->availability_class_of_secret = LF_ASSET_CORE;
    r->report_ms = 1 * HOUR_MS;
    r->rereport_ms = 1 * HOUR_MS;
    r->review_low_ms = 8 * HOUR_MS;
    r->review_high_ms = 2 * HOUR_MS;
    r->recovery_low_ms = 72 * HOUR_MS;
    r->recovery_high_ms = 36 * HOUR_MS;
    r->improvement_months = 1;
    r->tz_offset_min = 480;
}

int lf_incident_level(const lf_incident_rules_t *rules, const lf_impact_t *impacts, int count)
{
    int level = 0;
    for (int i = 0; i < count; i++) {
        const lf_impact_t *im = &impacts[i];
        if ((unsigned)im->asset >= LF_ASSET_CLASS_COUNT)
            continue;
        for (int d = 0; d < 3; d++) {
            lf_severity_t sev = im->cia[d];
            if (sev != LF_SEVERITY_MINOR && sev != LF_SEVERITY_SEVERE)
                continue;
            lf_asset_class_t cls = im->asset;
            if (d == LF_CIA_A && (cls == LF_ASSET_SENSITIVE || cls == LF_ASSET_NATIONAL_SECRET))
                cls = rules->availability_class_of_secret;
            int l = rules->level[cls][sev - 1];
            if (l > level)
                level = l;
        }
    }
    return level > 4 ? 4 : level;
}

int64_t lf_add_calendar_months(int64_t epoch_ms, int months, int32_t tz_offset_min)
{
    int64_t local = epoch_ms + (int64_t)tz_offset_min * 60000;
    int64_t day_ms = 86400000LL;
    int64_t days = local >= 0 ? local / day_ms : (local - day_ms + 1) / day_ms;
    int64_t time_of_day = local - days * day_ms;
    /* civil_from_days (Howard Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    int64_t total = y * 12 + (m - 1) + months;
    int64_t ny = total >= 0 ? total / 12 : (total - 11) / 12;
    int64_t nm = total - ny * 12 + 1;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t last = mdays[nm - 1];
    if (nm == 2 && ((ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0))
        last = 29;
    if (d > last)
        d = last;
    int64_t ndays = lf_time_days_from_civil(ny, (unsigned)nm, (unsigned)d);
    return ndays * day_ms + time_of_day - (int64_t)tz_offset_min * 60000;
}

lf_err_t lf_incident_deadlines(const lf_incident_rules_t *rules, const lf_incident_times_t *t,
                               lf_incident_deadlines_t *out)
{
    memset(out, 0, sizeof *out);
    if (t->level < 1 || t->level > 4 || t->awareness_ms <= 0)
        return LF_EINVAL;
    bool high = t->level >= 3;
    out->report_ms = t->awareness_ms + rules->report_ms;
    if (t->level_changed_ms > 0)
        out->report_ms = t->level_changed_ms + rules->rereport_ms;
    if (t->reported_ms > 0)
        out->review_ms = t->reported_ms + (high ? rules->review_high_ms : rules->review_low_ms);
    out->recovery_ms = t->awareness_ms + (high ? rules->recovery_high_ms : rules->recovery_low_ms);
    if (t->recovered_ms > 0)
        out->improvement_ms = lf_add_calendar_months(t->recovered_ms, rules->improvement_months,
                                                     rules->tz_offset_min);
    return LF_OK;
}

const char *lf_light_name(lf_light_t light)
{
    static const char *const names[] = {"green", "blue", "yellow", "orange", "red", "grey"};
    return (unsigned)light <= LF_LIGHT_GREY ? names[light] : "unknown";
}

static bool open_status(lf_incident_status_t s)
{
    return s == LF_STATUS_NEW || s == LF_STATUS_ACKNOWLEDGED || s == LF_STATUS_CONTAINED;
}

static bool past(int64_t deadline, int64_t now)
{
    return deadline > 0 && now > deadline;
}

lf_light_t lf_light_agency(const lf_light_agency_t *ag)
{
    bool red = false, orange = false, yellow = false, blue = false;
    int open_l1 = 0;
    for (int i = 0; i < ag->count; i++) {
        const lf_light_incident_t *in = &ag->incidents[i];
        int64_t now = ag->now_ms;
        bool report_missed = !in->reported && past(in->due.report_ms, now);
        bool review_missed = in->reported && !in->reviewed && past(in->due.review_ms, now);
        if (open_status(in->status)) {
            bool any_past = report_missed || review_missed || past(in->due.recovery_ms, now);
            if (in->level >= 4 || (in->level == 3 && any_past))
                red = true;
            if (in->level == 3 || (in->level <= 2 && past(in->due.recovery_ms, now)))
                orange = true;
            if (in->level == 2 || report_missed || review_missed || in->in_cross_agency_cluster)
                yellow = true;
            if (in->level == 1) {
                open_l1++;
                blue = true;
            }
        } else if (in->status == LF_STATUS_RECOVERED) {
            if (!in->improvement_submitted)
                blue = true;
            if (report_missed || review_missed)
                yellow = true;
        }
    }
    if (open_l1 >= (ag->yellow_open_level1 > 0 ? ag->yellow_open_level1 : 3))
        yellow = true;
    if (ag->untriaged_high_alert)
        blue = true;
    if (red)
        return LF_LIGHT_RED;
    if (orange)
        return LF_LIGHT_ORANGE;
    if (yellow)
        return LF_LIGHT_YELLOW;
    if (blue)
        return LF_LIGHT_BLUE;
    if (ag->sources_silent)
        return LF_LIGHT_GREY;
    return LF_LIGHT_GREEN;
}

lf_light_t lf_light_region(const lf_light_t *lights, int count, bool cluster_escalation)
{
    int worst = -1;
    int grey = 0;
    for (int i = 0; i < count; i++) {
        if (lights[i] == LF_LIGHT_GREY) {
            grey++;
            continue;
        }
        if ((int)lights[i] > worst)
            worst = (int)lights[i];
    }
    if (worst < 0)
        return count > 0 && grey == count ? LF_LIGHT_GREY : LF_LIGHT_GREEN;
    if (cluster_escalation && worst < LF_LIGHT_RED)
        worst++;
    return (lf_light_t)worst;
}
