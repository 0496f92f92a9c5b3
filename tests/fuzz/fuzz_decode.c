/* Fuzz target: one record through the whole decoding pipeline (framing,
 * rule-file decoders, built-in decoders) and ECS serialisation. Built once
 * per decoder family: LF_FUZZ_FORMAT names the decoder to force ("" tries
 * them all, as lianfangd does); LF_FUZZ_DECODERS is the rules directory. */
#include "lf_decode.h"
#include "lf_event.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lf_buf_t out, scratch;
    static lf_decoders_t *set;
    static lf_decode_state_t *state;
    static lf_event_t *ev;
    static int format;
    if (!set) {
        char err[4096];
        if (lf_decoders_load(LF_FUZZ_DECODERS, &set, err, sizeof err) != LF_OK ||
            lf_decode_state_new(set, 1u << 20, &state) != LF_OK)
            abort();
        format = lf_decoders_find(set, LF_FUZZ_FORMAT);
        lf_buf_init(&out, 1 << 24);
        lf_buf_init(&scratch, 1 << 24);
        ev = malloc(sizeof *ev);
        if (!ev)
            abort();
    }
    lf_decode_ctx_t ctx = {.tz_offset_min = 480, .decoders = set, .state = state, .format = format};
    lf_record_meta_t meta = {.agent_id = lf_str_c("fuzz"),
                             .source = lf_str_c("fuzz"),
                             .read_time_ms = 1773106800000,
                             .ingest_ms = 1773106800000,
                             .seq = 1,
                             .offset = UINT64_MAX};
    lf_decode_result_t res;
    lf_decode_event(&ctx, &meta, lf_str_n((const char *)data, size), ev, &res);
    lf_event_to_json(ev, &out, &scratch);
    return 0;
}
