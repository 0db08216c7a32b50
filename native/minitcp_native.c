/* minitcp's C hot paths; see minitcp_native.h for the interface.
 *
 * Every multi-byte field is read and written a byte at a time or through
 * memcpy, so nothing depends on the alignment of the caller's buffer, and
 * every read of received bytes is bounds-checked against the lengths the
 * headers claim *and* the bytes actually given.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "minitcp_native.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wr16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Fold a one's-complement sum to 16 bits with end-around carries. Zero stays
 * zero and anything else lands in 1..0xffff, exactly like the pure-Python
 * twin, so both give identical results (RFC 1071 section 2(1)). */
static inline uint16_t fold(uint64_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* 64-bit one's-complement add: 2^64 is 1 modulo 0xffff, so the carry goes back in. */
static inline uint64_t add_carry(uint64_t a, uint64_t b)
{
    a += b;
    return a + (a < b);
}

static inline int little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first;
}

/* Sum of buf as native-order words, folded. The one's-complement sum commutes
 * with byte swapping (RFC 1071 section 2(B)), so words are loaded in host order
 * 8 bytes at a time and the result swapped once at the end. Four accumulators
 * keep the carries off one dependency chain. */
static uint16_t sum_host(const uint8_t *p, size_t len)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    uint64_t w[4];
    while (len >= 32) {
        memcpy(w, p, 32);
        a = add_carry(a, w[0]);
        b = add_carry(b, w[1]);
        c = add_carry(c, w[2]);
        d = add_carry(d, w[3]);
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        memcpy(w, p, 8);
        a = add_carry(a, w[0]);
        p += 8;
        len -= 8;
    }
    if (len) {
        /* RFC 1071: an odd final byte is padded with zero. */
        uint8_t tail[8] = {0};
        memcpy(tail, p, len);
        memcpy(w, tail, 8);
        a = add_carry(a, w[0]);
    }
    return fold(add_carry(add_carry(a, b), add_carry(c, d)));
}

/* Folded sum of buf in network order: the value the protocol arithmetic uses. */
static inline uint16_t sum_net(const uint8_t *p, size_t len)
{
    uint16_t s = sum_host(p, len);
    return little_endian() ? (uint16_t)((s >> 8) | (s << 8)) : s;
}

uint16_t mt_csum_add(const char *buf, size_t len, uint64_t initial)
{
    return fold(add_carry(sum_net((const uint8_t *)buf, len), initial));
}

uint16_t mt_checksum(const char *buf, size_t len, uint64_t initial)
{
    return (uint16_t)~mt_csum_add(buf, len, initial);
}

uint16_t mt_pseudo_header_sum(uint32_t src, uint32_t dst, uint32_t proto, uint32_t length)
{
    return fold((uint64_t)(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + length);
}

uint16_t mt_csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
    /* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
    return (uint16_t)~fold((uint64_t)(uint16_t)~csum + (uint16_t)~old + new_);
}

uint16_t mt_csum_update32(uint16_t csum, uint32_t old, uint32_t new_)
{
    return (uint16_t)~fold((uint64_t)(uint16_t)~csum + (uint16_t)~(old >> 16) + (uint16_t)~old
                           + (new_ >> 16) + (new_ & 0xffff));
}

/* TCP options, RFC 9293 section 3.2, parsed like Linux's tcp_parse_options():
 * an option whose length byte is missing, below 2 or past the header is an
 * error; a known option of the wrong length is skipped; EOL ends the list;
 * a repeated option overwrites the earlier one. */
static int parse_options(const uint8_t *o, size_t end, uint32_t *f)
{
    uint32_t present = 0, nsack = 0;
    size_t i = 0;
    while (i < end) {
        const uint8_t kind = o[i];
        if (kind == 0) /* EOL */
            break;
        if (kind == 1) { /* NOP */
            i++;
            continue;
        }
        if (end - i < 2)
            return -MT_BAD_OPTION;
        const size_t len = o[i + 1];
        if (len < 2 || len > end - i)
            return -MT_BAD_OPTION;
        const uint8_t *v = o + i + 2;
        switch (kind) {
        case 2: /* MSS, RFC 9293 section 3.2 */
            if (len == 4) {
                present |= MT_OPT_MSS;
                f[MT_F_MSS] = rd16(v);
            }
            break;
        case 3: /* window scale, RFC 7323 section 2.2 */
            if (len == 3) {
                present |= MT_OPT_WSCALE;
                f[MT_F_WSCALE] = v[0];
            }
            break;
        case 4: /* SACK permitted, RFC 2018 section 2 */
            if (len == 2)
                present |= MT_OPT_SACK_PERM;
            break;
        case 5: /* SACK, RFC 2018 section 3. len <= end <= 40 caps it at 4 blocks. */
            if (len >= 10 && (len - 2) % 8 == 0) {
                nsack = (uint32_t)(len - 2) / 8;
                for (uint32_t k = 0; k < 2 * nsack; k++)
                    f[MT_F_SACK + k] = rd32(v + 4 * k);
            }
            break;
        case 8: /* timestamps, RFC 7323 section 3.2 */
            if (len == 10) {
                present |= MT_OPT_TS;
                f[MT_F_TS_VAL] = rd32(v);
                f[MT_F_TS_ECR] = rd32(v + 4);
            }
            break;
        default:
            break;
        }
        i += len;
    }
    f[MT_F_OPTS] = present;
    f[MT_F_NSACK] = nsack;
    return 0;
}

/* The TCP header and payload of tlen bytes at tcp, RFC 9293 section 3.1, checked against
 * pseudo, the folded pseudo-header sum; fills the TCP slots of f, PAYLOAD_OFF from tcp. */
static inline int parse_tcp_header(const uint8_t *tcp, size_t tlen, uint32_t pseudo, int verify_tcp_csum,
                                   uint32_t *f)
{
    if (tlen < 20)
        return -MT_TRUNCATED;
    const size_t doff = (size_t)(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > tlen)
        return -MT_BAD_DATA_OFFSET;
    /* Checksum before options, as Linux does, so corruption counts as a bad checksum. */
    if (verify_tcp_csum && fold((uint64_t)pseudo + sum_net(tcp, tlen)) != 0xffff)
        return -MT_BAD_TCP_CHECKSUM;
    const int rc = parse_options(tcp + 20, doff - 20, f);
    if (rc)
        return rc;

    f[MT_F_SPORT] = rd16(tcp);
    f[MT_F_DPORT] = rd16(tcp + 2);
    f[MT_F_SEQ] = rd32(tcp + 4);
    f[MT_F_ACK] = rd32(tcp + 8);
    f[MT_F_FLAGS] = tcp[13];
    f[MT_F_WINDOW] = rd16(tcp + 14);
    f[MT_F_URGENT] = rd16(tcp + 18);
    f[MT_F_PAYLOAD_OFF] = (uint32_t)doff;
    f[MT_F_PAYLOAD_LEN] = (uint32_t)(tlen - doff);
    return 0;
}

static int parse_tcp(const char *buf, size_t len, uint32_t *f, int verify_tcp_csum)
{
    const uint8_t *ip = (const uint8_t *)buf;
    /* IPv4 header, RFC 791 section 3.1. */
    if (len < 20)
        return -MT_TRUNCATED;
    if (ip[0] >> 4 != 4)
        return -MT_BAD_VERSION;
    const size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
    if (ihl < 20)
        return -MT_BAD_IHL;
    if (ihl > len)
        return -MT_TRUNCATED;
    /* Bytes past the total length are link-layer padding and ignored. */
    const size_t total = rd16(ip + 2);
    if (total < ihl || total > len)
        return -MT_BAD_TOTAL_LENGTH;
    if (sum_host(ip, ihl) != 0xffff) /* 0xffff reads the same in either byte order */
        return -MT_BAD_IP_CHECKSUM;
    const uint32_t frag = rd16(ip + 6);
    if (frag & 0x3fff) /* MF or a fragment offset: RFC 791 section 3.2 */
        return -MT_FRAGMENT;
    if (ip[9] != 6)
        return -MT_NOT_TCP;

    const uint32_t src = rd32(ip + 12), dst = rd32(ip + 16);
    const size_t tlen = total - ihl;
    const int rc = parse_tcp_header(ip + ihl, tlen, mt_pseudo_header_sum(src, dst, 6, (uint32_t)tlen),
                                    verify_tcp_csum, f);
    if (rc)
        return rc;
    f[MT_F_SRC] = src;
    f[MT_F_DST] = dst;
    f[MT_F_TTL] = ip[8];
    f[MT_F_TOS] = ip[1];
    f[MT_F_IP_ID] = rd16(ip + 4);
    f[MT_F_DF] = (frag & 0x4000) != 0;
    f[MT_F_PAYLOAD_OFF] += (uint32_t)ihl;
    return 0;
}

int mt_parse_tcp(const char *buf, size_t len, uint32_t *f)
{
    return parse_tcp(buf, len, f, 1);
}

int mt_parse_tcp_csum_partial(const char *buf, size_t len, uint32_t *f)
{
    return parse_tcp(buf, len, f, 0);
}

uint16_t mt_pseudo_header_sum6(const char *src, const char *dst, uint32_t proto, uint32_t length)
{
    return fold((uint64_t)sum_net((const uint8_t *)src, 16) + sum_net((const uint8_t *)dst, 16)
                + (length >> 16) + (length & 0xffff) + proto);
}

/* The options of a hop-by-hop or destination options header, judged as Linux's
 * ip6_parse_tlv: at most 7 bytes of padding in a row, PadN all zeros, no option
 * past the end, at most 8 that are not padding, and an unknown option (all are,
 * padding aside) discards the packet unless its type's top two bits are 00
 * (RFC 8200 section 4.2). */
static int check_options6(const uint8_t *o, size_t end)
{
    size_t i = 0, padding = 0, count = 0;
    while (i < end) {
        const uint8_t kind = o[i];
        if (kind == 0) { /* Pad1 */
            if (++padding > 7)
                return -MT_BAD_EXT_HEADER;
            i++;
            continue;
        }
        if (end - i < 2)
            return -MT_BAD_EXT_HEADER;
        const size_t len = (size_t)o[i + 1] + 2;
        if (len > end - i)
            return -MT_BAD_EXT_HEADER;
        if (kind == 1) { /* PadN */
            padding += len;
            if (padding > 7)
                return -MT_BAD_EXT_HEADER;
            for (size_t k = 2; k < len; k++)
                if (o[i + k])
                    return -MT_BAD_EXT_HEADER;
        } else {
            if (++count > 8)
                return -MT_BAD_EXT_HEADER;
            if (kind >> 6)
                return -MT_UNKNOWN_OPTION;
            padding = 0;
        }
        i += len;
    }
    return 0;
}

/* Walk the extension headers of an IPv6 packet whose payload ends at end (RFC 8200
 * section 4), as minitcp.wire.ipv6.parse_ipv6: sets *upper to where the upper layer
 * starts and *next to its protocol, or returns -reason. A fragment that is not
 * atomic (RFC 6946) is refused: this parser takes whole datagrams only. */
static int walk_ipv6(const uint8_t *ip, size_t end, size_t *upper, uint32_t *next)
{
    uint32_t nh = ip[6];
    size_t off = 40;
    for (;;) {
        /* RFC 8200 section 4.3: hop-by-hop options come right after the IPv6 header. */
        if (nh == 0 && off != 40)
            return -MT_BAD_EXT_HEADER;
        const size_t left = end - off;
        size_t hlen;
        switch (nh) {
        case 0:  /* hop-by-hop options */
        case 43: /* routing */
        case 60: /* destination options */
            hlen = left >= 2 ? ((size_t)ip[off + 1] + 1) * 8 : 8;
            break;
        case 44: /* fragment */
            hlen = 8;
            break;
        default:
            *upper = off;
            *next = nh;
            return 0;
        }
        if (hlen > left)
            return -MT_BAD_EXT_HEADER;
        const uint8_t *h = ip + off;
        if (nh == 0 || nh == 60) {
            const int rc = check_options6(h + 2, hlen - 2);
            if (rc)
                return rc;
        } else if (nh == 43) {
            if (h[3]) /* segments left, and no routing type is known here (RFC 8200 section 4.4) */
                return -MT_ROUTING_HEADER;
        } else if (rd16(h + 2) & 0xfff9) { /* a fragment offset or M: RFC 8200 section 4.5 */
            return -MT_FRAGMENT;
        }
        nh = h[0];
        off += hlen;
    }
}

static int parse_tcp6(const char *buf, size_t len, uint32_t *f, int verify_tcp_csum)
{
    const uint8_t *ip = (const uint8_t *)buf;
    /* IPv6 header, RFC 8200 section 3. */
    if (len < 40)
        return -MT_TRUNCATED;
    if (ip[0] >> 4 != 6)
        return -MT_BAD_VERSION;
    /* Bytes past the payload length are link-layer padding and ignored. */
    const size_t end = 40 + (size_t)rd16(ip + 4);
    if (end > len)
        return -MT_BAD_TOTAL_LENGTH;
    size_t upper;
    uint32_t next;
    int rc = walk_ipv6(ip, end, &upper, &next);
    if (rc)
        return rc;
    if (next != 6)
        return -MT_NOT_TCP;

    const size_t tlen = end - upper;
    rc = parse_tcp_header(ip + upper, tlen,
                          mt_pseudo_header_sum6(buf + 8, buf + 24, 6, (uint32_t)tlen), verify_tcp_csum, f);
    if (rc)
        return rc;
    const uint32_t first = rd32(ip);
    f[MT_F_SRC] = f[MT_F_DST] = 0;
    f[MT_F_TTL] = ip[7];
    f[MT_F_TOS] = (first >> 20) & 0xff;
    f[MT_F_IP_ID] = first & 0xfffff;
    f[MT_F_DF] = 1;
    f[MT_F_PAYLOAD_OFF] += (uint32_t)upper;
    return 0;
}

int mt_parse_tcp6(const char *buf, size_t len, uint32_t *f)
{
    return parse_tcp6(buf, len, f, 1);
}

int mt_parse_tcp6_csum_partial(const char *buf, size_t len, uint32_t *f)
{
    return parse_tcp6(buf, len, f, 0);
}

/* Options in Linux's layout (tcp_options_write()); returns their length, a
 * multiple of 4 and at most 40. SACK blocks beyond the space left are dropped,
 * as Linux does. */
static size_t write_options(uint8_t *o, const uint32_t *f)
{
    const uint32_t present = f[MT_F_OPTS];
    size_t n = 0;
    if (present & MT_OPT_MSS) {
        o[n] = 2;
        o[n + 1] = 4;
        wr16(o + n + 2, f[MT_F_MSS]);
        n += 4;
    }
    if (present & MT_OPT_TS) {
        if (present & MT_OPT_SACK_PERM) {
            o[n] = 4;
            o[n + 1] = 2;
        } else {
            o[n] = 1;
            o[n + 1] = 1;
        }
        o[n + 2] = 8;
        o[n + 3] = 10;
        wr32(o + n + 4, f[MT_F_TS_VAL]);
        wr32(o + n + 8, f[MT_F_TS_ECR]);
        n += 12;
    } else if (present & MT_OPT_SACK_PERM) {
        o[n] = 1;
        o[n + 1] = 1;
        o[n + 2] = 4;
        o[n + 3] = 2;
        n += 4;
    }
    if (present & MT_OPT_WSCALE) {
        o[n] = 1;
        o[n + 1] = 3;
        o[n + 2] = 3;
        o[n + 3] = (uint8_t)f[MT_F_WSCALE];
        n += 4;
    }
    /* n <= 20 here, so at least 2 blocks always fit. */
    uint32_t nsack = f[MT_F_NSACK];
    const uint32_t room = (uint32_t)(40 - n - 4) / 8;
    if (nsack > room)
        nsack = room;
    if (nsack) {
        o[n] = 1;
        o[n + 1] = 1;
        o[n + 2] = 5;
        o[n + 3] = (uint8_t)(2 + 8 * nsack);
        n += 4;
        for (uint32_t k = 0; k < 2 * nsack; k++, n += 4)
            wr32(o + n, f[MT_F_SACK + k]);
    }
    return n;
}

/* Whether the TCP fields of f fit their wire widths. */
static inline int tcp_fields_fit(const uint32_t *f)
{
    const uint32_t present = f[MT_F_OPTS];
    return (f[MT_F_SPORT] | f[MT_F_DPORT] | f[MT_F_WINDOW] | f[MT_F_URGENT]) <= 0xffff
           && f[MT_F_FLAGS] <= 0xff && !((present & MT_OPT_MSS) && f[MT_F_MSS] > 0xffff)
           && !((present & MT_OPT_WSCALE) && f[MT_F_WSCALE] > 0xff) && f[MT_F_NSACK] <= MT_MAX_SACK;
}

/* Write the TCP header, options and payload at tcp (tlen bytes in all), the checksum over
 * a pseudo-header summing to pseudo. */
static inline void write_tcp(uint8_t *tcp, size_t tlen, const uint32_t *f, const uint8_t *opts, size_t olen,
                             const char *payload, size_t plen, uint32_t pseudo)
{
    wr16(tcp, f[MT_F_SPORT]);
    wr16(tcp + 2, f[MT_F_DPORT]);
    wr32(tcp + 4, f[MT_F_SEQ]);
    wr32(tcp + 8, f[MT_F_ACK]);
    tcp[12] = (uint8_t)(((20 + olen) / 4) << 4);
    tcp[13] = (uint8_t)f[MT_F_FLAGS];
    wr16(tcp + 14, f[MT_F_WINDOW]);
    wr16(tcp + 16, 0);
    wr16(tcp + 18, f[MT_F_URGENT]);
    memcpy(tcp + 20, opts, olen);
    if (plen)
        memcpy(tcp + 20 + olen, payload, plen);
    wr16(tcp + 16, (uint16_t)~fold((uint64_t)pseudo + sum_net(tcp, tlen)));
}

long mt_build_tcp(char *out, size_t cap, const uint32_t *f, const char *payload, size_t plen)
{
    if (!tcp_fields_fit(f) || f[MT_F_IP_ID] > 0xffff || (f[MT_F_TTL] | f[MT_F_TOS]) > 0xff || f[MT_F_DF] > 1)
        return -1;
    if (plen > MT_MAX_PACKET)
        return -1;
    uint8_t opts[40];
    const size_t olen = write_options(opts, f);
    const size_t tlen = 20 + olen + plen;
    if (20 + tlen > MT_MAX_PACKET || 20 + tlen > cap)
        return -1;

    uint8_t *ip = (uint8_t *)out;
    ip[0] = 0x45;
    ip[1] = (uint8_t)f[MT_F_TOS];
    wr16(ip + 2, (uint32_t)(20 + tlen));
    wr16(ip + 4, f[MT_F_IP_ID]);
    wr16(ip + 6, f[MT_F_DF] ? 0x4000 : 0);
    ip[8] = (uint8_t)f[MT_F_TTL];
    ip[9] = 6;
    wr16(ip + 10, 0);
    wr32(ip + 12, f[MT_F_SRC]);
    wr32(ip + 16, f[MT_F_DST]);
    wr16(ip + 10, (uint16_t)~sum_net(ip, 20));
    write_tcp(ip + 20, tlen, f, opts, olen, payload, plen,
              mt_pseudo_header_sum(f[MT_F_SRC], f[MT_F_DST], 6, (uint32_t)tlen));
    return (long)(20 + tlen);
}

long mt_build_tcp6(char *out, size_t cap, const uint32_t *f, const char *addrs, const char *payload,
                   size_t plen)
{
    if (!tcp_fields_fit(f) || f[MT_F_IP_ID] > 0xfffff || (f[MT_F_TTL] | f[MT_F_TOS]) > 0xff)
        return -1;
    if (plen > MT_MAX_PACKET)
        return -1;
    uint8_t opts[40];
    const size_t olen = write_options(opts, f);
    const size_t tlen = 20 + olen + plen;
    if (tlen > 0xffff || 40 + tlen > cap)
        return -1;

    /* RFC 8200 section 3: version, traffic class, flow label; payload length; next header; hop limit. */
    uint8_t *ip = (uint8_t *)out;
    wr32(ip, (6u << 28) | (f[MT_F_TOS] << 20) | f[MT_F_IP_ID]);
    wr16(ip + 4, (uint32_t)tlen);
    ip[6] = 6;
    ip[7] = (uint8_t)f[MT_F_TTL];
    memcpy(ip + 8, addrs, 32);
    write_tcp(ip + 40, tlen, f, opts, olen, payload, plen,
              mt_pseudo_header_sum6(addrs, addrs + 16, 6, (uint32_t)tlen));
    return (long)(40 + tlen);
}

/* ------------------------------------------------------------------ SipHash-2-4 */

static inline uint64_t rotl64(uint64_t x, unsigned b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t rdle64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24)
           | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

/* Linux lib/siphash.c SIPROUND. */
#define SIPROUND                                                                      \
    do {                                                                              \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);               \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                                      \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                                      \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);               \
    } while (0)

/* Linux __siphash_unaligned: SipHash-2-4 of len bytes under key, the 8-byte blocks and the
 * leftover bytes (under the length's low byte) read little-endian, as on every host. */
static inline uint64_t siphash24(const struct mt_siphash_key *key, const uint8_t *data, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ key->key[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ key->key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key->key[0];
    uint64_t v3 = 0x7465646279746573ULL ^ key->key[1];
    uint64_t b = (uint64_t)len << 56;
    const size_t end = len - len % 8;
    for (size_t i = 0; i < end; i += 8) {
        const uint64_t m = rdle64(data + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = end; i < len; i++)
        b |= (uint64_t)data[i] << (8 * (i - end));
    v3 ^= b; /* POSTAMBLE */
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return (v0 ^ v1) ^ (v2 ^ v3);
}

void mt_siphash_key(const char *key, struct mt_siphash_key *out)
{
    out->key[0] = rdle64((const uint8_t *)key);
    out->key[1] = rdle64((const uint8_t *)key + 8);
}

uint64_t mt_siphash(const char *key, const char *data, size_t len)
{
    struct mt_siphash_key k;
    mt_siphash_key(key, &k);
    return siphash24(&k, (const uint8_t *)data, len);
}

/* ------------------------------------------------------------------ SYN cookies */

#define COOKIEBITS 24 /* Linux syncookies.c */
#define COOKIEMASK ((1u << COOKIEBITS) - 1)
#define TSBITS 6
#define TS_OPT_WSCALE_MASK 0xfu
#define TS_OPT_SACK (1u << 4)
#define TS_OPT_ECN (1u << 5)
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Linux cookie_hash (net/ipv4/syncookies.c, net/ipv6/syncookies.c), the SYN's four-tuple
 * and count under syncookie_secret[c] (syncookie6_secret[c]: addresses of alen = 16 bytes),
 * the bytes a little-endian Linux hashes: IPv4's siphash_4u32(saddr, daddr, sport << 16 |
 * dport, count) of the __be32 and __be16 values, IPv6's struct {saddr, daddr, count, sport,
 * dport}. minitcp.tcp.syncookies.SynCookies._hash. */
static uint32_t cookie_hash(const struct mt_cookie_params *p, const uint8_t *saddr, const uint8_t *daddr,
                            size_t alen, uint32_t sport, uint32_t dport, uint32_t count, int c)
{
    uint8_t data[16 + 16 + 4 + 4];
    const uint8_t le_count[4] = {(uint8_t)count, (uint8_t)(count >> 8), (uint8_t)(count >> 16),
                                 (uint8_t)(count >> 24)};
    memcpy(data, saddr, alen);
    memcpy(data + alen, daddr, alen);
    if (alen == 4) {
        wr16(data + 8, dport); /* the u32 sport << 16 | dport of __be16s, little-endian */
        wr16(data + 10, sport);
        memcpy(data + 12, le_count, 4);
        return (uint32_t)siphash24(&p->syncookie[c], data, 16);
    }
    memcpy(data + 32, le_count, 4);
    wr16(data + 36, sport);
    wr16(data + 38, dport);
    return (uint32_t)siphash24(&p->syncookie6[c], data, 40);
}

/* Linux secure_tcp_ts_off (siphash_2u32(saddr, daddr)) and secure_tcpv6_ts_off: our address
 * then the peer's under ts_secret, one offset per pair of hosts (RFC 7323 section 5.4).
 * minitcp.tcp.isn.IsnGenerator.ts_offset. */
static uint32_t ts_offset(const struct mt_cookie_params *p, const uint8_t *laddr, const uint8_t *raddr,
                          size_t alen)
{
    uint8_t data[32];
    memcpy(data, laddr, alen);
    memcpy(data + alen, raddr, alen);
    return (uint32_t)siphash24(&p->ts, data, 2 * alen);
}

/* The fields of the SYN in buf (IPv4 or IPv6, by its version) into f, and whether it is IPv6:
 * 1 for a SYN a listener answers from its bytes, 0 for a valid segment that is not (ACK, RST or
 * FIN set; an IPv6 address below 2^32), -reason for an invalid packet. */
static int parse_syn(const char *buf, size_t len, int csum_partial, uint32_t *f, int *v6)
{
    const uint8_t *ip = (const uint8_t *)buf;
    memset(f, 0, MT_F_COUNT * sizeof *f);
    *v6 = len > 0 && ip[0] >> 4 == 6;
    const int rc = *v6 ? parse_tcp6(buf, len, f, !csum_partial) : parse_tcp(buf, len, f, !csum_partial);
    if (rc)
        return rc;
    const uint32_t flags = f[MT_F_FLAGS];
    if (!(flags & TCP_SYN) || flags & (TCP_ACK | TCP_RST | TCP_FIN))
        return 0; /* Listener.input: only a SYN without ACK, RST or FIN makes a request or a cookie */
    static const uint8_t zeros[12];
    if (*v6 && (!memcmp(ip + 8, zeros, 12) || !memcmp(ip + 24, zeros, 12)))
        return 0; /* an IPv6 address below 2^32, which the engine's tables take for IPv4 (family.py) */
    return 1;
}

/* The SYN-ACK of g (our fields) to the SYN at ip from saddr to daddr, into out. */
static long build_synack(const uint32_t *g, int v6, const uint8_t *saddr, const uint8_t *daddr, char *out,
                         size_t cap)
{
    if (v6) {
        uint8_t addrs[32];
        memcpy(addrs, daddr, 16);
        memcpy(addrs + 16, saddr, 16);
        return mt_build_tcp6(out, cap, g, (const char *)addrs, NULL, 0);
    }
    return mt_build_tcp(out, cap, g, NULL, 0);
}

/* The SYN-ACK's fields for the SYN parsed into `f`, our ISN `seq`, all but the timestamps
 * (Linux tcp_make_synack, cookie or request alike): DF as the listener's IP_MTU_DISCOVER says
 * (ip_build_and_send_pkt's ip_dont_fragment), an ECN-setup SYN-ACK with ECE (RFC 3168 6.1.1). */
static void synack_fields(uint32_t *g, const uint32_t *f, const struct mt_cookie_params *p, uint32_t seq,
                          int ts_ok, int wscale_ok, int sack_ok, int ecn_ok)
{
    memset(g, 0, sizeof(uint32_t) * MT_F_COUNT);
    g[MT_F_SRC] = f[MT_F_DST];
    g[MT_F_DST] = f[MT_F_SRC];
    g[MT_F_SPORT] = f[MT_F_DPORT];
    g[MT_F_DPORT] = f[MT_F_SPORT];
    g[MT_F_SEQ] = seq;
    g[MT_F_ACK] = f[MT_F_SEQ] + 1;
    g[MT_F_FLAGS] = TCP_SYN | TCP_ACK | (ecn_ok ? TCP_ECE : 0);
    g[MT_F_WINDOW] = ts_ok ? p->window_ts : p->window;
    g[MT_F_TTL] = p->ttl;
    g[MT_F_TOS] = p->tos;
    g[MT_F_DF] = p->df;
    g[MT_F_OPTS] = MT_OPT_MSS;
    g[MT_F_MSS] = p->advmss;
    if (wscale_ok) {
        g[MT_F_OPTS] |= MT_OPT_WSCALE;
        g[MT_F_WSCALE] = p->rcv_wscale;
    }
    if (sack_ok)
        g[MT_F_OPTS] |= MT_OPT_SACK_PERM;
}

long mt_cookie_synack(const char *buf, size_t len, int csum_partial, const struct mt_cookie_params *p,
                      uint32_t count, uint32_t ts_now, char *out, size_t cap)
{
    const uint8_t *ip = (const uint8_t *)buf;
    uint32_t f[MT_F_COUNT];
    int v6;
    const int rc = parse_syn(buf, len, csum_partial, f, &v6);
    if (rc <= 0)
        return rc;
    const uint32_t flags = f[MT_F_FLAGS];
    const size_t alen = v6 ? 16 : 4;
    const uint8_t *saddr = ip + (v6 ? 8 : 12), *daddr = saddr + alen;
    const uint32_t sport = f[MT_F_SPORT], dport = f[MT_F_DPORT], sseq = f[MT_F_SEQ];
    const uint32_t opts = f[MT_F_OPTS];

    /* The MSS the peer may be sent (Listener._send_cookie, Linux mss_clamp): the SYN's, or
     * RFC 9293's 536, at most TCP_MAXSEG; then the largest table entry not above it. */
    uint32_t mss = opts & MT_OPT_MSS && f[MT_F_MSS] ? f[MT_F_MSS] : 536;
    if (p->user_mss && p->user_mss < mss)
        mss = p->user_mss;
    uint32_t index = 0;
    for (uint32_t i = 3; i > 0; i--)
        if (mss >= p->msstab[i]) {
            index = i;
            break;
        }
    /* Linux secure_tcp_syn_cookie. */
    const uint32_t cookie = cookie_hash(p, saddr, daddr, alen, sport, dport, 0, 0) + sseq + (count << COOKIEBITS)
                            + ((cookie_hash(p, saddr, daddr, alen, sport, dport, count, 1) + index) & COOKIEMASK);

    /* What the SYN negotiates (tcp_in.accept_syn, negotiate); without timestamps nothing can
     * carry the other options back, so none is used (Linux tcp_clear_options). */
    const int ts_ok = p->timestamps && opts & MT_OPT_TS;
    const int wscale_ok = ts_ok && p->window_scaling && opts & MT_OPT_WSCALE;
    const int sack_ok = ts_ok && p->sack && opts & MT_OPT_SACK_PERM;
    const int ecn_ok = ts_ok && p->ecn && (flags & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR)
                       && !(f[MT_F_TOS] & 0x03);
    const uint32_t peer_ts = f[MT_F_TS_VAL];

    uint32_t g[MT_F_COUNT];
    synack_fields(g, f, p, cookie, ts_ok, wscale_ok, sack_ok, ecn_ok);
    if (ts_ok) {
        /* Linux cookie_init_timestamp: the options in the low bits of our clock, stepped
         * back 64 ms if that would put it in the future; then our offset for this peer. */
        uint32_t bits = wscale_ok ? (f[MT_F_WSCALE] > 14 ? 14 : f[MT_F_WSCALE]) : TS_OPT_WSCALE_MASK;
        if (sack_ok)
            bits |= TS_OPT_SACK;
        if (ecn_ok)
            bits |= TS_OPT_ECN;
        uint32_t ts = (ts_now & ~((1u << TSBITS) - 1)) | bits;
        if (bits > (ts_now & ((1u << TSBITS) - 1)))
            ts -= 1u << TSBITS;
        g[MT_F_OPTS] |= MT_OPT_TS;
        g[MT_F_TS_VAL] = ts + ts_offset(p, daddr, saddr, alen);
        g[MT_F_TS_ECR] = peer_ts;
    }
    return build_synack(g, v6, saddr, daddr, out, cap);
}

/* Linux secure_tcp_seq (siphash_3u32(saddr, daddr, sport << 16 | dport) of the __be32 and __be16
 * values: our address, the peer's, its port and ours) and secure_tcpv6_seq (struct {saddr, daddr,
 * sport, dport}) under net_secret: minitcp.tcp.isn.IsnGenerator.isn before the clock. */
static uint32_t isn_hash(const struct mt_cookie_params *p, const uint8_t *laddr, const uint8_t *raddr,
                         size_t alen, uint32_t lport, uint32_t rport)
{
    uint8_t data[36];
    memcpy(data, laddr, alen);
    memcpy(data + alen, raddr, alen);
    if (alen == 4) {
        wr16(data + 8, rport);
        wr16(data + 10, lport);
        return (uint32_t)siphash24(&p->net, data, 12);
    }
    wr16(data + 32, lport);
    wr16(data + 34, rport);
    return (uint32_t)siphash24(&p->net, data, 36);
}

long mt_request_synack(const char *buf, size_t len, int csum_partial, const struct mt_cookie_params *p,
                       uint32_t isn_clock, uint32_t ts_now, char *out, size_t cap, uint32_t *req)
{
    const uint8_t *ip = (const uint8_t *)buf;
    uint32_t f[MT_F_COUNT];
    int v6;
    const int rc = parse_syn(buf, len, csum_partial, f, &v6);
    if (rc <= 0)
        return rc;
    const uint32_t flags = f[MT_F_FLAGS], opts = f[MT_F_OPTS];
    const size_t alen = v6 ? 16 : 4;
    const uint8_t *saddr = ip + (v6 ? 8 : 12), *daddr = saddr + alen;
    const uint32_t sport = f[MT_F_SPORT], dport = f[MT_F_DPORT];

    /* Linux tcp_openreq_init (RequestSock.__init__): each option the SYN offered and our knob
     * allows, on its own; ECN for an ECN-setup SYN not itself ECN-capable (RFC 3168 6.1.1). */
    const int ts_ok = p->timestamps && opts & MT_OPT_TS;
    const int wscale_ok = p->window_scaling && opts & MT_OPT_WSCALE;
    const int sack_ok = p->sack && opts & MT_OPT_SACK_PERM;
    const int ecn_ok = p->ecn && (flags & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR) && !(f[MT_F_TOS] & 0x03);
    const uint32_t iss = isn_hash(p, daddr, saddr, alen, dport, sport) + isn_clock;
    const uint32_t offset = ts_ok ? ts_offset(p, daddr, saddr, alen) : 0;
    req[MT_REQ_ISS] = iss;
    req[MT_REQ_IRS] = f[MT_F_SEQ];
    req[MT_REQ_MSS] = opts & MT_OPT_MSS ? f[MT_F_MSS] : 0;
    req[MT_REQ_WSCALE] = f[MT_F_WSCALE];
    req[MT_REQ_TS_VAL] = f[MT_F_TS_VAL];
    req[MT_REQ_WINDOW] = f[MT_F_WINDOW];
    req[MT_REQ_TS_OFFSET] = offset;
    req[MT_REQ_BITS] = (opts & MT_OPT_WSCALE ? MT_REQ_HAS_WSCALE : 0) | (opts & MT_OPT_TS ? MT_REQ_HAS_TS : 0)
                       | (opts & MT_OPT_SACK_PERM ? MT_REQ_PEER_SACK : 0) | (ts_ok ? MT_REQ_TS_OK : 0)
                       | (wscale_ok ? MT_REQ_WSCALE_OK : 0) | (sack_ok ? MT_REQ_SACK_OK : 0)
                       | (ecn_ok ? MT_REQ_ECN_OK : 0) | (f[MT_F_PAYLOAD_LEN] ? MT_REQ_DATA : 0);

    /* Linux tcp_make_synack (RequestSock.synack, cookie_synack.synack_segment). */
    uint32_t g[MT_F_COUNT];
    synack_fields(g, f, p, iss, ts_ok, wscale_ok, sack_ok, ecn_ok);
    if (ts_ok) {
        g[MT_F_OPTS] |= MT_OPT_TS;
        g[MT_F_TS_VAL] = ts_now + offset;
        g[MT_F_TS_ECR] = f[MT_F_TS_VAL];
    }
    return build_synack(g, v6, saddr, daddr, out, cap);
}

/* ------------------------------------------------------------------ a SYN flood's batches */

long mt_read_batch(int fd, char *buf, size_t cap, size_t frame, uint32_t limit, uint32_t *off, uint32_t *len)
{
    uint32_t n = 0;
    size_t at = 0;
    while (n < limit && cap - at >= frame) {
        const ssize_t got = read(fd, buf + at, frame);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (n || errno == EAGAIN || errno == EWOULDBLOCK)
                break; /* what was read is handled; a lasting error shows at the next read */
            return -errno;
        }
        off[n] = (uint32_t)at;
        len[n] = (uint32_t)got;
        n++;
        at += (size_t)got;
    }
    return n;
}

long mt_write_batch(int fd, const char *out, const uint32_t *olen, const uint8_t *row, uint32_t n)
{
    long dropped = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!row[i])
            continue;
        ssize_t put;
        do
            put = write(fd, out + (size_t)i * MT_SYNACK_SLOT, olen[i]);
        while (put < 0 && errno == EINTR);
        if (put < 0)
            dropped++; /* TunLink.send: EAGAIN (the device's buffer full) drops the packet */
    }
    return dropped;
}

/* The flows of the packets a batch hands to Python, as a Bloom filter: a SYN of one of them is
 * Python's too, after it (a false positive only sends a SYN the usual way). */
#define FLOW_BITS 8192

static uint32_t flow_hash(const uint8_t *addrs, size_t alen, const uint8_t *ports)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < 2 * alen; i++)
        h = (h ^ addrs[i]) * 16777619u;
    for (size_t i = 0; i < 4; i++)
        h = (h ^ ports[i]) * 16777619u;
    return h;
}

static inline int flow_seen(const uint8_t *bits, uint32_t h)
{
    const uint32_t a = h % FLOW_BITS, b = (h >> 13) % FLOW_BITS;
    return (bits[a >> 3] >> (a & 7) & 1) && (bits[b >> 3] >> (b & 7) & 1);
}

static inline void flow_add(uint8_t *bits, uint32_t h)
{
    const uint32_t a = h % FLOW_BITS, b = (h >> 13) % FLOW_BITS;
    bits[a >> 3] |= (uint8_t)(1u << (a & 7));
    bits[b >> 3] |= (uint8_t)(1u << (b & 7));
}

/* Where a packet's addresses and ports are, when it is TCP whose header this can find:
 * 1 with *addrs (source then destination, alen bytes each) and *tcp; 0 when it is not TCP;
 * -1 when it may be TCP behind what this does not walk (an IPv4 fragment, IPv6 extension
 * headers): its flow is unknown. */
static int tcp_flow(const uint8_t *ip, size_t len, const uint8_t **addrs, size_t *alen, const uint8_t **tcp)
{
    if (len >= 20 && ip[0] >> 4 == 4) {
        if (ip[9] != 6)
            return 0;
        const size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        if (rd16(ip + 6) & 0x3fff || ihl < 20 || len < ihl + 20)
            return rd16(ip + 6) & 0x3fff ? -1 : 0; /* a fragment; else no TCP header to act on */
        *addrs = ip + 12;
        *alen = 4;
        *tcp = ip + ihl;
        return 1;
    }
    if (len >= 40 && ip[0] >> 4 == 6) {
        const uint8_t next = ip[6];
        if (next != 6)
            return next == 17 || next == 58 || next == 59 ? 0 : -1; /* UDP, ICMPv6, none: no TCP */
        if (len < 60)
            return 0;
        *addrs = ip + 8;
        *alen = 16;
        *tcp = ip + 40;
        return 1;
    }
    return 0;
}

/* Host._cookie_reply4/6: a source no host has (is_martian_source, is_martian_source6) or ours. */
static int bad_source(const uint8_t *src, const uint8_t *dst, size_t alen)
{
    if (!memcmp(src, dst, alen))
        return 1;
    if (alen == 4)
        return src[0] == 0 || src[0] == 127 || src[0] >= 224;
    static const uint8_t zeros[10];
    if (src[0] == 0xff || (!memcmp(src, zeros, 10) && ((src[10] == 0 && src[11] == 0)
                                                        || (src[10] == 0xff && src[11] == 0xff))))
        return 1; /* multicast; below 2^32 (::/96); IPv4-mapped */
    return 0;
}

long mt_cookie_scan(const char *buf, const uint32_t *off, const uint32_t *len, uint32_t n,
                    const struct mt_cookie_table *t, uint8_t *row, char *out, uint32_t *olen, uint8_t *keys,
                    uint32_t *req)
{
    uint8_t seen[FLOW_BITS / 8];
    uint32_t room[MT_COOKIE_ROWS]; /* what each row's SYN queue still takes */
    memcpy(room, t->room, sizeof room);
    int opaque = 0; /* a packet handed to Python whose flow is unknown: every later one follows it */
    long answered = 0;
    memset(seen, 0, sizeof seen);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *ip = (const uint8_t *)buf + off[i];
        const uint8_t *addrs = NULL, *tcp = NULL;
        size_t alen = 0;
        const int kind = tcp_flow(ip, len[i], &addrs, &alen, &tcp);
        row[i] = 0;
        uint32_t h = 0;
        if (kind > 0) {
            h = flow_hash(addrs, alen, tcp);
            const int v6 = alen == 16;
            const uint8_t *ours = v6 ? t->addr6 : t->addr4;
            const uint32_t dport = rd16(tcp + 2);
            uint32_t r = t->nrows;
            if ((tcp[13] & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) == TCP_SYN && !opaque && (!v6 || t->has6)
                && !memcmp(addrs + alen, ours, alen) && !bad_source(addrs, addrs + alen, alen)
                && !flow_seen(seen, h))
                for (r = 0; r < t->nrows; r++)
                    if (t->port[r] == dport && !t->v6[r] == !v6)
                        break;
            const int request = r < t->nrows && room[r] > 0; /* inet_csk_reqsk_queue_is_full not yet */
            if (r < t->nrows && (request || t->cookie[r])) {
                char *o = out + (size_t)i * MT_SYNACK_SLOT;
                const long got = request
                    ? mt_request_synack((const char *)ip, len[i], 0, &t->params[r], t->isn_clock, t->ts_now, o,
                                        MT_SYNACK_SLOT, req + (size_t)i * MT_REQ_FIELDS)
                    : mt_cookie_synack((const char *)ip, len[i], 0, &t->params[r], t->count, t->ts_now, o,
                                       MT_SYNACK_SLOT);
                if (got > 0) {
                    /* conn_key(dst, dport, src, sport), big-endian in MT_KEY_LEN bytes. */
                    uint8_t *k = keys + (size_t)i * MT_KEY_LEN;
                    memset(k, 0, MT_KEY_LEN);
                    if (v6) {
                        memcpy(k, addrs + 16, 16);
                        memcpy(k + 16, tcp + 2, 2);
                        memcpy(k + 18, addrs, 16);
                        memcpy(k + 34, tcp, 2);
                    } else {
                        memcpy(k + 22, addrs + 4, 4);
                        memcpy(k + 26, tcp + 2, 2);
                        memcpy(k + 30, addrs, 4);
                        memcpy(k + 34, tcp, 2);
                    }
                    olen[i] = (uint32_t)got;
                    row[i] = (uint8_t)(r + 1);
                    answered++;
                    if (!request)
                        continue;
                    /* A request now holds the flow: a later packet of it is Python's. */
                    row[i] += MT_COOKIE_ROWS;
                    room[r]--;
                }
            }
            flow_add(seen, h);
        } else if (kind < 0) {
            opaque = 1;
        }
    }
    return answered;
}
