/* Pure matching used by the auth methods: '*' globs (names, namespaces, certificate names) and
 * CIDR blocks (source-address bindings). No I/O, no allocation, reentrant. */
#include "auth_int.h"

#include <arpa/inet.h>
#include <string.h>

/* ---- globs -------------------------------------------------------------------------- */

static char fold(char ch, bool nocase)
{
    return nocase && ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Iterative '*' matching with one backtrack point: O(len(pattern) * len(s)) at worst, never
 * exponential (patterns come from operators, subjects from clients). */
bool auth_glob_match(const char *pattern, const char *s, bool nocase)
{
    const char *p = pattern, *star = NULL, *resume = NULL;

    if (!pattern || !s)
        return false;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && fold(*p, nocase) == fold(*s, nocase)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool auth_globs_match(const json_t *patterns, const char *s, bool nocase)
{
    size_t i;
    json_t *x;

    json_array_foreach(patterns, i, x)
    {
        if (auth_glob_match(json_string_value(x), s, nocase))
            return true;
    }
    return false;
}

bool auth_cidrs_allow(const json_t *cidrs, const char *ip)
{
    size_t i;
    json_t *x;

    if (!json_is_array(cidrs) || json_array_size(cidrs) == 0)
        return true;
    json_array_foreach(cidrs, i, x)
    {
        if (ip && auth_cidr_contains(json_string_value(x), ip))
            return true;
    }
    return false;
}

struct auth_addr {
    int family; /* 4 or 6 */
    uint8_t b[16];
};

/* map: an IPv4-mapped IPv6 address (::ffff:a.b.c.d, how dual-stack sockets report IPv4
 * peers) counts as the IPv4 address. */
static bool addr_parse(const char *s, size_t n, bool map, struct auth_addr *out)
{
    char buf[64];
    struct in_addr a4;
    struct in6_addr a6;

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        out->family = 4;
        memcpy(out->b, &a4, 4);
    } else if (inet_pton(AF_INET6, buf, &a6) == 1) {
        bool mapped = map && IN6_IS_ADDR_V4MAPPED(&a6);
        out->family = mapped ? 4 : 6;
        memcpy(out->b, mapped ? a6.s6_addr + 12 : a6.s6_addr, mapped ? 4 : 16);
    } else {
        return false;
    }
    return true;
}

static bool cidr_parse(const char *cidr, struct auth_addr *out, unsigned *out_bits)
{
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    unsigned bits = 0;

    if (!cidr || !addr_parse(cidr, slash ? (size_t)(slash - cidr) : strlen(cidr), false, out))
        return false;
    unsigned max = out->family == 4 ? 32 : 128;
    if (!slash) {
        *out_bits = max;
        return true;
    }
    const char *d = slash + 1;
    size_t nd = strlen(d);
    if (nd == 0 || nd > 3)
        return false;
    for (size_t i = 0; i < nd; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
        bits = bits * 10 + (unsigned)(d[i] - '0');
    }
    if (bits > max)
        return false;
    *out_bits = bits;
    return true;
}

/* The first bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, full) != 0) /* addresses are public: no constant time needed */
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool auth_cidr_valid(const char *cidr)
{
    struct auth_addr a;
    unsigned bits;
    return cidr_parse(cidr, &a, &bits);
}

bool auth_cidr_contains(const char *cidr, const char *ip)
{
    struct auth_addr net, a;
    unsigned bits;

    return cidr_parse(cidr, &net, &bits) && ip && addr_parse(ip, strlen(ip), true, &a) &&
           a.family == net.family && prefix_equal(net.b, a.b, bits);
}

bool auth_cidr_within(const char *inner, const char *outer)
{
    struct auth_addr in, out;
    unsigned in_bits, out_bits;

    return cidr_parse(inner, &in, &in_bits) && cidr_parse(outer, &out, &out_bits) &&
           in.family == out.family && in_bits >= out_bits && prefix_equal(in.b, out.b, out_bits);
}

bool auth_cidrs_subset(const json_t *inner, const json_t *outer)
{
    size_t i, k;
    json_t *x, *y;

    if (json_array_size(inner) == 0 || json_array_size(outer) == 0)
        return true;
    json_array_foreach(inner, i, x)
    {
        bool inside = false;
        json_array_foreach(outer, k, y)
        {
            inside = inside || auth_cidr_within(json_string_value(x), json_string_value(y));
        }
        if (!inside)
            return false;
    }
    return true;
}

bool auth_cidrs_valid(const json_t *l)
{
    size_t i;
    json_t *x;

    json_array_foreach(l, i, x)
    {
        if (!auth_cidr_valid(json_string_value(x)))
            return false;
    }
    return true;
}
