/* Windows events: the XML form (EventID, Channel, EventData) and the ECS
 * mapping shared with the JSON forms (Winlogbeat, NXLog).
 *
 * The mapping is two tables: what each event id means (action, category,
 * type, outcome) and where each EventData member goes in ECS, with a role
 * per event family where the same member means different things (in 4624
 * TargetUserName is who logged on; in 4720 it is the account created).
 * Every member is also kept under winlog.event_data.<Name>.
 */
#include "lf_decoder.h"

#include <stdio.h>
#include <string.h>

typedef struct win_id {
    int id;
    bool sysmon;
    const char *action, *category, *type, *outcome;
    int role; /* how the Target and Subject members map */
} win_id_t;

enum { ROLE_LOGON, ROLE_SUBJECT, ROLE_ACCOUNT, ROLE_GROUP, ROLE_PROCESS, ROLE_SYSMON };

static const win_id_t win_ids[] = {
    {4624, false, "logged-in", "authentication", "start", "success", ROLE_LOGON},
    {4625, false, "logon-failed", "authentication", "start", "failure", ROLE_LOGON},
    {4634, false, "logged-out", "authentication", "end", "success", ROLE_LOGON},
    {4647, false, "logged-out", "authentication", "end", "success", ROLE_LOGON},
    {4648, false, "logged-in-explicit", "authentication", "start", "success", ROLE_ACCOUNT},
    {4672, false, "logged-in-special", "iam", "admin", "success", ROLE_SUBJECT},
    {4688, false, "created-process", "process", "start", "success", ROLE_PROCESS},
    {4697, false, "service-installed", "iam,configuration", "admin,change", "success",
     ROLE_SUBJECT},
    {4720, false, "added-user-account", "iam", "user,creation", "success", ROLE_ACCOUNT},
    {4726, false, "deleted-user-account", "iam", "user,deletion", "success", ROLE_ACCOUNT},
    {4732, false, "added-member-to-group", "iam", "group,change", "success", ROLE_GROUP},
    {1102, false, "audit-log-cleared", "iam", "admin,change", "success", ROLE_SUBJECT},
    {1, true, "process-created", "process", "start", NULL, ROLE_SYSMON},
    {3, true, "network-connection-detected", "network", "connection,start", NULL, ROLE_SYSMON},
    {11, true, "file-created", "file", "creation", NULL, ROLE_SYSMON},
    {22, true, "dns-query", "network", "protocol,info", NULL, ROLE_SYSMON},
};

typedef struct win_field {
    const char *name;
    lf_field_id_t id;
    int role; /* -1: any */
} win_field_t;

static const win_field_t win_fields[] = {
    {"TargetUserName", LF_F_USER_NAME, ROLE_LOGON},
    {"TargetDomainName", LF_F_USER_DOMAIN, ROLE_LOGON},
    {"TargetUserSid", LF_F_USER_ID, ROLE_LOGON},
    {"SubjectUserName", LF_F_USER_NAME, ROLE_SUBJECT},
    {"SubjectDomainName", LF_F_USER_DOMAIN, ROLE_SUBJECT},
    {"SubjectUserSid", LF_F_USER_ID, ROLE_SUBJECT},
    {"SubjectUserName", LF_F_USER_NAME, ROLE_ACCOUNT},
    {"SubjectDomainName", LF_F_USER_DOMAIN, ROLE_ACCOUNT},
    {"TargetUserName", LF_F_USER_TARGET_NAME, ROLE_ACCOUNT},
    {"TargetDomainName", LF_F_USER_TARGET_DOMAIN, ROLE_ACCOUNT},
    {"TargetSid", LF_F_USER_TARGET_ID, ROLE_ACCOUNT},
    {"TargetServerName", LF_F_DESTINATION_DOMAIN, ROLE_ACCOUNT},
    {"SubjectUserName", LF_F_USER_NAME, ROLE_GROUP},
    {"SubjectDomainName", LF_F_USER_DOMAIN, ROLE_GROUP},
    {"TargetUserName", LF_F_GROUP_NAME, ROLE_GROUP},
    {"TargetSid", LF_F_GROUP_ID, ROLE_GROUP},
    {"MemberName", LF_F_USER_TARGET_NAME, ROLE_GROUP},
    {"MemberSid", LF_F_USER_TARGET_ID, ROLE_GROUP},
    {"SubjectUserName", LF_F_USER_NAME, ROLE_PROCESS},
    {"SubjectDomainName", LF_F_USER_DOMAIN, ROLE_PROCESS},
    {"NewProcessName", LF_F_PROCESS_EXECUTABLE, ROLE_PROCESS},
    {"CommandLine", LF_F_PROCESS_COMMAND_LINE, -1},
    {"ParentProcessName", LF_F_PROCESS_PARENT_EXECUTABLE, ROLE_PROCESS},
    {"IpAddress", LF_F_SOURCE_IP, -1},
    {"IpPort", LF_F_SOURCE_PORT, -1},
    {"WorkstationName", LF_F_SOURCE_DOMAIN, -1},
    {"ServiceName", LF_F_SERVICE_NAME, -1},
    {"Image", LF_F_PROCESS_EXECUTABLE, ROLE_SYSMON},
    {"ParentImage", LF_F_PROCESS_PARENT_EXECUTABLE, ROLE_SYSMON},
    {"ParentCommandLine", LF_F_PROCESS_PARENT_COMMAND_LINE, ROLE_SYSMON},
    {"ProcessId", LF_F_PROCESS_PID, ROLE_SYSMON},
    {"ParentProcessId", LF_F_PROCESS_PARENT_PID, ROLE_SYSMON},
    {"CurrentDirectory", LF_F_PROCESS_WORKING_DIRECTORY, ROLE_SYSMON},
    {"SourceIp", LF_F_SOURCE_IP, ROLE_SYSMON},
    {"SourcePort", LF_F_SOURCE_PORT, ROLE_SYSMON},
    {"SourceHostname", LF_F_SOURCE_DOMAIN, ROLE_SYSMON},
    {"DestinationIp", LF_F_DESTINATION_IP, ROLE_SYSMON},
    {"DestinationPort", LF_F_DESTINATION_PORT, ROLE_SYSMON},
    {"DestinationHostname", LF_F_DESTINATION_DOMAIN, ROLE_SYSMON},
    {"TargetFilename", LF_F_FILE_PATH, ROLE_SYSMON},
    {"QueryName", LF_F_DNS_QUESTION_NAME, ROLE_SYSMON},
    {"QueryResults", LF_F_DNS_RESOLVED_IP, ROLE_SYSMON},
};

static int parse_id(lf_str_t s)
{
    int64_t v;
    return lf_dec_int(s, &v) && v >= 0 && v < 100000 ? (int)v : -1;
}

/* "0x1a2b" or decimal */
static bool parse_pid(lf_str_t s, int64_t *out)
{
    if (s.len > 2 && s.ptr[0] == '0' && (s.ptr[1] == 'x' || s.ptr[1] == 'X')) {
        int64_t v = 0;
        if (s.len > 18)
            return false;
        for (size_t i = 2; i < s.len; i++) {
            char c = s.ptr[i];
            int x = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (x < 0)
                return false;
            v = v * 16 + x;
        }
        *out = v;
        return true;
    }
    return lf_dec_int(s, out);
}

static void set_user_domain_split(lf_dec_input_t *in, lf_event_t *ev, lf_str_t v)
{
    const char *bs = memchr(v.ptr, '\\', v.len);
    if (bs) {
        lf_dec_set(in, ev, LF_F_USER_DOMAIN, lf_str_n(v.ptr, (size_t)(bs - v.ptr)));
        lf_dec_set(in, ev, LF_F_USER_NAME, lf_str_n(bs + 1, v.len - (size_t)(bs - v.ptr) - 1));
    } else {
        lf_dec_set(in, ev, LF_F_USER_NAME, v);
    }
}

lf_dec_rc_t lf_win_apply(lf_dec_input_t *in, const lf_win_event_t *we, lf_event_t *ev)
{
    int id = parse_id(we->event_id);
    if (id < 0) {
        in->error = "Windows event id is not a number";
        return LF_DEC_FAIL;
    }
    bool sysmon =
        lf_dec_memmem(we->provider, "Sysmon", 6) || lf_dec_memmem(we->channel, "Sysmon", 6);
    const win_id_t *wid = NULL;
    for (size_t i = 0; i < sizeof win_ids / sizeof *win_ids; i++)
        if (win_ids[i].id == id && win_ids[i].sysmon == sysmon)
            wid = &win_ids[i];
    lf_event_set_str(ev, LF_F_EVENT_CODE, we->event_id);
    lf_event_set_str(ev, LF_F_WINLOG_EVENT_ID, we->event_id);
    lf_event_set_str(ev, LF_F_EVENT_MODULE, lf_str_c(sysmon ? "sysmon" : "windows"));
    lf_dec_set(in, ev, LF_F_WINLOG_CHANNEL, we->channel);
    lf_dec_set(in, ev, LF_F_WINLOG_PROVIDER_NAME, we->provider);
    lf_dec_set(in, ev, LF_F_EVENT_PROVIDER, we->provider);
    lf_dec_set(in, ev, LF_F_WINLOG_RECORD_ID, we->record_id);
    if (lf_dec_set(in, ev, LF_F_WINLOG_COMPUTER_NAME, we->computer))
        lf_dec_set(in, ev, LF_F_HOST_NAME, we->computer);
    lf_dec_set(in, ev, LF_F_TIMESTAMP, we->time);
    lf_dec_set(in, ev, LF_F_LOG_LEVEL, we->level);
    lf_event_unset(ev, LF_F_MESSAGE); /* the whole record is in event.original */
    if (we->message.len)
        lf_dec_set(in, ev, LF_F_MESSAGE, we->message);
    int role = wid ? wid->role : -2;
    if (wid) {
        lf_event_set_str(ev, LF_F_EVENT_ACTION, lf_str_c(wid->action));
        lf_event_set_str(ev, LF_F_EVENT_CATEGORY, lf_str_c(wid->category));
        lf_event_set_str(ev, LF_F_EVENT_TYPE, lf_str_c(wid->type));
        if (wid->outcome)
            lf_event_set_str(ev, LF_F_EVENT_OUTCOME, lf_str_c(wid->outcome));
    }
    for (size_t i = 0; i < we->ndata; i++) {
        lf_str_t name = we->data[i].name, v = we->data[i].value;
        if (!v.len || (v.len == 1 && v.ptr[0] == '-'))
            continue;
        for (size_t f = 0; f < sizeof win_fields / sizeof *win_fields; f++) {
            const win_field_t *wf = &win_fields[f];
            if ((wf->role != -1 && wf->role != role) || !lf_str_eq_c(name, wf->name))
                continue;
            if (wf->id == LF_F_PROCESS_PID || wf->id == LF_F_PROCESS_PARENT_PID) {
                int64_t pid;
                if (parse_pid(v, &pid))
                    lf_event_set_num(ev, wf->id, pid);
            } else if (!lf_event_has(ev, wf->id)) {
                lf_dec_set(in, ev, wf->id, v);
            }
        }
        if (role == ROLE_PROCESS && lf_str_eq_c(name, "NewProcessId")) {
            int64_t pid;
            if (parse_pid(v, &pid))
                lf_event_set_num(ev, LF_F_PROCESS_PID, pid);
        }
        if (role == ROLE_SYSMON && lf_str_eq_c(name, "User"))
            set_user_domain_split(in, ev, v);
        if (role == ROLE_SYSMON && lf_str_eq_c(name, "Protocol"))
            lf_dec_set(in, ev, LF_F_NETWORK_TRANSPORT, v);
        if (lf_str_eq_c(name, "Hashes")) {
            const char *h = lf_dec_memmem(v, "SHA256=", 7);
            if (h) {
                const char *e = h + 7;
                while (e < v.ptr + v.len && *e != ',')
                    e++;
                lf_dec_set(in, ev,
                           role == ROLE_SYSMON && id == 11 ? LF_F_FILE_HASH_SHA256
                                                           : LF_F_PROCESS_HASH_SHA256,
                           lf_str_n(h + 7, (size_t)(e - h - 7)));
            }
        }
        /* Keep every member under winlog.event_data. */
        char path[96];
        int n = snprintf(path, sizeof path, "winlog.event_data.%.*s", (int)name.len, name.ptr);
        lf_field_id_t fid =
            n > 0 && (size_t)n < sizeof path ? lf_field_lookup(path, (size_t)n) : LF_F_COUNT;
        if (fid != LF_F_COUNT)
            lf_event_set_str(ev, fid, v);
        else
            lf_event_add_extra(ev, LF_F_WINLOG_EVENT_DATA_EXTRA, LF_EXTRA_STR, name, v, 0);
    }
    if (lf_event_has(ev, LF_F_PROCESS_EXECUTABLE)) {
        lf_str_t exe = ev->str[LF_F_PROCESS_EXECUTABLE];
        size_t i = exe.len;
        while (i > 0 && exe.ptr[i - 1] != '\\' && exe.ptr[i - 1] != '/')
            i--;
        lf_event_set_str(ev, LF_F_PROCESS_NAME, lf_str_n(exe.ptr + i, exe.len - i));
    }
    if (id == 4625 && lf_event_has(ev, LF_F_WINLOG_EVENT_DATA_SUB_STATUS))
        lf_event_set_str(ev, LF_F_EVENT_REASON, ev->str[LF_F_WINLOG_EVENT_DATA_SUB_STATUS]);
    return LF_DEC_OK;
}

/* ---- XML -------------------------------------------------------------------- */

bool lf_winxml_probe(const lf_decoder_t *dec, const lf_dec_input_t *in)
{
    const char *p = in->body.ptr, *end = p + in->body.len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return end - p >= 6 && memcmp(p, "<Event", 6) == 0;
}

/* Decodes XML entities into the arena when there are any. */
static lf_str_t xml_text(lf_dec_input_t *in, lf_str_t v)
{
    if (!v.len || !memchr(v.ptr, '&', v.len))
        return v;
    char *o = lf_arena_alloc(in->arena, v.len);
    if (!o)
        return v;
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] != '&') {
            o[n++] = v.ptr[i];
            continue;
        }
        const char *semi = memchr(v.ptr + i, ';', v.len - i < 12 ? v.len - i : 12);
        if (!semi) {
            o[n++] = '&';
            continue;
        }
        lf_str_t ent = lf_str_n(v.ptr + i + 1, (size_t)(semi - v.ptr - i - 1));
        char c = 0;
        if (lf_str_eq_c(ent, "lt"))
            c = '<';
        else if (lf_str_eq_c(ent, "gt"))
            c = '>';
        else if (lf_str_eq_c(ent, "amp"))
            c = '&';
        else if (lf_str_eq_c(ent, "quot"))
            c = '"';
        else if (lf_str_eq_c(ent, "apos"))
            c = '\'';
        else if (ent.len >= 2 && ent.ptr[0] == '#') {
            unsigned cp = 0;
            bool hex = ent.ptr[1] == 'x' || ent.ptr[1] == 'X';
            bool ok = ent.len > (hex ? 2u : 1u);
            for (size_t k = hex ? 2 : 1; k < ent.len && ok; k++) {
                char d = ent.ptr[k];
                int x = d >= '0' && d <= '9'          ? d - '0'
                        : hex && d >= 'a' && d <= 'f' ? d - 'a' + 10
                        : hex && d >= 'A' && d <= 'F' ? d - 'A' + 10
                                                      : -1;
                if (x < 0 || cp > 0x10FFFF)
                    ok = false;
                else
                    cp = cp * (hex ? 16u : 10u) + (unsigned)x;
            }
            if (ok && cp > 0 && cp < 0x80) {
                c = (char)cp;
            } else if (ok && cp >= 0x80 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
                       (size_t)(semi - v.ptr - i + 1) >= 4) {
                /* &#NNN; is at least 4 bytes; its UTF-8 at most 4. */
                if (cp < 0x800) {
                    o[n++] = (char)(0xC0 | (cp >> 6));
                    o[n++] = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    o[n++] = (char)(0xE0 | (cp >> 12));
                    o[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    o[n++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    o[n++] = (char)(0xF0 | (cp >> 18));
                    o[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                    o[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    o[n++] = (char)(0x80 | (cp & 0x3F));
                }
                i = (size_t)(semi - v.ptr);
                continue;
            }
        }
        if (!c) {
            o[n++] = '&';
            continue;
        }
        o[n++] = c;
        i = (size_t)(semi - v.ptr);
    }
    return lf_str_n(o, n);
}

/* Text of the first <tag ...>text</tag> in s. */
static bool xml_element(lf_str_t s, const char *tag, lf_str_t *text)
{
    char open[48];
    int ol = snprintf(open, sizeof open, "<%s", tag);
    const char *p = s.ptr, *end = s.ptr + s.len;
    while ((p = lf_dec_memmem(lf_str_n(p, (size_t)(end - p)), open, (size_t)ol)) != NULL) {
        const char *q = p + ol;
        if (q < end && (*q == '>' || *q == ' ' || *q == '/')) {
            const char *gt = memchr(q, '>', (size_t)(end - q));
            if (!gt)
                return false;
            if (gt[-1] == '/') {
                *text = LF_STR_NULL;
                return true;
            }
            const char *lt = memchr(gt + 1, '<', (size_t)(end - gt - 1));
            if (!lt)
                return false;
            *text = lf_str_n(gt + 1, (size_t)(lt - gt - 1));
            return true;
        }
        p = q;
    }
    return false;
}

/* Value of attr='v' or attr="v" within the tag starting at s. */
static bool xml_attr(lf_str_t s, const char *tag, const char *attr, lf_str_t *val)
{
    char open[48];
    int ol = snprintf(open, sizeof open, "<%s ", tag);
    const char *p = lf_dec_memmem(s, open, (size_t)ol);
    if (!p)
        return false;
    const char *end = s.ptr + s.len;
    const char *gt = memchr(p, '>', (size_t)(end - p));
    if (!gt)
        return false;
    size_t al = strlen(attr);
    for (const char *q = p + ol; q + al + 2 < gt; q++) {
        if (memcmp(q, attr, al) == 0 && q[al] == '=' && (q[al + 1] == '\'' || q[al + 1] == '"') &&
            (q[-1] == ' ')) {
            char quote = q[al + 1];
            const char *vs = q + al + 2;
            const char *ve = memchr(vs, quote, (size_t)(gt - vs));
            if (!ve)
                return false;
            *val = lf_str_n(vs, (size_t)(ve - vs));
            return true;
        }
    }
    return false;
}

lf_dec_rc_t lf_winxml_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev)
{
    lf_str_t s = in->body;
    if (!lf_dec_memmem(s, "</Event>", 8)) {
        in->error = "truncated Windows XML event (no </Event>)";
        return LF_DEC_FAIL;
    }
    lf_win_event_t *we = (lf_win_event_t *)lf_arena_alloc(in->arena, sizeof *we);
    if (!we) {
        in->error = "decode arena full";
        return LF_DEC_FAIL;
    }
    memset(we, 0, sizeof *we);
    if (!xml_element(s, "EventID", &we->event_id) || !we->event_id.len) {
        in->error = "Windows XML event without EventID";
        return LF_DEC_FAIL;
    }
    lf_str_t t;
    if (xml_element(s, "Channel", &t))
        we->channel = xml_text(in, t);
    if (xml_element(s, "Computer", &t))
        we->computer = xml_text(in, t);
    if (xml_element(s, "EventRecordID", &t))
        we->record_id = t;
    if (xml_element(s, "Level", &t))
        we->level = t;
    xml_attr(s, "Provider", "Name", &we->provider);
    xml_attr(s, "TimeCreated", "SystemTime", &we->time);
    /* <Data Name='X'>v</Data> or <Data Name='X'/> */
    const char *p = s.ptr, *end = s.ptr + s.len;
    while ((p = lf_dec_memmem(lf_str_n(p, (size_t)(end - p)), "<Data Name=", 11)) != NULL &&
           we->ndata < 96) {
        const char *q = p + 11;
        if (q >= end || (*q != '\'' && *q != '"'))
            break;
        char quote = *q++;
        const char *ne = memchr(q, quote, (size_t)(end - q));
        if (!ne)
            break;
        const char *gt = memchr(ne, '>', (size_t)(end - ne));
        if (!gt)
            break;
        lf_str_t name = lf_str_n(q, (size_t)(ne - q)), value = LF_STR_NULL;
        if (gt[-1] != '/') {
            const char *lt = memchr(gt + 1, '<', (size_t)(end - gt - 1));
            if (!lt)
                break;
            value = xml_text(in, lf_str_n(gt + 1, (size_t)(lt - gt - 1)));
            p = lt;
        } else {
            p = gt + 1;
        }
        we->data[we->ndata++] = (lf_win_pair_t){name, value};
    }
    /* UserData (1102 and others): leaf elements become members. */
    const char *ud = lf_dec_memmem(s, "<UserData>", 10);
    if (ud) {
        const char *ue = lf_dec_memmem(lf_str_n(ud, (size_t)(end - ud)), "</UserData>", 11);
        const char *q = ud + 10;
        while (ue && q < ue && we->ndata < 96) {
            const char *lt = memchr(q, '<', (size_t)(ue - q));
            if (!lt || lt + 1 >= ue)
                break;
            const char *gt = memchr(lt, '>', (size_t)(ue - lt));
            if (!gt)
                break;
            const char *nt = memchr(gt, '<', (size_t)(ue - gt));
            if (lt[1] != '/' && gt[-1] != '/' && nt && nt + 1 < ue && nt[1] == '/') {
                const char *ns = lt + 1, *ne = ns;
                while (ne < gt && *ne != ' ')
                    ne++;
                we->data[we->ndata++] =
                    (lf_win_pair_t){lf_str_n(ns, (size_t)(ne - ns)),
                                    xml_text(in, lf_str_n(gt + 1, (size_t)(nt - gt - 1)))};
            }
            q = gt + 1;
        }
    }
    lf_dec_rc_t rc = lf_win_apply(in, we, ev);
    if (rc == LF_DEC_OK)
        in->rule = "windows-xml";
    return rc;
}
