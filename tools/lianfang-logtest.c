/* lianfang-logtest - decode raw records exactly as lianfangd does and print
 * each event as one ECS JSON object per line.
 *
 *   lianfang-logtest [options] [FILE...]      (stdin when no FILE)
 *
 * It calls lf_decode_event(), the function lianfangd's ingest calls, with
 * the same rule files, so what it prints is what the server stores (minus
 * the store's own keys). With --rules it also runs the detection stage of
 * lianfangd (lf_detect_event) and prints, per record,
 * {"event": <ECS>, "matches": [{"type","id","title","level"}...]}.
 * Exit status: 0 when every record was decoded without error, 1 when some
 * record carried a decode error (with --strict) or, with --check, a rule
 * failed to load; 2 on bad options or bad rule files.
 */
#include "lf_decode.h"
#include "lf_detect.h"
#include "lf_event.h"
#include "lf_json.h"
#include "lf_log.h"
#include "lf_ingest.h"
#include "lf_time.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: lianfang-logtest [options] [FILE...]\n"
                 "Reads raw records (one per line) from the files or stdin and prints the ECS\n"
                 "event lianfangd would store for each, one JSON object per line.\n\n"
                 "  --decoders DIR     rule files (default /usr/share/lianfang/decoders)\n"
                 "  --builtin-only     no rule files, built-in decoders only\n"
                 "  --format NAME      force a decoder (see --list)\n"
                 "  --source NAME      source name (as the agent's sources[].name)\n"
                 "  --agency ID        agency (organization.id)\n"
                 "  --agent ID         agent id (default logtest)\n"
                 "  --host NAME        host the agent runs on\n"
                 "  --timezone +HH:MM  zone of zone-less timestamps (default +08:00)\n"
                 "  --reference TIME   the agent's read time, RFC 3339 (default now); also used\n"
                 "                     as the ingest time, so output is reproducible\n"
                 "  --rules PATH       detection content, repeatable: a rules directory (with\n"
                 "                     sigma/, yara/, intel/), Sigma files or folders, YARA\n"
                 "                     files (.yar/.yara), STIX 2.1 bundles (.json)\n"
                 "  --mappings DIR     Sigma logsource mappings for --rules files (default\n"
                 "                     /usr/share/lianfang/rules/sigma-mappings)\n"
                 "  --list             list the decoders and where they come from\n"
                 "  --check            only load the decoder and --rules files and report\n"
                 "                     every problem with file and line; exit 1 on any\n"
                 "  --summary          print records per decoder and errors to stderr at the end\n"
                 "  --strict           exit 1 when any record has a decode error\n"
                 "  -h, --help\n");
}

/* One detection hit as {"type","id","title","level"}. */
static void print_match(void *opaque, const lf_detect_hit_t *hit)
{
    static const char *const types[] = {"sigma", "yara", "intel"};
    static const char *const levels[] = {"informational", "low", "medium", "high", "critical"};
    lf_json_t *js = opaque;
    const char *title = hit->sigma   ? hit->sigma->title
                        : hit->yara  ? hit->yara->rule->identifier
                        : hit->intel ? hit->intel->indicator->name
                                     : "";
    lf_json_object_begin(js);
    lf_json_key(js, "type");
    lf_json_cstring(js, types[hit->kind]);
    lf_json_key(js, "id");
    lf_json_cstring(js, hit->rule_id);
    lf_json_key(js, "title");
    lf_json_cstring(js, title);
    lf_json_key(js, "level");
    lf_json_cstring(js, levels[hit->level]);
    lf_json_object_end(js);
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/lianfang/decoders", *format = NULL, *source = "logtest";
    const char *agency = "", *agent = "logtest", *host = "", *tz = "+08:00", *reference = NULL;
    bool list = false, check = false, summary = false, strict = false;
    const char *rule_paths[64];
    size_t rule_count = 0;
    const char *mappings = "/usr/share/lianfang/rules/sigma-mappings";
    enum {
        O_DEC = 1,
        O_BUILTIN,
        O_FORMAT,
        O_SOURCE,
        O_AGENCY,
        O_AGENT,
        O_HOST,
        O_TZ,
        O_REF,
        O_LIST,
        O_CHECK,
        O_SUMMARY,
        O_STRICT,
        O_RULES,
        O_MAPPINGS
    };
    static const struct option opts[] = {{"decoders", required_argument, NULL, O_DEC},
                                         {"builtin-only", no_argument, NULL, O_BUILTIN},
                                         {"format", required_argument, NULL, O_FORMAT},
                                         {"source", required_argument, NULL, O_SOURCE},
                                         {"agency", required_argument, NULL, O_AGENCY},
                                         {"agent", required_argument, NULL, O_AGENT},
                                         {"host", required_argument, NULL, O_HOST},
                                         {"timezone", required_argument, NULL, O_TZ},
                                         {"reference", required_argument, NULL, O_REF},
                                         {"list", no_argument, NULL, O_LIST},
                                         {"check", no_argument, NULL, O_CHECK},
                                         {"summary", no_argument, NULL, O_SUMMARY},
                                         {"strict", no_argument, NULL, O_STRICT},
                                         {"rules", required_argument, NULL, O_RULES},
                                         {"mappings", required_argument, NULL, O_MAPPINGS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_DEC:
            dir = optarg;
            break;
        case O_BUILTIN:
            dir = NULL;
            break;
        case O_FORMAT:
            format = optarg;
            break;
        case O_SOURCE:
            source = optarg;
            break;
        case O_AGENCY:
            agency = optarg;
            break;
        case O_AGENT:
            agent = optarg;
            break;
        case O_HOST:
            host = optarg;
            break;
        case O_TZ:
            tz = optarg;
            break;
        case O_REF:
            reference = optarg;
            break;
        case O_LIST:
            list = true;
            break;
        case O_CHECK:
            check = true;
            break;
        case O_SUMMARY:
            summary = true;
            break;
        case O_STRICT:
            strict = true;
            break;
        case O_RULES:
            if (rule_count == sizeof rule_paths / sizeof *rule_paths) {
                fprintf(stderr, "lianfang-logtest: at most 64 --rules\n");
                return 2;
            }
            rule_paths[rule_count++] = optarg;
            break;
        case O_MAPPINGS:
            mappings = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    int32_t tz_min;
    if (lf_ingest_parse_tz(tz, &tz_min) != LF_OK) {
        fprintf(stderr, "lianfang-logtest: --timezone '%s': expected +HH:MM, -HH:MM or Z\n", tz);
        return 2;
    }
    int64_t ref_ms = lf_time_now_ms();
    if (reference) {
        size_t pos = 0;
        bool assumed;
        if (!lf_decode_rfc3339(reference, strlen(reference), &pos, tz_min, &ref_ms, &assumed) ||
            pos != strlen(reference)) {
            fprintf(stderr, "lianfang-logtest: --reference '%s': expected RFC 3339\n", reference);
            return 2;
        }
    }
    static char errstr[16384];
    lf_decoders_t *set = NULL;
    lf_err_t rc = lf_decoders_load(dir, &set, errstr, sizeof errstr);
    if (rc != LF_OK) {
        fprintf(stderr, "lianfang-logtest: bad decoders (%s):\n%s\n", lf_strerror(rc), errstr);
        return 2;
    }
    /* Detection content: a folder with sigma/ is a whole rules directory. */
    lf_detect_config_t dcfg = {0};
    lf_detect_t *detect = NULL;
    if (rule_count) {
        lf_config_set_defaults(lf_detect_config_options, &dcfg, errstr, sizeof errstr);
        free(dcfg.rules_dir);
        dcfg.rules_dir = NULL;
        const char *extra[64];
        size_t nextra = 0;
        for (size_t i = 0; i < rule_count; i++) {
            char probe[4096];
            snprintf(probe, sizeof probe, "%s/sigma", rule_paths[i]);
            FILE *f = fopen(probe, "r");
            if (f && !dcfg.rules_dir) {
                dcfg.rules_dir = strdup(rule_paths[i]);
            } else {
                extra[nextra++] = rule_paths[i];
            }
            if (f)
                fclose(f);
        }
        dcfg.paths = extra;
        dcfg.path_count = nextra;
        dcfg.mappings = mappings;
        if (!check)
            lf_log_set_level(LF_LOG_WARN);
        rc = lf_detect_new(&dcfg, NULL, &detect, errstr, sizeof errstr);
        if (rc != LF_OK) {
            fprintf(stderr, "lianfang-logtest: %s\n", errstr);
            lf_config_free(lf_detect_config_options, &dcfg);
            lf_decoders_free(set);
            return 2;
        }
    }
    if (check || list) {
        int result = 0;
        if (list)
            for (int id = 1; id <= lf_decoders_count(set); id++)
                printf("%-16s %s\n", lf_decoders_name(set, id), lf_decoders_origin(set, id));
        else
            printf("%d decoders, %d rule files: OK\n", lf_decoders_count(set),
                   lf_decoders_file_count(set));
        if (detect) {
            lf_detect_stats_t st;
            lf_detect_stats(detect, &st);
            printf("%zu Sigma rules, %zu YARA rules, %zu indicators, %zu problems, %zu "
                   "unsupported indicators%s\n",
                   st.sigma_rules, st.yara_rules, st.indicators, st.problems, st.unsupported,
                   st.problems || st.unsupported ? " (listed above)" : "");
            result = st.problems ? 1 : 0;
            lf_detect_free(detect);
            lf_config_free(lf_detect_config_options, &dcfg);
        }
        lf_decoders_free(set);
        return result;
    }
    int forced = 0;
    if (format && !(forced = lf_decoders_find(set, format))) {
        fprintf(stderr, "lianfang-logtest: --format '%s': no such decoder (see --list)\n", format);
        lf_decoders_free(set);
        return 2;
    }
    lf_decode_state_t *state = NULL;
    if (lf_decode_state_new(set, 1u << 20, &state) != LF_OK) {
        lf_decoders_free(set);
        return 2;
    }
    int nfiles = argc - optind;
    lf_buf_t out, scratch;
    lf_buf_init(&out, 64u << 20);
    lf_buf_init(&scratch, 64u << 20);
    lf_event_t *ev = malloc(sizeof *ev);
    int64_t *taken = calloc((size_t)lf_decoders_count(set) + 1, sizeof *taken);
    int64_t *failed = calloc((size_t)lf_decoders_count(set) + 1, sizeof *failed);
    char *line = NULL;
    size_t cap = 0;
    uint64_t seq = 0, errors = 0;
    int status = 0;
    lf_decode_ctx_t ctx = {
        .tz_offset_min = tz_min, .decoders = set, .state = state, .format = forced};
    for (int f = 0; f < (nfiles ? nfiles : 1) && ev && taken && failed; f++) {
        const char *path = nfiles ? argv[optind + f] : "-";
        FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
        if (!in) {
            fprintf(stderr, "lianfang-logtest: %s: cannot open\n", path);
            status = 2;
            continue;
        }
        ssize_t n;
        while ((n = getline(&line, &cap, in)) >= 0) {
            size_t len = (size_t)n;
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            lf_record_meta_t meta = {.agent_id = lf_str_c(agent),
                                     .agency = lf_str_c(agency),
                                     .host = lf_str_c(host),
                                     .source = lf_str_c(source),
                                     .read_time_ms = ref_ms,
                                     .ingest_ms = ref_ms,
                                     .seq = ++seq,
                                     .offset = UINT64_MAX};
            lf_decode_result_t res;
            lf_decode_event(&ctx, &meta, lf_str_n(line, len), ev, &res);
            taken[res.decoder_id]++;
            if (res.error) {
                errors++;
                failed[res.failed_id ? res.failed_id : res.decoder_id]++;
            }
            lf_err_t jrc = lf_event_to_json(ev, &out, &scratch);
            if (jrc != LF_OK) {
                fprintf(stderr, "lianfang-logtest: record %" PRIu64 ": %s\n", seq,
                        lf_strerror(jrc));
                continue;
            }
            if (detect) {
                fputs("{\"event\":", stdout);
                fwrite(out.data, 1, out.len, stdout);
                lf_buf_reset(&scratch);
                lf_json_t js;
                lf_json_init(&js, &scratch);
                lf_json_array_begin(&js);
                int64_t ts = lf_event_has(ev, LF_F_TIMESTAMP) ? ev->num[LF_F_TIMESTAMP] : ref_ms;
                lf_detect_event(detect, ev, ts, print_match, &js);
                lf_json_array_end(&js);
                fputs(",\"matches\":", stdout);
                fwrite(scratch.data, 1, scratch.len, stdout);
                fputs("}\n", stdout);
                continue;
            }
            fwrite(out.data, 1, out.len, stdout);
            fputc('\n', stdout);
        }
        if (in != stdin)
            fclose(in);
    }
    if (summary && taken && failed) {
        fprintf(stderr, "%" PRIu64 " records, %" PRIu64 " with a decode error\n", seq, errors);
        for (int id = 1; id <= lf_decoders_count(set); id++)
            if (taken[id] || failed[id])
                fprintf(stderr, "  %-16s %8" PRId64 " taken %8" PRId64 " errors\n",
                        lf_decoders_name(set, id), taken[id], failed[id]);
    }
    if (strict && errors && !status)
        status = 1;
    free(line);
    free(ev);
    free(taken);
    free(failed);
    lf_buf_free(&out);
    lf_buf_free(&scratch);
    lf_decode_state_free(state);
    lf_decoders_free(set);
    lf_detect_free(detect);
    lf_config_free(lf_detect_config_options, &dcfg);
    return status;
}
