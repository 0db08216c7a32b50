/* minitcp's C hot paths: Internet checksum, IPv4+TCP and IPv6+TCP parse and build.
 *
 * This file is read verbatim by cffi's cdef() (native/build_native.py), which
 * accepts declarations and integer #defines but no other preprocessor lines;
 * that is why it has no include guard and includes nothing. Include <stddef.h>
 * and <stdint.h> before it.
 */

/* Drop reasons, negated as return codes. Must equal minitcp.wire.errors.DropReason. */
enum {
    MT_TRUNCATED = 1,
    MT_BAD_VERSION = 2,
    MT_BAD_IHL = 3,
    MT_BAD_TOTAL_LENGTH = 4,
    MT_BAD_IP_CHECKSUM = 5,
    MT_FRAGMENT = 6,
    MT_NOT_TCP = 7,
    MT_BAD_DATA_OFFSET = 8,
    MT_BAD_OPTION = 9,
    MT_BAD_TCP_CHECKSUM = 10,
    MT_BAD_EXT_HEADER = 14,
    MT_UNKNOWN_OPTION = 15,
    MT_ROUTING_HEADER = 16
};

/* Slots of the uint32_t field array filled by mt_parse_tcp and read by
 * mt_build_tcp. The Python wrapper unpacks slots MT_F_SRC..MT_F_PAYLOAD_LEN in
 * this order with one struct call. In IPv6 (mt_parse_tcp6, mt_build_tcp6) the
 * 128-bit addresses travel as bytes instead (SRC and DST are unused), TTL holds
 * the hop limit, TOS the traffic class and IP_ID the flow label; DF is unused. */
enum {
    MT_F_SRC, MT_F_DST, MT_F_SPORT, MT_F_DPORT, MT_F_SEQ, MT_F_ACK, MT_F_FLAGS,
    MT_F_WINDOW, MT_F_URGENT, MT_F_TTL, MT_F_TOS, MT_F_IP_ID, MT_F_DF,
    MT_F_OPTS, MT_F_MSS, MT_F_WSCALE, MT_F_TS_VAL, MT_F_TS_ECR, MT_F_NSACK,
    MT_F_PAYLOAD_OFF, MT_F_PAYLOAD_LEN,
    MT_F_SACK,                   /* MT_MAX_SACK (left, right) pairs follow */
    MT_F_COUNT = MT_F_SACK + 8
};

/* Bits of MT_F_OPTS: which options were present. */
enum {
    MT_OPT_MSS = 1,
    MT_OPT_WSCALE = 2,
    MT_OPT_SACK_PERM = 4,
    MT_OPT_TS = 8
};

/* 40 bytes of option space hold at most 4 SACK blocks (RFC 2018 section 3). */
#define MT_MAX_SACK 4
/* Largest packet mt_build_tcp writes: the IPv4 total length is 16 bits (RFC 791). */
#define MT_MAX_PACKET 65535
/* Largest packet mt_build_tcp6 writes: a 16-bit payload length after the 40-byte header (RFC 8200). */
#define MT_MAX_PACKET6 65575

/* RFC 1071 one's-complement sum of buf added to initial, folded to 16 bits, not inverted. */
uint16_t mt_csum_add(const char *buf, size_t len, uint64_t initial);
/* ~mt_csum_add(): the value stored in a header. */
uint16_t mt_checksum(const char *buf, size_t len, uint64_t initial);
/* Folded sum of the IPv4 pseudo-header, RFC 9293 section 3.1. */
uint16_t mt_pseudo_header_sum(uint32_t src, uint32_t dst, uint32_t proto, uint32_t length);
/* Folded sum of the IPv6 pseudo-header, RFC 8200 section 8.1; src and dst are 16 bytes each. */
uint16_t mt_pseudo_header_sum6(const char *src, const char *dst, uint32_t proto, uint32_t length);
/* RFC 1624 eqn. 3: stored checksum after a 16- or 32-bit field changed from old to new. */
uint16_t mt_csum_update16(uint16_t csum, uint16_t old, uint16_t new_);
uint16_t mt_csum_update32(uint16_t csum, uint32_t old, uint32_t new_);

/* Validate an IPv4 packet carrying TCP and fill f[MT_F_COUNT]. 0 or -reason. */
int mt_parse_tcp(const char *buf, size_t len, uint32_t *f);
/* The same for a packet whose TCP checksum field holds only the pseudo-header sum, left
 * for the device to complete (virtio_net_hdr NEEDS_CSUM): everything but that checksum. */
int mt_parse_tcp_csum_partial(const char *buf, size_t len, uint32_t *f);
/* Write IPv4 + TCP header + options + payload from f[MT_F_COUNT] into out.
 * Returns the packet length, or -1 if a field is out of range or the packet
 * would exceed cap or MT_MAX_PACKET bytes. */
long mt_build_tcp(char *out, size_t cap, const uint32_t *f, const char *payload, size_t plen);
/* Validate an IPv6 packet carrying TCP, walking its extension headers (RFC 8200
 * section 4) to the TCP header, and fill f[MT_F_COUNT]. 0 or -reason. */
int mt_parse_tcp6(const char *buf, size_t len, uint32_t *f);
/* mt_parse_tcp6 without the TCP checksum check, as mt_parse_tcp_csum_partial. */
int mt_parse_tcp6_csum_partial(const char *buf, size_t len, uint32_t *f);
/* Write IPv6 + TCP header + options + payload from f[MT_F_COUNT] and addrs (source then
 * destination, 16 bytes each) into out. The packet length, or -1 as mt_build_tcp. */
long mt_build_tcp6(char *out, size_t cap, const uint32_t *f, const char *addrs, const char *payload,
                   size_t plen);

/* A SipHash key as Linux's siphash_key_t: its 16 bytes as two little-endian words. */
struct mt_siphash_key {
    uint64_t key[2];
};
/* The words of the 16-byte key into out. */
void mt_siphash_key(const char *key, struct mt_siphash_key *out);
/* SipHash-2-4 (Linux lib/siphash.c) of len bytes of data under the 16-byte key: the 64-bit
 * value minitcp.tcp.siphash.siphash_pure gives. */
uint64_t mt_siphash(const char *key, const char *data, size_t len);

/* What a listener answers a SYN with when it sends a cookie, fixed for it until its socket
 * options or the knobs change (minitcp.tcp.cookie_synack.CookieParams). */
struct mt_cookie_params {
    struct mt_siphash_key syncookie[2];  /* Linux syncookie_secret[0..1] (IsnGenerator's), */
    struct mt_siphash_key syncookie6[2]; /* syncookie6_secret[0..1] for IPv6 SYNs, */
    struct mt_siphash_key ts;            /* and ts_secret (secure_tcp_ts_off) */
    uint32_t msstab[4];    /* Linux msstab of the family (syncookies.c) */
    uint32_t user_mss;     /* TCP_MAXSEG of the listener, 0 when unset */
    uint32_t advmss;       /* the MSS we offer */
    uint32_t window;       /* the SYN-ACK's window without timestamps, */
    uint32_t window_ts;    /* and with them (tcp_openreq_init_rwin) */
    uint32_t rcv_wscale;   /* our window scale */
    uint32_t timestamps;   /* tcp_timestamps, tcp_window_scaling, tcp_sack, tcp_ecn: nonzero when on */
    uint32_t window_scaling;
    uint32_t sack;
    uint32_t ecn;
    uint32_t ttl;          /* IP_TTL or ip_default_ttl; the hop limit over IPv6 */
    uint32_t tos;          /* IP_TOS; the traffic class over IPv6 */
    struct mt_siphash_key net; /* net_secret (secure_tcp_seq): a request sock's ISN */
    uint32_t df;           /* DF on a request sock's SYN-ACK (a cookie's always has it) */
};

/* The cookie SYN-ACK answering the SYN in buf (IPv4 or IPv6, by its version), as Linux's
 * tcp_conn_request with want_cookie: the cookie (cookie_init_sequence) as its sequence number,
 * the SYN's options echoed through the TSval's low bits (cookie_init_timestamp). count is
 * the cookie clock (tcp_cookie_time), ts_now our timestamp clock in ms before the offset.
 * Returns the packet's length in out; 0 when buf is a valid segment but not a SYN a
 * listener may answer so (ACK, RST or FIN set); -reason when it is not a valid packet. */
long mt_cookie_synack(const char *buf, size_t len, int csum_partial, const struct mt_cookie_params *p,
                      uint32_t count, uint32_t ts_now, char *out, size_t cap);

/* What a request sock made for a SYN holds besides its four-tuple (minitcp.tcp.reqsk.RequestSock,
 * minitcp.tcp.request_synack): req[MT_REQ_FIELDS], these slots. */
enum {
    MT_REQ_ISS, MT_REQ_IRS, MT_REQ_MSS, MT_REQ_WSCALE, MT_REQ_BITS, MT_REQ_TS_VAL, MT_REQ_WINDOW,
    MT_REQ_TS_OFFSET, MT_REQ_FIELDS
};
/* Bits of req[MT_REQ_BITS]: what the SYN carried and what was agreed (tcp_openreq_init). */
enum {
    MT_REQ_HAS_WSCALE = 1, MT_REQ_HAS_TS = 2, MT_REQ_PEER_SACK = 4, MT_REQ_TS_OK = 8,
    MT_REQ_WSCALE_OK = 16, MT_REQ_SACK_OK = 32, MT_REQ_ECN_OK = 64, MT_REQ_DATA = 128
};

/* The SYN-ACK of the request sock a listener with room in its SYN queue makes for the SYN in buf
 * (Linux tcp_conn_request without want_cookie, tcp_openreq_init, tcp_make_synack): our ISN is
 * secure_tcp_seq's (isn_clock: the 64 ns clock, seq_scale), our TSval ts_now plus the peer's
 * offset (secure_tcp_ts_off); the request's fields in req[MT_REQ_FIELDS]. Returns as
 * mt_cookie_synack. */
long mt_request_synack(const char *buf, size_t len, int csum_partial, const struct mt_cookie_params *p,
                       uint32_t isn_clock, uint32_t ts_now, char *out, size_t cap, uint32_t *req);

/* ------------------------------------------------------------------ a SYN flood's batches */

/* Rows of struct mt_cookie_table: listening ports in cookie mode, per family. */
#define MT_COOKIE_ROWS 16
/* Bytes of each SYN-ACK's slot in mt_cookie_scan's out: as mt_cookie_synack's cap. */
#define MT_SYNACK_SLOT 128
/* Bytes of each conn_key in mt_cookie_scan's keys: big-endian, right-aligned (IPv6's 288 bits). */
#define MT_KEY_LEN 36

/* What the host hands its link while a listener is in cookie mode or filling its SYN queue
 * (minitcp.host.cookie_batch): our addresses, the clocks of this batch, and a row per (family,
 * port) whose listener answers SYNs now: room[] of them with request socks, then with cookies
 * when cookie[] says so. */
struct mt_cookie_table {
    uint8_t addr4[4];                 /* our IPv4 address */
    uint8_t addr6[16];                /* our IPv6 address, when has6 */
    uint32_t has6;
    uint32_t count;                   /* the cookie clock (tcp_cookie_time) */
    uint32_t ts_now;                  /* our timestamp clock in ms, before the offset */
    uint32_t nrows;
    uint32_t port[MT_COOKIE_ROWS];    /* the listening port of each row */
    uint32_t v6[MT_COOKIE_ROWS];      /* and its family (nonzero: IPv6) */
    struct mt_cookie_params params[MT_COOKIE_ROWS];
    uint32_t isn_clock;               /* the ISN clock (seq_scale: ns >> 6) */
    uint32_t room[MT_COOKIE_ROWS];    /* the requests each row's SYN queue takes before it is full */
    uint32_t cookie[MT_COOKIE_ROWS];  /* nonzero: once full, the row answers with cookies */
};

/* Read packets from the non-blocking fd (a TUN device) into buf, each read offered frame bytes,
 * until EAGAIN, limit packets, or fewer than frame bytes left in cap: packet i is at off[i], of
 * len[i] bytes. The number read; -errno when the first read failed otherwise than with EAGAIN. */
long mt_read_batch(int fd, char *buf, size_t cap, size_t frame, uint32_t limit, uint32_t *off, uint32_t *len);

/* For each of the n packets of buf (off[i], len[i]): the SYN-ACK answering it when it is a valid
 * SYN without ACK, RST or FIN, from a source that is no martian and not us, to our address and a
 * row's port, and no earlier packet of the batch handed to Python or made a request was of its
 * flow (that one must be handled first): a request sock's while the row has room (row[i] is then
 * 1 + MT_COOKIE_ROWS + the row, the request's fields at req + i * MT_REQ_FIELDS), else a cookie's
 * when the row says so (row[i] is 1 + the row). The SYN-ACK is at out + i * MT_SYNACK_SLOT
 * (olen[i] bytes), its four-tuple's conn_key at keys + i * MT_KEY_LEN; else row[i] is 0 and the
 * packet is Python's. Returns the number of SYN-ACKs. */
long mt_cookie_scan(const char *buf, const uint32_t *off, const uint32_t *len, uint32_t n,
                    const struct mt_cookie_table *t, uint8_t *row, char *out, uint32_t *olen, uint8_t *keys,
                    uint32_t *req);

/* Write to fd the SYN-ACK of each packet i < n with row[i] nonzero (out + i * MT_SYNACK_SLOT,
 * olen[i] bytes). The number the device refused (EAGAIN and other errors: dropped, as a
 * congested queue drops). */
long mt_write_batch(int fd, const char *out, const uint32_t *olen, const uint8_t *row, uint32_t n);
