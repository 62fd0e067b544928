/* Revocation (vault-api.md §4.5): a token goes with all its descendants, children before
 * parents, in bounded atomic writes; revoke-orphan takes the token alone, its children made
 * orphans first; an auth mount's tokens go page by page when it is disabled (auth_int.h);
 * tokens of older versions are bound to their auth mount at unseal. */
#include "api_token_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/tr_json.h"
#include "../common/tr_log.h"

#define TOKEN_REVOKE_MAX 10000               /* descendants revoked in one call */
#define REVOKE_CHUNK     (STORE_OPS_MAX / 4) /* tokens per revocation write (4 ops each) */
#define MOUNT_PAGE       128                 /* index entries per api_token_revoke_mount */
#define ORPHAN_CHUNK     (STORE_OPS_MAX / 2) /* children per orphaning write (2 ops each) */
#define ORPHAN_RETRIES   8                   /* pages rewritten after a child changed meanwhile */

/* One token of a revocation: the keys its deletion removes. */
struct revoke_item {
    char hash[TOKEN_HASH_HEX];
    char acc[64];
    char link[TOKEN_LINK_MAX]; /* "" when it has no parent */
    char mkey[TOKEN_MKEY_MAX]; /* "" when it depends on no auth mount */
};

/* false when the token is gone already (or unreadable: then nothing is known to delete). */
static bool revoke_item_load(struct store *st, const char *h, struct revoke_item *it)
{
    struct api_token *t = NULL;

    if (strlen(h) >= sizeof(it->hash) || api_token_load(st, h, &t) != TR_OK)
        return false;
    const char *acc = json_string_value(json_object_get(t->entry, "accessor"));
    const char *parent = json_string_value(json_object_get(t->entry, "parent"));
    snprintf(it->hash, sizeof(it->hash), "%s", h);
    snprintf(it->acc, sizeof(it->acc), "%s", acc && strlen(acc) < sizeof(it->acc) ? acc : "");
    it->link[0] = it->mkey[0] = '\0';
    if (parent && *parent)
        snprintf(it->link, sizeof(it->link), "%.64s/%s", parent, h);
    if (t->mount[0])
        api_token_mount_key(it->mkey, t->mount, h);
    api_token_free(t);
    return true;
}

static void op_del(struct store_op *op, const char *table, const char *key)
{
    *op = (struct store_op){STORE_OP_DEL, table, (const uint8_t *)key, strlen(key),
                            NULL,         0,     STORE_VERSION_ANY};
}

/* Delete n tokens in one atomic write (at most 4 ops each). */
static int revoke_write(struct store *st, const struct revoke_item *items, size_t n)
{
    struct store_op *ops = calloc(4 * n + 1, sizeof(*ops));
    size_t k = 0;
    int rc;

    if (!ops)
        return TR_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        op_del(&ops[k++], API_T_TOKENS, items[i].hash);
        if (items[i].acc[0])
            op_del(&ops[k++], API_T_ACCESSOR, items[i].acc);
        if (items[i].link[0])
            op_del(&ops[k++], API_T_CHILDREN, items[i].link);
        if (items[i].mkey[0])
            op_del(&ops[k++], AUTH_T_TOKENS, items[i].mkey);
    }
    rc = k ? store_write(st, ops, k, NULL) : TR_OK;
    free(ops);
    return rc;
}

/* Extend queue (token hashes) with every descendant, breadth first and bounded. */
static int revoke_collect(struct store *st, json_t *queue)
{
    int rc = TR_OK;

    for (size_t i = 0; i < json_array_size(queue) && i < TOKEN_REVOKE_MAX; i++) {
        const char *h = json_string_value(json_array_get(queue, i));
        char prefix[TOKEN_HASH_HEX + 1];
        struct store_list *l = NULL;
        snprintf(prefix, sizeof(prefix), "%.64s/", h);
        struct store_list_opts lo = {.prefix = (const uint8_t *)prefix,
                                     .prefix_len = strlen(prefix)};
        if ((rc = store_list(st, API_T_CHILDREN, &lo, &l)) != TR_OK)
            break;
        for (size_t k = 0; k < l->n; k++)
            json_array_append_new(queue, json_stringn((const char *)l->e[k].key + strlen(prefix),
                                                      l->e[k].key_len - strlen(prefix)));
        store_list_free(l);
    }
    return rc;
}

/* Revoke the tokens of queue and all their descendants. They are deleted from the queue's end,
 * REVOKE_CHUNK per write, so children go before parents and a crash half way leaves a
 * revocable parent, never an orphaned live child. */
static int revoke_queue(struct store *st, json_t *queue)
{
    struct revoke_item *items = calloc(REVOKE_CHUNK, sizeof(*items));
    size_t n = 0;
    int rc = items ? revoke_collect(st, queue) : TR_E_NOMEM;

    for (size_t i = json_array_size(queue); rc == TR_OK && i-- > 0;) {
        if (revoke_item_load(st, json_string_value(json_array_get(queue, i)), &items[n]))
            n++;
        if (n == REVOKE_CHUNK || (i == 0 && n)) {
            rc = revoke_write(st, items, n);
            n = 0;
        }
    }
    free(items);
    return rc;
}

int api_token_revoke_tree(struct store *st, const char *hash)
{
    json_t *queue = json_pack("[s]", hash);
    int rc = queue ? revoke_queue(st, queue) : TR_E_NOMEM;

    json_decref(queue);
    return rc;
}

/* Crash tests only (like storage's TR_FAULT): exit at a named step. Never skips a check. */
static void fault_point(const char *name)
{
    const char *f = getenv("TR_FAULT");

    if (f && strcmp(f, name) == 0) {
        tr_log_warn("TR_FAULT=%s: exiting now", name);
        _exit(77);
    }
}

/* The child stored under the key child (len bytes) made an orphan for a write: its entry
 * without the parent, at the version read, into *op (the key borrowed from child; the value is
 * *out_text, owned). false when there is nothing to rewrite: the child is gone, or names another
 * parent (a stale link). Errors in *rc: TR_E_NOMEM, as api_token_load. */
static bool orphan_op(struct store *st, const uint8_t *child, size_t len, const char *parent,
                      struct store_op *op, char **out_text, int *rc)
{
    char h[TOKEN_HASH_HEX];
    struct api_token *t = NULL;

    *out_text = NULL;
    *rc = TR_OK;
    if (len >= sizeof(h))
        return false; /* not a token hash: only the link goes */
    snprintf(h, sizeof(h), "%.*s", (int)len, (const char *)child);
    if ((*rc = api_token_load(st, h, &t)) != TR_OK) {
        *rc = *rc == TR_E_DENIED ? TR_OK : *rc; /* revoked meanwhile */
        return false;
    }
    bool mine = strcmp(t->parent, parent) == 0;
    if (mine) {
        /* Vault clears the parent; lookups then show orphan. The auth mount binding stays (a
         * child of a login token still goes when that mount is disabled). */
        json_object_set_new(t->entry, "parent", json_string(""));
        json_object_set_new(t->entry, "orphan", json_true());
        if (!(*out_text = entry_text(t->entry)))
            *rc = TR_E_NOMEM;
        else
            *op = (struct store_op){.kind = STORE_OP_PUT,
                                    .table = API_T_TOKENS,
                                    .key = child,
                                    .key_len = len,
                                    .val = (const uint8_t *)*out_text,
                                    .val_len = strlen(*out_text),
                                    .expect_version = t->version};
    }
    api_token_free(t);
    return mine && *rc == TR_OK;
}

/* One page of hash's children made orphans in one atomic write: each child's entry is
 * rewritten without its parent (check-and-set on the version read) and its link goes. Out:
 * *out_n, the links handled (0: none left). Errors: TR_E_CAS (a child changed between the read
 * and the write: nothing applied), TR_E_NOMEM, as store_list, store_write. */
static int orphan_page(struct store *st, const char *hash, size_t *out_n)
{
    char prefix[TOKEN_HASH_HEX + 1];
    struct store_list *l = NULL;
    struct store_op *ops = NULL;
    char **text = NULL;
    size_t k = 0;
    int rc;

    *out_n = 0;
    snprintf(prefix, sizeof(prefix), "%.64s/", hash);
    size_t plen = strlen(prefix);
    struct store_list_opts lo = {
        .prefix = (const uint8_t *)prefix, .prefix_len = plen, .limit = ORPHAN_CHUNK};
    if ((rc = store_list(st, API_T_CHILDREN, &lo, &l)) != TR_OK)
        return rc;
    ops = calloc(2 * l->n + 1, sizeof(*ops));
    text = calloc(l->n + 1, sizeof(*text));
    rc = ops && text ? TR_OK : TR_E_NOMEM;
    for (size_t i = 0; rc == TR_OK && i < l->n; i++) {
        const uint8_t *key = l->e[i].key;
        size_t len = l->e[i].key_len; /* starts with prefix */
        if (orphan_op(st, key + plen, len - plen, hash, &ops[k], &text[i], &rc))
            k++;
        ops[k++] =
            (struct store_op){STORE_OP_DEL, API_T_CHILDREN, key, len, NULL, 0, STORE_VERSION_ANY};
    }
    if (rc == TR_OK && k)
        rc = store_write(st, ops, k, NULL);
    if (rc == TR_OK)
        *out_n = l->n;
    for (size_t i = 0; text && i < l->n; i++)
        free(text[i]);
    free(text);
    free(ops);
    store_list_free(l);
    return rc;
}

/* Revoke the token stored under hash alone (Vault's revokeOrphan). Its children become orphans
 * first, a page per atomic write, and only then does the token go: a crash half way leaves the
 * token live with some children orphaned already, and revoking it again completes the work.
 * Never an orphaned child whose parent link still stands, nor a child cut off from a parent
 * that outlives it. A child minted while this runs may miss the last page: it then dies with
 * its parent, as a chain with a dead link cannot authenticate (api_token_chain_live). */
int api_token_revoke_orphan(struct store *st, const char *hash)
{
    struct revoke_item it;
    size_t n = 0, done = 0;
    int retries = 0, rc;

    for (;;) {
        rc = orphan_page(st, hash, &n);
        if (rc == TR_E_CAS && ++retries < ORPHAN_RETRIES)
            continue;
        if (rc != TR_OK || n == 0 || (done += n) >= TOKEN_REVOKE_MAX)
            break;
        fault_point("token_revoke_orphan_page"); /* a page written, the token still there */
    }
    if (rc == TR_OK && revoke_item_load(st, hash, &it))
        rc = revoke_write(st, &it, 1);
    return rc;
}

int api_token_revoke_mount(struct store *st, const char *uuid, size_t *out_n)
{
    char prefix[40];
    struct store_list *l = NULL;
    struct store_op *ops = NULL;
    json_t *queue = json_array();
    int rc = TR_E_NOMEM;

    *out_n = 0;
    snprintf(prefix, sizeof(prefix), "%.36s/", uuid);
    struct store_list_opts lo = {
        .prefix = (const uint8_t *)prefix, .prefix_len = strlen(prefix), .limit = MOUNT_PAGE};
    if (!queue || (rc = store_list(st, AUTH_T_TOKENS, &lo, &l)) != TR_OK)
        goto out;
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(queue, json_stringn((const char *)l->e[i].key + strlen(prefix),
                                                  l->e[i].key_len - strlen(prefix)));
    if ((rc = revoke_queue(st, queue)) != TR_OK)
        goto out;
    /* entries whose token was gone already: every listed one goes, so each page progresses */
    if (!(ops = calloc(l->n + 1, sizeof(*ops)))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < l->n; i++)
        ops[i] = (struct store_op){
            STORE_OP_DEL, AUTH_T_TOKENS, l->e[i].key, l->e[i].key_len, NULL, 0, STORE_VERSION_ANY};
    if (l->n && (rc = store_write(st, ops, l->n, NULL)) != TR_OK)
        goto out;
    *out_n = l->n;
    rc = TR_OK;
out:
    free(ops);
    store_list_free(l);
    json_decref(queue);
    return rc;
}

/* "auth/<name>/login..." (not auth/token/): name into out. */
static bool login_mount_name(const char *path, char *out, size_t cap)
{
    const char *name = path && !strncmp(path, "auth/", 5) ? path + 5 : NULL;
    const char *slash = name ? strchr(name, '/') : NULL;
    size_t n = slash ? (size_t)(slash - name) : 0;

    if (!slash || n == 0 || n >= cap || strncmp(slash, "/login", 6) != 0 ||
        (n == 5 && !strncmp(name, "token", 5)))
        return false;
    memcpy(out, name, n);
    out[n] = '\0';
    return true;
}

/* Legacy tokens bound per atomic write: a token record and its index entry each (2 ops). */
#define BIND_CHUNK 256

struct bind_batch {
    struct store_op ops[2 * BIND_CHUNK];
    char hash[BIND_CHUNK][TOKEN_HASH_HEX];
    char mkey[BIND_CHUNK][TOKEN_MKEY_MAX];
    char *text[BIND_CHUNK];
    size_t n;
    size_t bound, revoked;
};

/* Write the batch (each token at the version it was read: nothing serves yet, so a mismatch
 * would be a bug and fails the scan, to be retried at the next unseal). */
static int bind_flush(struct store *st, struct bind_batch *b)
{
    int rc = b->n ? store_write(st, b->ops, 2 * b->n, NULL) : TR_OK;

    for (size_t i = 0; i < b->n; i++)
        free(b->text[i]);
    if (rc == TR_OK)
        b->bound += b->n;
    b->n = 0;
    return rc;
}

/* One token of the legacy scan: bind it to its live mount (queued in b), or revoke it when
 * that is gone. */
static int bind_one(struct store *st, const char *h, const json_t *mounts, struct bind_batch *b)
{
    struct api_token *t = NULL;
    const char *uuid;
    char name[80];
    size_t i = b->n;
    int rc = api_token_load(st, h, &t);

    if (rc != TR_OK)
        return rc == TR_E_DENIED ? TR_OK : rc; /* gone meanwhile */
    if (t->mount[0] ||
        !login_mount_name(json_string_value(json_object_get(t->entry, "path")), name, sizeof(name)))
        goto out; /* bound already, or not from a login */
    if (!(uuid = json_string_value(json_object_get(mounts, name)))) {
        /* its mount was disabled before disables revoked tokens */
        if ((rc = api_token_revoke_tree(st, h)) == TR_OK)
            b->revoked++;
        goto out;
    }
    json_object_set_new(t->entry, "auth_mount", json_string(uuid));
    if (!(b->text[i] = entry_text(t->entry))) {
        rc = TR_E_NOMEM;
        goto out;
    }
    snprintf(b->hash[i], TOKEN_HASH_HEX, "%s", h);
    api_token_mount_key(b->mkey[i], uuid, h);
    b->ops[2 * i] = (struct store_op){STORE_OP_PUT,
                                      API_T_TOKENS,
                                      (const uint8_t *)b->hash[i],
                                      strlen(b->hash[i]),
                                      (const uint8_t *)b->text[i],
                                      strlen(b->text[i]),
                                      t->version};
    b->ops[2 * i + 1] =
        (struct store_op){STORE_OP_PUT,       AUTH_T_TOKENS,       (const uint8_t *)b->mkey[i],
                          strlen(b->mkey[i]), (const uint8_t *)"", 0,
                          STORE_VERSION_ANY};
    if (++b->n == BIND_CHUNK)
        rc = bind_flush(st, b);
out:
    api_token_free(t);
    return rc;
}

int api_token_bind_legacy(struct store *st, const json_t *mounts)
{
    uint8_t after[STORE_KEY_MAX];
    char h[TOKEN_HASH_HEX];
    size_t after_len = 0;
    struct bind_batch *b = calloc(1, sizeof(*b));
    int rc = b ? TR_OK : TR_E_NOMEM;

    while (rc == TR_OK) {
        struct store_list *l = NULL;
        struct store_list_opts lo = {
            .start_after = after_len ? after : NULL, .start_after_len = after_len, .limit = 1000};
        if ((rc = store_list(st, API_T_TOKENS, &lo, &l)) != TR_OK)
            break;
        for (size_t i = 0; rc == TR_OK && i < l->n; i++) {
            after_len = l->e[i].key_len; /* <= STORE_KEY_MAX */
            memcpy(after, l->e[i].key, after_len);
            if (after_len >= sizeof(h))
                continue; /* not a token hash */
            snprintf(h, sizeof(h), "%.*s", (int)after_len, (const char *)after);
            rc = bind_one(st, h, mounts, b);
        }
        bool more = l->truncated && l->n;
        store_list_free(l);
        if (!more)
            break;
    }
    if (rc == TR_OK)
        rc = bind_flush(st, b);
    if (b && (b->bound || b->revoked))
        tr_log_info("login tokens of an older version: %zu bound to their auth mount, %zu of "
                    "disabled mounts revoked",
                    b->bound, b->revoked);
    if (b) /* a failed scan: release what was queued */
        for (size_t i = 0; i < b->n; i++)
            free(b->text[i]);
    free(b);
    return rc;
}

void api_token_op_revoke(struct api_call *c, const char *what)
{
    struct api_token *t = NULL;
    const char *raw = NULL;
    int rc = TR_OK;

    /* This request spent the caller's last use, so its record is gone already: revoke-self
     * succeeds, as Vault's, after taking any descendants (a limited-use token cannot make any,
     * so there should be none). */
    if (strcmp(what, "self") == 0 && c->token->num_uses < 0) {
        if ((rc = api_token_revoke_tree(c->store, c->token->hash)) == TR_OK)
            api_reply_status(c, 204);
        else
            api_reply_err(c, rc);
        return;
    }
    rc = api_token_target_load(c, what, &t, &raw);
    bool no_accessor = rc == TR_E_NOTFOUND; /* the accessor index has no such accessor */

    if (rc == TR_OK)
        rc = api_token_revoke_tree(c->store, t->hash);
    api_token_free(t);
    if (rc == TR_E_DENIED && !strcmp(what, "token"))
        rc = TR_OK; /* Vault: revoking a token that is gone succeeds (`vault token revoke`) */
    if (rc == TR_E_INVAL) {
        api_reply_error(c, 400, api_token_target_missing(what));
    } else if (no_accessor) { /* Vault: an unknown accessor is a success with a warning */
        json_t *w = json_pack("[s]", "No token found with this accessor");
        api_reply_envelope(c, 200, NULL, NULL, w);
    } else if (rc == TR_E_DENIED && !strcmp(what, "accessor")) {
        api_reply_error(c, 400, "token not found"); /* an accessor whose token is gone */
    } else if (rc == TR_E_DENIED) {
        api_reply_error(c, 403, "bad token");
    } else if (rc != TR_OK) {
        api_reply_err(c, rc);
    } else {
        api_reply_status(c, 204);
    }
}

/* auth/token/revoke-orphan (Vault's handleRevokeOrphan): sudo on the path, checked here as Vault
 * does (its pipeline's sudo list names "revoke-orphan/" only), then a live token. */
void api_token_op_revoke_orphan(struct api_call *c)
{
    struct api_token *t = NULL;
    const char *raw = NULL, *tok = tr_json_get_str(c->body, "token");
    bool sudo = c->token->root || api_acl_allows_op(c->acl, c->path, API_ACL_OP_UPDATE, true);
    int rc;

    if (!tok || !*tok) {
        api_reply_error(c, 400, "missing token ID");
        return;
    }
    if (!sudo) {
        api_reply_error(c, 400, "root or sudo privileges required to revoke and orphan");
        return;
    }
    rc = api_token_target_live(c, "token", &t, &raw);
    if (rc == TR_OK)
        rc = api_token_revoke_orphan(c->store, t->hash);
    api_token_free(t);
    if (rc == TR_E_DENIED)
        api_reply_error(c, 400, "token to revoke not found");
    else if (rc != TR_OK)
        api_reply_err(c, rc);
    else
        api_reply_status(c, 204);
}
