/* lf_sigma_yaml.c - YAML text into node trees with positions, and the arena.
 *
 * libyaml's event parser feeds a small stack machine. Aliases are refused:
 * Sigma rules do not use them and resolving them would let a few bytes
 * describe an exponentially large tree. Nesting is limited to 64 levels.
 */
#include "lf_sigma_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---- arena ----------------------------------------------------------------- */

struct sg_chunk {
    sg_chunk_t *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

void *sg_alloc(sg_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->cap - a->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        sg_chunk_t *c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->cap = cap;
        a->head = c;
        a->used = 0;
        a->cap = cap;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *sg_strndup(sg_arena_t *a, const char *s, size_t n)
{
    char *p = sg_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

void sg_arena_free(sg_arena_t *a)
{
    sg_chunk_t *c = a->head;
    while (c) {
        sg_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = a->cap = 0;
}

/* ---- YAML ------------------------------------------------------------------- */

#define SG_YAML_MAX_DEPTH 64

typedef struct ystack {
    sg_ynode_t *node;
    size_t cap, used; /* kids capacity and entries used (keys and values for maps) */
} ystack_t;

static bool stack_add(sg_arena_t *arena, ystack_t *st, sg_ynode_t *kid)
{
    if (st->used == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        sg_ynode_t **k = sg_alloc(arena, cap * sizeof *k);
        if (!k)
            return false;
        if (st->used)
            memcpy(k, st->node->kids, st->used * sizeof *k);
        st->node->kids = k;
        st->cap = cap;
    }
    st->node->kids[st->used++] = kid;
    st->node->n = st->node->type == SG_Y_MAP ? st->used / 2 : st->used;
    return true;
}

lf_err_t sg_yaml_parse(const char *data, size_t len, sg_arena_t *arena, sg_ynode_t ***docs,
                       size_t *ndocs, char *err, size_t errlen, int *line, int *col)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    *docs = NULL;
    *ndocs = 0;
    *line = *col = 0;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "cannot initialise the YAML parser");
        return LF_ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    ystack_t stack[SG_YAML_MAX_DEPTH];
    int depth = 0;
    size_t capdocs = 0;
    lf_err_t rc = LF_OK;
    sg_ynode_t *root = NULL;
    bool done = false;
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            *line = (int)parser.problem_mark.line + 1;
            *col = (int)parser.problem_mark.column + 1;
            snprintf(err, errlen, "YAML syntax: %s%s%s", parser.problem ? parser.problem : "error",
                     parser.context ? " " : "", parser.context ? parser.context : "");
            rc = LF_EPARSE;
            break;
        }
        int l = (int)ev.start_mark.line + 1, c = (int)ev.start_mark.column + 1;
        sg_ynode_t *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            root = NULL;
            depth = 0;
            break;
        case YAML_DOCUMENT_END_EVENT:
            if (root) {
                if (*ndocs == capdocs) {
                    size_t cap = capdocs ? capdocs * 2 : 4;
                    sg_ynode_t **d = sg_alloc(arena, cap * sizeof *d);
                    if (!d) {
                        rc = LF_ENOMEM;
                        done = true;
                        break;
                    }
                    if (*ndocs)
                        memcpy(d, *docs, *ndocs * sizeof *d);
                    *docs = d;
                    capdocs = cap;
                }
                (*docs)[(*ndocs)++] = root;
            }
            break;
        case YAML_ALIAS_EVENT:
            *line = l;
            *col = c;
            snprintf(err, errlen, "YAML aliases are not supported in Sigma files");
            rc = LF_EPARSE;
            done = true;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            node = sg_alloc(arena, sizeof *node);
            if (!node) {
                rc = LF_ENOMEM;
                done = true;
                break;
            }
            node->line = l;
            node->col = c;
            if (ev.type == YAML_SCALAR_EVENT) {
                node->type = SG_Y_SCALAR;
                node->str =
                    sg_strndup(arena, (const char *)ev.data.scalar.value, ev.data.scalar.length);
                node->len = ev.data.scalar.length;
                node->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                if (!node->str) {
                    rc = LF_ENOMEM;
                    done = true;
                    break;
                }
            } else {
                node->type = ev.type == YAML_SEQUENCE_START_EVENT ? SG_Y_SEQ : SG_Y_MAP;
            }
            if (depth > 0 && !stack_add(arena, &stack[depth - 1], node)) {
                rc = LF_ENOMEM;
                done = true;
                break;
            }
            if (depth == 0)
                root = node;
            if (node->type != SG_Y_SCALAR) {
                if (depth == SG_YAML_MAX_DEPTH) {
                    *line = l;
                    *col = c;
                    snprintf(err, errlen, "YAML nesting deeper than %d levels", SG_YAML_MAX_DEPTH);
                    rc = LF_EPARSE;
                    done = true;
                    break;
                }
                stack[depth++] = (ystack_t){node, 0, 0};
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

const sg_ynode_t *sg_ymap_get(const sg_ynode_t *map, const char *key)
{
    if (!map || map->type != SG_Y_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < map->n; i++) {
        const sg_ynode_t *k = map->kids[2 * i];
        if (k->type == SG_Y_SCALAR && k->len == kl && memcmp(k->str, key, kl) == 0)
            return map->kids[2 * i + 1];
    }
    return NULL;
}

bool sg_ynode_is_null(const sg_ynode_t *n)
{
    if (!n)
        return true;
    if (n->type != SG_Y_SCALAR || n->quoted)
        return false;
    return n->len == 0 || strcmp(n->str, "null") == 0 || strcmp(n->str, "~") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

/* ---- rule directories ---------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 4 && strcmp(n + l - 4, ".yml") == 0) || (l > 5 && strcmp(n + l - 5, ".yaml") == 0);
}

static lf_err_t walk(const char *dir, int depth, sg_yaml_file_fn *file, void *ud)
{
    if (depth > SG_YAML_WALK_DEPTH)
        return LF_OK;
    DIR *d = opendir(dir);
    if (!d)
        return LF_EIO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    lf_err_t rc = LF_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn) {
                rc = LF_ENOMEM;
                break;
            }
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = LF_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n && rc != LF_ENOMEM; i++) {
        size_t pl = strlen(dir) + strlen(names[i]) + 2;
        char *full = malloc(pl);
        if (!full) {
            rc = LF_ENOMEM;
            break;
        }
        snprintf(full, pl, "%s/%s", dir, names[i]);
        struct stat cs;
        lf_err_t r = LF_OK;
        if (stat(full, &cs) == 0 && S_ISDIR(cs.st_mode)) {
            if (strcmp(names[i], "tests") != 0)
                r = walk(full, depth + 1, file, ud);
        } else if (is_yaml_name(names[i])) {
            r = file(ud, full);
        }
        if (r != LF_OK && (rc == LF_OK || r == LF_ENOMEM))
            rc = r;
        free(full);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

lf_err_t sg_yaml_walk(const char *dir, sg_yaml_file_fn *file, void *ud)
{
    return walk(dir, 0, file, ud);
}
