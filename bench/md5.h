/*
 * md5.h: MD5 (RFC 1321) and HMAC-MD5 (RFC 2104) for the bench load generators
 * (radblast.c, tacblast.c), so each builds with nothing but a C compiler:
 *     cc -O2 -o radblast radblast.c -lm
 * Header-only; every function is static inline.  Call md5_tables() once
 * before hashing anything.
 */
#ifndef NAC_BENCH_MD5_H
#define NAC_BENCH_MD5_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t h[4];
    uint64_t total;   /* bytes fed so far */
    uint8_t buf[64];
    size_t n;         /* bytes waiting in buf */
} md5_ctx;

static uint32_t md5_k[64];
static const uint8_t md5_s[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};
static uint8_t md5_g[64];

static inline void md5_tables(void)
{
    for (int i = 0; i < 64; i++) {
        md5_k[i] = (uint32_t)floor(fabs(sin((double)(i + 1))) * 4294967296.0);
        if (i < 16)
            md5_g[i] = (uint8_t)i;
        else if (i < 32)
            md5_g[i] = (uint8_t)((5 * i + 1) % 16);
        else if (i < 48)
            md5_g[i] = (uint8_t)((3 * i + 5) % 16);
        else
            md5_g[i] = (uint8_t)((7 * i) % 16);
    }
}

static inline uint32_t rotl32(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

static inline void md5_block(uint32_t h[4], const uint8_t *p)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | ((uint32_t)p[4 * i + 1] << 8) |
               ((uint32_t)p[4 * i + 2] << 16) | ((uint32_t)p[4 * i + 3] << 24);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        if (i < 16)
            f = (b & c) | (~b & d);
        else if (i < 32)
            f = (d & b) | (~d & c);
        else if (i < 48)
            f = b ^ c ^ d;
        else
            f = c ^ (b | ~d);
        f = f + a + md5_k[i] + m[md5_g[i]];
        a = d;
        d = c;
        c = b;
        b = b + rotl32(f, md5_s[i]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

static inline void md5_init(md5_ctx *c)
{
    c->h[0] = 0x67452301u;
    c->h[1] = 0xefcdab89u;
    c->h[2] = 0x98badcfeu;
    c->h[3] = 0x10325476u;
    c->total = 0;
    c->n = 0;
}

static inline void md5_update(md5_ctx *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->total += len;
    if (c->n) {
        size_t take = 64 - c->n < len ? 64 - c->n : len;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        len -= take;
        if (c->n < 64)
            return;
        md5_block(c->h, c->buf);
        c->n = 0;
    }
    while (len >= 64) {
        md5_block(c->h, p);
        p += 64;
        len -= 64;
    }
    memcpy(c->buf, p, len);
    c->n = len;
}

static inline void md5_final(md5_ctx *c, uint8_t out[16])
{
    uint64_t bits = c->total * 8;
    uint8_t pad = 0x80;
    md5_update(c, &pad, 1);
    uint8_t zero[64] = {0};
    size_t fill = (c->n <= 56) ? 56 - c->n : 120 - c->n;
    md5_update(c, zero, fill);
    uint8_t lenle[8];
    for (int i = 0; i < 8; i++)
        lenle[i] = (uint8_t)(bits >> (8 * i));
    md5_update(c, lenle, 8);
    for (int i = 0; i < 4; i++) {
        out[4 * i] = (uint8_t)c->h[i];
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 3] = (uint8_t)(c->h[i] >> 24);
    }
}

/* HMAC-MD5 with the key pads absorbed once (the shared secret never changes). */
typedef struct {
    md5_ctx inner, outer;
} hmac_key;

static inline void hmac_md5_key(hmac_key *k, const uint8_t *key, size_t klen)
{
    uint8_t kb[64] = {0}, pad[64];
    if (klen > 64) {
        md5_ctx c;
        md5_init(&c);
        md5_update(&c, key, klen);
        md5_final(&c, kb);
    } else {
        memcpy(kb, key, klen);
    }
    for (int i = 0; i < 64; i++)
        pad[i] = kb[i] ^ 0x36;
    md5_init(&k->inner);
    md5_update(&k->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = kb[i] ^ 0x5c;
    md5_init(&k->outer);
    md5_update(&k->outer, pad, 64);
}

static inline void hmac_md5(const hmac_key *k, const uint8_t *msg, size_t len, uint8_t out[16])
{
    md5_ctx c = k->inner;
    uint8_t ih[16];
    md5_update(&c, msg, len);
    md5_final(&c, ih);
    c = k->outer;
    md5_update(&c, ih, 16);
    md5_final(&c, out);
}

static inline int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

#endif /* NAC_BENCH_MD5_H */
