/*
 * ratelimit - per-client state for the front end: token buckets (login, unseal) and live
 * connection counts, in one fixed-size table so a flood of source addresses cannot grow memory.
 *
 * A client is a struct srv_rl_key: the IPv4 address, or the /64 prefix of an IPv6 address (one
 * host usually owns a whole /64). The table holds `capacity` entries, allocated once. Entries
 * with live connections are pinned; the others form an LRU list and the least recently used one
 * is recycled when a new client arrives, which forgets its buckets (it starts full again).
 * Chains are indexed by a keyed hash (SipHash, random key per table) so clients cannot pick
 * addresses that collide.
 *
 * Order: srv_rl_new → (srv_rl_take | srv_rl_conn_add/srv_rl_conn_del)* → srv_rl_free.
 * Time is passed in by the caller (monotonic milliseconds) so the logic is testable.
 * Thread-safety: every call except new/free takes the table's own lock.
 * Knows nothing about HTTP, TLS or sockets beyond turning an address into a key.
 */
#ifndef SRV_RATELIMIT_H
#define SRV_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/tr_err.h"

#define SRV_RL_CAPACITY_MIN 64
#define SRV_RL_CAPACITY_MAX (1u << 22)
#define SRV_RL_RATE_MAX     1000000u

enum srv_rl_class {
    SRV_RL_LOGIN = 0, /* /v1/auth/<mount>/login... */
    SRV_RL_UNSEAL,    /* /v1/sys/unseal, /v1/sys/storage/recover */
    SRV_RL_NCLASS,
};

struct srv_rl_key {
    uint8_t b[16]; /* IPv4 as ::ffff:a.b.c.d, IPv6 as its /64 prefix and zeros */
};

struct srv_rl_rate {
    uint32_t per_s; /* tokens added per second, 1..SRV_RL_RATE_MAX */
    uint32_t burst; /* bucket size, 1..SRV_RL_RATE_MAX */
};

struct srv_rl_opts {
    size_t capacity; /* entries, SRV_RL_CAPACITY_MIN..SRV_RL_CAPACITY_MAX */
    struct srv_rl_rate rates[SRV_RL_NCLASS];
    uint32_t max_conns_per_key; /* >= 1 */
};

struct srv_rl;

/* srv_rl_new - allocate a table (*out, free with srv_rl_free).
 * Errors: TR_E_INVAL (a bound above is violated), TR_E_NOMEM. */
TR_MUST_CHECK int srv_rl_new(const struct srv_rl_opts *opts, struct srv_rl **out);

void srv_rl_free(struct srv_rl *rl);

/* srv_rl_take - take one token from key's bucket for cls at now_ms.
 * Returns TR_OK when a token was available. TR_E_LIMIT when not: *out_retry_s receives the
 * whole seconds (>= 1) until one will be; also when the table is full of pinned entries (fails
 * closed, retry 1). *out_retry_s is written only on TR_E_LIMIT. */
TR_MUST_CHECK int srv_rl_take(struct srv_rl *rl, const struct srv_rl_key *key,
                              enum srv_rl_class cls, uint64_t now_ms, int *out_retry_s);

/* srv_rl_conn_add - count one more live connection for key.
 * Errors: TR_E_LIMIT (key already has max_conns_per_key connections, or every entry is pinned);
 * nothing is counted then. */
TR_MUST_CHECK int srv_rl_conn_add(struct srv_rl *rl, const struct srv_rl_key *key);

/* srv_rl_conn_del - forget one connection counted by a successful srv_rl_conn_add. */
void srv_rl_conn_del(struct srv_rl *rl, const struct srv_rl_key *key);

/* srv_rl_conns - live connections counted for key (0 when unknown). */
uint32_t srv_rl_conns(struct srv_rl *rl, const struct srv_rl_key *key);

/* srv_rl_used - entries in use (at most the capacity). */
size_t srv_rl_used(struct srv_rl *rl);

/* srv_rl_key_from_addr - the key for a peer address (AF_INET or AF_INET6; v4-mapped v6
 * addresses count as IPv4). Errors: TR_E_INVAL (other families or short len). */
TR_MUST_CHECK int srv_rl_key_from_addr(const struct sockaddr *sa, socklen_t len,
                                       struct srv_rl_key *out);

#endif
