#include "lf_wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define BATCH_FIXED                                                                                \
    LF_WIRE_BATCH_FIXED  /* magic, version, flags, reserved, first_seq, count,                     \
                          read_time, epoch_seq */
#define RECORD_FIXED 13u /* offset, flags, len */

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static lf_err_t put_str(lf_buf_t *buf, lf_str_t s)
{
    if (s.len > LF_WIRE_MAX_STRING)
        return LF_EINVAL;
    lf_err_t rc = lf_buf_append_u16le(buf, (uint16_t)s.len);
    if (rc == LF_OK && s.len)
        rc = lf_buf_append(buf, s.ptr, s.len);
    return rc;
}

static lf_err_t get_str(const uint8_t **p, const uint8_t *end, lf_str_t *s)
{
    if (end - *p < 2)
        return LF_EPARSE;
    uint16_t n = rd16(*p);
    *p += 2;
    if (n > LF_WIRE_MAX_STRING || (size_t)(end - *p) < n)
        return LF_EPARSE;
    s->ptr = (const char *)*p;
    s->len = n;
    *p += n;
    return LF_OK;
}

lf_err_t lf_wire_batch_begin(lf_buf_t *buf, const lf_wire_batch_header_t *h)
{
    lf_buf_reset(buf);
    lf_err_t rc = lf_buf_append(buf, LF_WIRE_BATCH_MAGIC, 4);
    const uint8_t vers[4] = {LF_WIRE_VERSION, h->flags, 0, 0};
    if (rc == LF_OK)
        rc = lf_buf_append(buf, vers, 4);
    if (rc == LF_OK)
        rc = lf_buf_append_u64le(buf, h->first_seq);
    if (rc == LF_OK)
        rc = lf_buf_append_u32le(buf, 0);
    if (rc == LF_OK)
        rc = lf_buf_append_u64le(buf, (uint64_t)h->read_time_ms);
    if (rc == LF_OK)
        rc = lf_buf_append_u64le(buf, h->epoch_seq);
    const lf_str_t strs[5] = {h->agent_id, h->agency, h->host, h->source, h->path};
    for (int i = 0; i < 5 && rc == LF_OK; i++)
        rc = put_str(buf, strs[i]);
    return rc;
}

lf_err_t lf_wire_batch_add(lf_buf_t *buf, uint64_t offset, uint8_t flags, const char *data,
                           uint32_t len)
{
    lf_err_t rc = lf_buf_reserve(buf, RECORD_FIXED + (size_t)len);
    if (rc != LF_OK)
        return rc;
    lf_buf_append_u64le(buf, offset);
    lf_buf_append(buf, &flags, 1);
    lf_buf_append_u32le(buf, len);
    return lf_buf_append(buf, data, len);
}

lf_err_t lf_wire_batch_add_from(lf_buf_t *buf, uint64_t offset, uint8_t flags, const char *data,
                                uint32_t len, lf_str_t sender)
{
    if (sender.len > LF_WIRE_MAX_SENDER)
        return LF_EINVAL;
    lf_err_t rc = lf_buf_reserve(buf, RECORD_FIXED + (size_t)len + 2 + sender.len);
    if (rc != LF_OK)
        return rc;
    lf_buf_append_u64le(buf, offset);
    lf_buf_append(buf, &flags, 1);
    lf_buf_append_u32le(buf, len);
    lf_buf_append(buf, data, len);
    return put_str(buf, sender);
}

void lf_wire_batch_finish(lf_buf_t *buf, uint32_t count)
{
    if (buf->len < BATCH_FIXED)
        return;
    uint8_t *p = (uint8_t *)buf->data + 16;
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(count >> (8 * i));
}

lf_err_t lf_wire_batch_parse(const void *data, size_t len, lf_wire_batch_t *batch)
{
    const uint8_t *p = data, *end = p + len;
    if (!data || len < BATCH_FIXED || memcmp(p, LF_WIRE_BATCH_MAGIC, 4) != 0)
        return LF_EPARSE;
    if (p[4] != LF_WIRE_VERSION || (p[5] & ~LF_WIRE_F_KNOWN) != 0)
        return LF_EPARSE;
    memset(batch, 0, sizeof *batch);
    batch->h.flags = p[5];
    batch->h.first_seq = rd64(p + 8);
    batch->count = rd32(p + 16);
    batch->h.read_time_ms = (int64_t)rd64(p + 20);
    batch->h.epoch_seq = rd64(p + 28);
    if (batch->count > LF_WIRE_MAX_RECORDS)
        return LF_EPARSE;
    if (batch->count && batch->h.first_seq > UINT64_MAX - batch->count)
        return LF_EPARSE;
    p += BATCH_FIXED;
    lf_str_t *strs[5] = {&batch->h.agent_id, &batch->h.agency, &batch->h.host, &batch->h.source,
                         &batch->h.path};
    for (int i = 0; i < 5; i++)
        if (get_str(&p, end, strs[i]) != LF_OK)
            return LF_EPARSE;
    if (batch->h.agent_id.len == 0)
        return LF_EPARSE;
    batch->records = p;
    batch->end = end;
    for (uint32_t i = 0; i < batch->count; i++) {
        if ((size_t)(end - p) < RECORD_FIXED)
            return LF_EPARSE;
        uint32_t n = rd32(p + 9);
        p += RECORD_FIXED;
        if ((size_t)(end - p) < n)
            return LF_EPARSE;
        p += n;
        lf_str_t sender;
        if ((batch->h.flags & LF_WIRE_F_SENDERS) &&
            (get_str(&p, end, &sender) != LF_OK || sender.len > LF_WIRE_MAX_SENDER))
            return LF_EPARSE;
    }
    if (p != end)
        return LF_EPARSE;
    return LF_OK;
}

void lf_wire_batch_iter(const lf_wire_batch_t *batch, lf_wire_iter_t *it)
{
    it->p = batch->records;
    it->index = 0;
}

lf_err_t lf_wire_batch_next(const lf_wire_batch_t *batch, lf_wire_iter_t *it, lf_wire_record_t *rec)
{
    if (it->index >= batch->count || (size_t)(batch->end - it->p) < RECORD_FIXED)
        return LF_ENOTFOUND;
    rec->seq = batch->h.first_seq + it->index;
    rec->offset = rd64(it->p);
    rec->flags = it->p[8];
    uint32_t n = rd32(it->p + 9);
    it->p += RECORD_FIXED;
    if ((size_t)(batch->end - it->p) < n)
        return LF_EPARSE;
    rec->data = lf_str_n((const char *)it->p, n);
    it->p += n;
    rec->sender = LF_STR_NULL;
    if ((batch->h.flags & LF_WIRE_F_SENDERS) && get_str(&it->p, batch->end, &rec->sender) != LF_OK)
        return LF_EPARSE;
    it->index++;
    return LF_OK;
}

lf_err_t lf_wire_ack_encode(lf_buf_t *buf, const lf_wire_ack_t *ack)
{
    lf_buf_reset(buf);
    lf_err_t rc = lf_buf_append(buf, LF_WIRE_ACK_MAGIC, 4);
    if (rc == LF_OK)
        rc = lf_buf_append_u64le(buf, ack->watermark);
    if (rc == LF_OK)
        rc = lf_buf_append_u64le(buf, (uint64_t)ack->stored_time_ms);
    if (rc == LF_OK)
        rc = put_str(buf, ack->agent_id);
    return rc;
}

lf_err_t lf_wire_ack_parse(const void *data, size_t len, lf_wire_ack_t *ack)
{
    const uint8_t *p = data, *end = p + len;
    if (!data || len < 22 || memcmp(p, LF_WIRE_ACK_MAGIC, 4) != 0)
        return LF_EPARSE;
    ack->watermark = rd64(p + 4);
    ack->stored_time_ms = (int64_t)rd64(p + 12);
    p += 20;
    if (get_str(&p, end, &ack->agent_id) != LF_OK || p != end || ack->agent_id.len == 0)
        return LF_EPARSE;
    return LF_OK;
}

int32_t lf_wire_ack_partition(lf_str_t agent_id, int32_t partition_cnt)
{
    if (partition_cnt <= 0)
        return 0;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < agent_id.len; i++) {
        h ^= (uint8_t)agent_id.ptr[i];
        h *= 16777619u;
    }
    return (int32_t)(h % (uint32_t)partition_cnt);
}

/* ---- heartbeats ----------------------------------------------------------- */

static bool counter_name_ok(lf_str_t s)
{
    if (s.len == 0 || s.len > LF_WIRE_HB_MAX_NAME)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

void lf_wire_enrol_key(lf_str_t token, uint8_t key[LF_WIRE_KEY_BYTES])
{
    unsigned int n = 0;
    EVP_Digest(token.ptr ? token.ptr : "", token.len, key, &n, EVP_sha256(), NULL);
}

lf_err_t lf_wire_heartbeat_encode(lf_buf_t *buf, const lf_wire_heartbeat_t *hb,
                                  const lf_wire_counter_t *counters, size_t count,
                                  const uint8_t *key)
{
    if (!hb->agent_id.len || count > LF_WIRE_HB_MAX_COUNTERS)
        return LF_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (!counter_name_ok(counters[i].name))
            return LF_EINVAL;
    lf_buf_reset(buf);
    lf_err_t rc = lf_buf_append(buf, LF_WIRE_HEARTBEAT_MAGIC, 4);
    const uint8_t vers[4] = {LF_WIRE_VERSION, key ? LF_WIRE_HB_F_PROOF : 0, 0, 0};
    if (rc == LF_OK)
        rc = lf_buf_append(buf, vers, 4);
    const int64_t times[4] = {hb->sent_ms, hb->started_ms, hb->interval_ms, hb->last_error_ms};
    for (int i = 0; i < 4 && rc == LF_OK; i++)
        rc = lf_buf_append_u64le(buf, (uint64_t)times[i]);
    const lf_str_t strs[6] = {hb->agent_id, hb->agency,  hb->host,
                              hb->os,       hb->version, hb->last_error};
    for (int i = 0; i < 6 && rc == LF_OK; i++)
        rc = put_str(buf, strs[i]);
    if (rc == LF_OK)
        rc = lf_buf_append_u16le(buf, (uint16_t)count);
    for (size_t i = 0; i < count && rc == LF_OK; i++) {
        rc = put_str(buf, counters[i].name);
        if (rc == LF_OK)
            rc = lf_buf_append_u64le(buf, counters[i].value);
    }
    if (rc == LF_OK && key) {
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (!HMAC(EVP_sha256(), key, LF_WIRE_KEY_BYTES, (const uint8_t *)buf->data, buf->len, mac,
                  &n) ||
            n != LF_WIRE_PROOF_BYTES)
            return LF_EINVAL;
        rc = lf_buf_append(buf, mac, LF_WIRE_PROOF_BYTES);
    }
    return rc;
}

lf_err_t lf_wire_heartbeat_parse(const void *data, size_t len, lf_wire_heartbeat_t *hb)
{
    const uint8_t *p = data, *end = p + len;
    if (!data || len < LF_WIRE_HB_FIXED || memcmp(p, LF_WIRE_HEARTBEAT_MAGIC, 4) != 0)
        return LF_EPARSE;
    if (p[4] != LF_WIRE_VERSION || (p[5] & ~LF_WIRE_HB_F_KNOWN) != 0)
        return LF_EPARSE;
    memset(hb, 0, sizeof *hb);
    hb->flags = p[5];
    hb->sent_ms = (int64_t)rd64(p + 8);
    hb->started_ms = (int64_t)rd64(p + 16);
    hb->interval_ms = (int64_t)rd64(p + 24);
    hb->last_error_ms = (int64_t)rd64(p + 32);
    if (hb->flags & LF_WIRE_HB_F_PROOF) {
        if (len < LF_WIRE_HB_FIXED + LF_WIRE_PROOF_BYTES)
            return LF_EPARSE;
        end -= LF_WIRE_PROOF_BYTES;
        hb->proof = end;
    }
    hb->signed_len = (size_t)(end - p);
    p += LF_WIRE_HB_FIXED;
    lf_str_t *strs[6] = {&hb->agent_id, &hb->agency,  &hb->host,
                         &hb->os,       &hb->version, &hb->last_error};
    for (int i = 0; i < 6; i++)
        if (get_str(&p, end, strs[i]) != LF_OK)
            return LF_EPARSE;
    if (hb->agent_id.len == 0 || end - p < 2)
        return LF_EPARSE;
    hb->counter_count = rd16(p);
    p += 2;
    if (hb->counter_count > LF_WIRE_HB_MAX_COUNTERS)
        return LF_EPARSE;
    hb->counters = p;
    for (uint16_t i = 0; i < hb->counter_count; i++) {
        lf_str_t name;
        if (get_str(&p, end, &name) != LF_OK || !counter_name_ok(name) || end - p < 8)
            return LF_EPARSE;
        p += 8;
    }
    return p == end ? LF_OK : LF_EPARSE;
}

lf_err_t lf_wire_heartbeat_counter(const lf_wire_heartbeat_t *hb, lf_wire_hb_iter_t *it,
                                   lf_wire_counter_t *out)
{
    if (it->index >= hb->counter_count)
        return LF_ENOTFOUND;
    const uint8_t *p = it->p ? it->p : hb->counters;
    /* The parser validated every pair. */
    uint16_t n = rd16(p);
    out->name = lf_str_n((const char *)p + 2, n);
    out->value = rd64(p + 2 + n);
    it->p = p + 2 + n + 8;
    it->index++;
    return LF_OK;
}

bool lf_wire_heartbeat_verify(const void *data, const lf_wire_heartbeat_t *hb,
                              const uint8_t key[LF_WIRE_KEY_BYTES])
{
    if (!hb->proof || !key)
        return false;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, LF_WIRE_KEY_BYTES, data, hb->signed_len, mac, &n) ||
        n != LF_WIRE_PROOF_BYTES)
        return false;
    return CRYPTO_memcmp(mac, hb->proof, LF_WIRE_PROOF_BYTES) == 0;
}
