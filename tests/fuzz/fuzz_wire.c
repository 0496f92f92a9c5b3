/* Fuzz target: the Kafka wire messages (common/lf_wire). Every input is
 * parsed as an event batch, whose records are all iterated and touched, and
 * as a stored-watermark ack and as a heartbeat (whose counters are walked
 * and whose proof is checked against a key). A batch that parses must iterate exactly
 * `count` records that lie inside the message. */
#include "lf_wire.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(lf_str_t s, const uint8_t *begin, const uint8_t *end, unsigned *sum)
{
    if (s.len && ((const uint8_t *)s.ptr < begin || (const uint8_t *)s.ptr + s.len > end))
        abort();
    for (size_t i = 0; i < s.len; i++)
        *sum += (uint8_t)s.ptr[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sum = 0;
    const uint8_t *end = data + size;
    lf_wire_batch_t batch;
    if (lf_wire_batch_parse(data, size, &batch) == LF_OK) {
        touch(batch.h.agent_id, data, end, &sum);
        touch(batch.h.agency, data, end, &sum);
        touch(batch.h.host, data, end, &sum);
        touch(batch.h.source, data, end, &sum);
        touch(batch.h.path, data, end, &sum);
        lf_wire_iter_t it;
        lf_wire_record_t rec;
        uint32_t n = 0;
        lf_wire_batch_iter(&batch, &it);
        lf_err_t rc;
        while ((rc = lf_wire_batch_next(&batch, &it, &rec)) == LF_OK) {
            if (rec.seq != batch.h.first_seq + n)
                abort();
            touch(rec.data, data, end, &sum);
            n++;
        }
        if (rc != LF_ENOTFOUND || n != batch.count)
            abort(); /* a validated batch iterates cleanly */
    }
    lf_wire_ack_t ack;
    if (lf_wire_ack_parse(data, size, &ack) == LF_OK) {
        touch(ack.agent_id, data, end, &sum);
        if (ack.agent_id.len == 0)
            abort();
        (void)lf_wire_ack_partition(ack.agent_id, 12);
    }
    lf_wire_heartbeat_t hb;
    if (lf_wire_heartbeat_parse(data, size, &hb) == LF_OK) {
        lf_str_t strs[] = {hb.agent_id, hb.agency, hb.host, hb.os, hb.version, hb.last_error};
        for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
            touch(strs[i], data, end, &sum);
        if (hb.agent_id.len == 0)
            abort();
        lf_wire_hb_iter_t it = {0};
        lf_wire_counter_t c;
        unsigned n = 0;
        while (lf_wire_heartbeat_counter(&hb, &it, &c) == LF_OK) {
            touch(c.name, data, end, &sum);
            if (c.name.len == 0 || c.name.len > LF_WIRE_HB_MAX_NAME)
                abort();
            n++;
        }
        if (n != hb.counter_count)
            abort(); /* a validated heartbeat iterates cleanly */
        static const uint8_t key[LF_WIRE_KEY_BYTES] = {1, 2, 3};
        sum += lf_wire_heartbeat_verify(data, &hb, key);
    }
    /* keep the reads from being optimised away */
    volatile unsigned sink = sum;
    (void)sink;
    return 0;
}
