/* Fuzz target: the syslog decoders and ECS serialisation of one record. */
#include "lf_decode.h"
#include "lf_event.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lf_buf_t out, scratch;
    static int init;
    if (!init) {
        lf_buf_init(&out, 1 << 22);
        lf_buf_init(&scratch, 1 << 22);
        init = 1;
    }
    lf_event_t ev;
    lf_event_reset(&ev);
    lf_decode_ctx_t ctx = {.tz_offset_min = 480, .reference_ms = 1773106800000};
    lf_str_t line = lf_str_n((const char *)data, size);
    lf_decode_record(&ctx, line, &ev);
    lf_event_set_str(&ev, LF_F_EVENT_ORIGINAL, line);
    lf_event_set_str(&ev, LF_F_LIANFANG_DECODER, lf_str_c("fuzz"));
    lf_event_to_json(&ev, &out, &scratch);
    return 0;
}
