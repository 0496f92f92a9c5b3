/* Linux auditd records: "type=T msg=audit(SEC.MS:SERIAL): key=value ...".
 *
 * One record is one event (each carries its own sequence number, so each
 * is stored), with event.id = the audit serial so the records of one audit
 * event can be found together. The decoder also joins: it remembers the
 * SYSCALL record of the current serial (copied into the state, bounded) and
 * adds its process and user fields to the EXECVE, PROCTITLE, CWD and PATH
 * records of the same serial, which is what makes an EXECVE event a
 * complete "process started" event for the rules. Values auditd
 * hex-encodes (comm, exe, cwd, name, proctitle, acct, EXECVE arguments
 * when they contain spaces or quotes) are decoded.
 */
#include "lf_decoder.h"

#include <string.h>

bool lf_auditd_probe(const lf_decoder_t *dec, const lf_dec_input_t *in)
{
    lf_str_t b = in->body;
    return b.len > 20 && (memcmp(b.ptr, "type=", 5) == 0 || memcmp(b.ptr, "node=", 5) == 0) &&
           lf_dec_memmem(lf_str_n(b.ptr, b.len < 160 ? b.len : 160), "msg=audit(", 10);
}

static int hx(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Unquoted hex strings of the untrusted fields are decoded; NULs (between
 * proctitle arguments) become spaces. */
static lf_str_t audit_value(lf_dec_input_t *in, lf_str_t v, bool quoted, bool maybe_hex)
{
    if (quoted || !maybe_hex || v.len < 2 || v.len % 2)
        return v;
    for (size_t i = 0; i < v.len; i++)
        if (hx(v.ptr[i]) < 0 || (v.ptr[i] >= 'a' && v.ptr[i] <= 'f'))
            return v;
    char *o = lf_arena_alloc(in->arena, v.len / 2);
    if (!o)
        return v;
    size_t n = v.len / 2;
    for (size_t i = 0; i < n; i++) {
        char c = (char)(hx(v.ptr[2 * i]) * 16 + hx(v.ptr[2 * i + 1]));
        o[i] = c == '\0' ? ' ' : c;
    }
    while (n && o[n - 1] == ' ')
        n--;
    return lf_str_n(o, n);
}

static bool is_hex_field(lf_str_t k, bool execve)
{
    static const char *const names[] = {"comm", "exe", "cwd",  "name",     "proctitle",
                                        "acct", "cmd", "data", "old-name", "new-name"};
    if (execve && k.len >= 2 && k.ptr[0] == 'a' && k.ptr[1] >= '0' && k.ptr[1] <= '9')
        return true;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (lf_str_eq_c(k, names[i]))
            return true;
    return false;
}

typedef struct amap {
    const char *key;
    lf_field_id_t id;
} amap_t;

static const amap_t audit_fields[] = {
    {"pid", LF_F_PROCESS_PID},
    {"ppid", LF_F_PROCESS_PARENT_PID},
    {"uid", LF_F_USER_ID},
    {"auid", LF_F_USER_AUDIT_ID},
    {"euid", LF_F_USER_EFFECTIVE_ID},
    {"exe", LF_F_PROCESS_EXECUTABLE},
    {"comm", LF_F_PROCESS_NAME},
    {"cwd", LF_F_PROCESS_WORKING_DIRECTORY},
    {"name", LF_F_FILE_PATH},
    {"proctitle", LF_F_PROCESS_TITLE},
    {"acct", LF_F_USER_NAME},
    {"addr", LF_F_SOURCE_IP},
    {"hostname", LF_F_SOURCE_DOMAIN},
    {"terminal", LF_F_USER_TERMINAL},
    {"key", LF_F_RULE_NAME},
    {"argc", LF_F_PROCESS_ARGS_COUNT},
    {"cmd", LF_F_PROCESS_COMMAND_LINE},
    {"UID", LF_F_USER_NAME},
    {NULL, LF_F_COUNT},
};

static const struct {
    const char *type, *category, *etype;
} audit_types[] = {
    {"USER_LOGIN", "authentication", "start"},
    {"USER_AUTH", "authentication", "info"},
    {"USER_ACCT", "authentication", "info"},
    {"USER_START", "session", "start"},
    {"USER_END", "session", "end"},
    {"CRED_ACQ", "authentication", "info"},
    {"CRED_DISP", "authentication", "info"},
    {"USER_CMD", "process", "start"},
    {"ADD_USER", "iam", "user,creation"},
    {"DEL_USER", "iam", "user,deletion"},
    {"ADD_GROUP", "iam", "group,creation"},
    {"DEL_GROUP", "iam", "group,deletion"},
    {"USER_CHAUTHTOK", "iam", "user,change"},
    {"EXECVE", "process", "start"},
    {"SYSCALL", "process", "info"},
    {"AVC", "process", "denied"},
};

static lf_str_t join_keep(lf_audit_join_t *j, lf_str_t v)
{
    if (j->used + v.len > sizeof j->buf)
        return LF_STR_NULL;
    memcpy(j->buf + j->used, v.ptr, v.len);
    lf_str_t r = lf_str_n(j->buf + j->used, v.len);
    j->used += v.len;
    return r;
}

static void set_if_absent(lf_dec_input_t *in, lf_event_t *ev, lf_field_id_t id, lf_str_t v)
{
    if (v.len && !lf_event_has(ev, id))
        lf_dec_set(in, ev, id, v);
}

lf_dec_rc_t lf_auditd_decode(const lf_decoder_t *dec, lf_dec_input_t *in, lf_event_t *ev)
{
    const char *p = in->body.ptr, *end = p + in->body.len;
    lf_str_t type = LF_STR_NULL;
    const char *m = lf_dec_memmem(in->body, "msg=audit(", 10);
    if (!m) {
        in->error = "auditd record without msg=audit(";
        return LF_DEC_FAIL;
    }
    const char *tp = lf_dec_memmem(lf_str_n(p, (size_t)(m - p)), "type=", 5);
    if (!tp) {
        in->error = "auditd record without type=";
        return LF_DEC_FAIL;
    }
    tp += 5;
    const char *te = tp;
    while (te < m && *te != ' ')
        te++;
    type = lf_str_n(tp, (size_t)(te - tp));
    if (p + 5 <= m && memcmp(p, "node=", 5) == 0) {
        const char *ne = p + 5;
        while (ne < m && *ne != ' ')
            ne++;
        lf_dec_set(in, ev, LF_F_HOST_NAME, lf_str_n(p + 5, (size_t)(ne - p - 5)));
    }
    const char *ts = m + 10;
    const char *colon = memchr(ts, ':', (size_t)(end - ts));
    const char *close = colon ? memchr(colon, ')', (size_t)(end - colon)) : NULL;
    if (!colon || !close) {
        in->error = "auditd msg=audit(time:serial) is malformed";
        return LF_DEC_FAIL;
    }
    lf_str_t when = lf_str_n(ts, (size_t)(colon - ts));
    lf_str_t serial = lf_str_n(ts, (size_t)(close - ts));
    if (!lf_dec_set(in, ev, LF_F_TIMESTAMP, when)) {
        in->error = "auditd timestamp is not epoch seconds";
        return LF_DEC_FAIL;
    }
    lf_event_set_str(ev, LF_F_EVENT_ID, serial);
    lf_event_set_str(ev, LF_F_EVENT_CODE, type);
    lf_event_set_str(ev, LF_F_EVENT_MODULE, lf_str_c("auditd"));
    char *action = lf_arena_alloc(in->arena, type.len ? type.len : 1);
    if (action) {
        for (size_t i = 0; i < type.len; i++)
            action[i] =
                type.ptr[i] >= 'A' && type.ptr[i] <= 'Z' ? (char)(type.ptr[i] + 32) : type.ptr[i];
        lf_event_set_str(ev, LF_F_EVENT_ACTION, lf_str_n(action, type.len));
    }
    for (size_t i = 0; i < sizeof audit_types / sizeof *audit_types; i++)
        if (lf_str_eq_c(type, audit_types[i].type)) {
            lf_event_set_str(ev, LF_F_EVENT_CATEGORY, lf_str_c(audit_types[i].category));
            lf_event_set_str(ev, LF_F_EVENT_TYPE, lf_str_c(audit_types[i].etype));
        }
    bool execve = lf_str_eq_c(type, "EXECVE"), syscall = lf_str_eq_c(type, "SYSCALL");
    lf_audit_join_t *j = &in->state->audit;
    if (syscall) {
        j->used = 0;
        j->serial_len = serial.len < sizeof j->serial ? serial.len : 0;
        memcpy(j->serial, serial.ptr, j->serial_len);
        j->exe = j->comm = j->pid = j->ppid = j->uid = j->auid = j->euid = j->success = j->key =
            LF_STR_NULL;
    }
    /* Command line of EXECVE: a0 a1 ... joined by spaces in the arena. */
    char *cmd = NULL;
    size_t cmdlen = 0, cmdcap = 0;
    if (execve) {
        cmdcap = in->body.len;
        cmd = lf_arena_alloc(in->arena, cmdcap);
    }
    p = close + 1;
    if (p < end && *p == ':')
        p++;
    int inner = 0; /* inside msg='...' */
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\x1d'))
            p++;
        if (inner && p < end && *p == '\'') {
            p++;
            inner = 0;
            continue;
        }
        const char *k = p;
        while (p < end && *p != '=' && *p != ' ')
            p++;
        if (p >= end || *p != '=') {
            continue;
        }
        lf_str_t key = lf_str_n(k, (size_t)(p - k));
        p++;
        if (lf_str_eq_c(key, "msg") && p < end && *p == '\'') {
            inner = 1;
            p++;
            continue;
        }
        bool quoted = p < end && *p == '"';
        lf_str_t val;
        if (quoted) {
            const char *vs = ++p;
            while (p < end && *p != '"')
                p++;
            val = lf_str_n(vs, (size_t)(p - vs));
            if (p < end)
                p++;
        } else {
            const char *vs = p;
            while (p < end && *p != ' ' && *p != '\x1d' && !(inner && *p == '\''))
                p++;
            val = lf_str_n(vs, (size_t)(p - vs));
        }
        val = audit_value(in, val, quoted, is_hex_field(key, execve));
        if (lf_str_eq_c(val, "?") || lf_str_eq_c(val, "(null)") || lf_str_eq_c(val, "4294967295"))
            continue;
        if (execve && key.len >= 2 && key.ptr[0] == 'a' && key.ptr[1] >= '0' && key.ptr[1] <= '9' &&
            cmd) {
            if (cmdlen + val.len + 1 <= cmdcap) {
                if (cmdlen)
                    cmd[cmdlen++] = ' ';
                memcpy(cmd + cmdlen, val.ptr, val.len);
                cmdlen += val.len;
            }
            continue;
        }
        if (lf_str_eq_c(key, "res") || lf_str_eq_c(key, "success")) {
            bool ok = lf_str_eq_c(val, "success") || lf_str_eq_c(val, "yes");
            lf_event_set_str(ev, LF_F_EVENT_OUTCOME, lf_str_c(ok ? "success" : "failure"));
            if (syscall)
                j->success = lf_str_c(ok ? "success" : "failure");
            continue;
        }
        if (lf_str_eq_c(key, "op")) {
            lf_event_set_str(ev, LF_F_EVENT_REASON, val);
            continue;
        }
        lf_field_id_t id = LF_F_COUNT;
        for (const amap_t *a = audit_fields; a->key; a++)
            if (lf_str_eq_c(key, a->key)) {
                id = a->id;
                break;
            }
        if (id != LF_F_COUNT) {
            if (id == LF_F_RULE_NAME && !quoted)
                continue;
            lf_dec_set(in, ev, id, val);
        } else if (key.len && key.len < 32) {
            lf_event_add_extra(ev, LF_F_LABELS_EXTRA, LF_EXTRA_STR, key, val, 0);
        }
        if (syscall) {
            lf_str_t kept = join_keep(j, val);
            if (lf_str_eq_c(key, "exe"))
                j->exe = kept;
            else if (lf_str_eq_c(key, "comm"))
                j->comm = kept;
            else if (lf_str_eq_c(key, "pid"))
                j->pid = kept;
            else if (lf_str_eq_c(key, "ppid"))
                j->ppid = kept;
            else if (lf_str_eq_c(key, "uid"))
                j->uid = kept;
            else if (lf_str_eq_c(key, "auid"))
                j->auid = kept;
            else if (lf_str_eq_c(key, "euid"))
                j->euid = kept;
            else if (lf_str_eq_c(key, "key") && quoted)
                j->key = kept;
        }
    }
    if (cmd && cmdlen)
        lf_event_set_str(ev, LF_F_PROCESS_COMMAND_LINE, lf_str_n(cmd, cmdlen));
    if (!syscall && j->serial_len && lf_str_eq(serial, lf_str_n(j->serial, j->serial_len))) {
        set_if_absent(in, ev, LF_F_PROCESS_EXECUTABLE, j->exe);
        set_if_absent(in, ev, LF_F_PROCESS_NAME, j->comm);
        set_if_absent(in, ev, LF_F_PROCESS_PID, j->pid);
        set_if_absent(in, ev, LF_F_PROCESS_PARENT_PID, j->ppid);
        set_if_absent(in, ev, LF_F_USER_ID, j->uid);
        set_if_absent(in, ev, LF_F_USER_AUDIT_ID, j->auid);
        set_if_absent(in, ev, LF_F_USER_EFFECTIVE_ID, j->euid);
        set_if_absent(in, ev, LF_F_RULE_NAME, j->key);
        set_if_absent(in, ev, LF_F_EVENT_OUTCOME, j->success);
    }
    if (lf_event_has(ev, LF_F_PROCESS_TITLE) && !lf_event_has(ev, LF_F_PROCESS_COMMAND_LINE) &&
        lf_str_eq_c(type, "PROCTITLE"))
        lf_event_set_str(ev, LF_F_PROCESS_COMMAND_LINE, ev->str[LF_F_PROCESS_TITLE]);
    in->rule = action ? action : NULL;
    if (action)
        in->rule = NULL;
    return LF_DEC_OK;
}
