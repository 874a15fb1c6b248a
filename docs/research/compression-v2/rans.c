/* Static-table rANS over hybrid tokens with context = bit length of mean(u[t-1], u[t-2]).
   Tokens: u < 16 -> u; else n = bitlen(u), token = 16 + 2*(n-5) + bit(n-2), n-2 raw bits.
   Raw bits go to a separate little-endian bit stream. 32-bit rANS state, byte renormalisation,
   12-bit probabilities (ryg_rans layout). */
#include <stdint.h>
#include <string.h>
#ifndef PROB_BITS
#define PROB_BITS 11
#endif
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_L (1u << 23)
#define NTOK 136
#define NCTX 65

static inline int blen(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }
static inline int ctx_of(uint64_t u1, uint64_t u2) {
    uint64_t s = (u1 >> 1) + (u2 >> 1) + (u1 & u2 & 1); return blen(s);
}
static inline void tokenize(uint64_t u, int *tok, int *nb, uint64_t *extra) {
    if (u < 16) { *tok = (int)u; *nb = 0; *extra = 0; return; }
    int n = blen(u); *tok = 16 + 2 * (n - 5) + (int)((u >> (n - 2)) & 1); *nb = n - 2;
    *extra = u & ((n - 2 == 64) ? ~0ull : ((1ull << (n - 2)) - 1));
}
/* histogram of (ctx, token) for tables: cnt[NCTX*NTOK] */
void histo(const uint64_t *u, const int64_t *colstart, int ncol, uint32_t *cnt) {
    for (int c = 0; c < ncol; c++) {
        uint64_t u1 = 0, u2 = 0;
        for (int64_t i = colstart[c]; i < colstart[c + 1]; i++) {
            int tok, nb; uint64_t ex; tokenize(u[i], &tok, &nb, &ex);
            cnt[ctx_of(u1, u2) * NTOK + tok]++; u2 = u1; u1 = u[i];
        }
    }
}
/* encode; freq/cum: [NCTX*NTOK]; returns bytes of rans stream written at out_rans (filled from end
   of a buffer of cap bytes; *rans_begin receives the start offset) and raw bit bytes in out_bits */
int64_t encode(const uint64_t *u, const int64_t *colstart, int ncol, const uint32_t *freq, const uint32_t *cum,
               uint8_t *rbuf, int64_t cap, int64_t *rans_begin, uint8_t *bbuf, int64_t *nbits_bytes, int *ctxbuf, int *tokbuf) {
    int64_t n = colstart[ncol];
    /* forward pass: contexts, tokens, raw bits */
    uint64_t acc = 0; int accn = 0; int64_t bp = 0;
    for (int c = 0; c < ncol; c++) {
        uint64_t u1 = 0, u2 = 0;
        for (int64_t i = colstart[c]; i < colstart[c + 1]; i++) {
            int tok, nb; uint64_t ex; tokenize(u[i], &tok, &nb, &ex);
            ctxbuf[i] = ctx_of(u1, u2); tokbuf[i] = tok; u2 = u1; u1 = u[i];
            while (nb > 0) {
                int take = nb > 32 ? 32 : nb;
                acc |= (ex & ((1ull << take) - 1)) << accn; accn += take; ex >>= take; nb -= take;
                while (accn >= 8) { bbuf[bp++] = (uint8_t)acc; acc >>= 8; accn -= 8; }
            }
        }
    }
    if (accn) bbuf[bp++] = (uint8_t)acc;
    memset(bbuf + bp, 0, 8);
    *nbits_bytes = bp;
    /* backward rANS */
    uint8_t *ptr = rbuf + cap; uint32_t x = RANS_L;
    for (int64_t i = n - 1; i >= 0; i--) {
        int k = ctxbuf[i] * NTOK + tokbuf[i];
        uint32_t f = freq[k], st = cum[k];
        uint32_t xmax = ((RANS_L >> PROB_BITS) << 8) * f;
        while (x >= xmax) { *--ptr = (uint8_t)x; x >>= 8; }
        x = ((x / f) << PROB_BITS) + (x % f) + st;
    }
    ptr -= 4; ptr[0] = x; ptr[1] = x >> 8; ptr[2] = x >> 16; ptr[3] = x >> 24;
    *rans_begin = ptr - rbuf;
    return (rbuf + cap) - ptr;
}
/* decode tables: sym[NCTX*PROB_SCALE] (uint8 token per slot) */
void build_sym(const uint32_t *freq, const uint32_t *cum, uint8_t *sym) {
    for (int c = 0; c < NCTX; c++) for (int t = 0; t < NTOK; t++) {
        uint32_t f = freq[c * NTOK + t], s = cum[c * NTOK + t];
        for (uint32_t j = 0; j < f; j++) sym[c * PROB_SCALE + s + j] = (uint8_t)t;
    }
}
void decode(const uint8_t *rans, const uint8_t *bits, const int64_t *colstart, int ncol,
            const uint32_t *freq, const uint32_t *cum, const uint8_t *sym, uint64_t *u) {
    const uint8_t *ptr = rans;
    uint32_t x = ptr[0] | (ptr[1] << 8) | (ptr[2] << 16) | ((uint32_t)ptr[3] << 24); ptr += 4;
    uint64_t bitpos = 0;
    for (int c = 0; c < ncol; c++) {
        uint64_t u1 = 0, u2 = 0;
        for (int64_t i = colstart[c]; i < colstart[c + 1]; i++) {
            int cx = ctx_of(u1, u2);
            uint32_t slot = x & (PROB_SCALE - 1);
            int tok = sym[cx * PROB_SCALE + slot];
            int k = cx * NTOK + tok;
            x = freq[k] * (x >> PROB_BITS) + slot - cum[k];
            while (x < RANS_L) x = (x << 8) | *ptr++;
            uint64_t v;
            if (tok < 16) v = tok;
            else {
                int n = (tok - 16) / 2 + 5, nb = n - 2;
                uint64_t ex = 0; int got = 0;
                while (got < nb) {
                    int take = nb - got > 32 ? 32 : nb - got;
                    uint64_t w; memcpy(&w, bits + (bitpos >> 3), 8);
                    ex |= ((w >> (bitpos & 7)) & ((1ull << take) - 1)) << got; bitpos += take; got += take;
                }
                v = (1ull << (n - 1)) | ((uint64_t)((tok - 16) & 1) << (n - 2)) | ex;
            }
            u[i] = v; u2 = u1; u1 = v;
        }
    }
}

/* packed decode table: entry = tok | (freq << 8) | ((slot - cum) << 20)  (freq <= 2048 fits 12 bits) */
int build_packed(const uint32_t *freq, const uint32_t *cum, uint32_t *tab, const uint8_t *used) {
    int w = 0;
    for (int c = 0; c < NCTX; c++) { if (!used[c]) continue;
        for (int t = 0; t < NTOK; t++) {
            uint32_t f = freq[c * NTOK + t], s = cum[c * NTOK + t];
            for (uint32_t j = 0; j < f; j++) { tab[c * PROB_SCALE + s + j] = t | (f << 8) | (j << 20); w++; }
        } }
    return w;
}
void decode2(const uint8_t *rans, const uint8_t *bits, const int64_t *colstart, int ncol,
             const uint32_t *tab, uint64_t *u) {
    const uint8_t *ptr = rans;
    uint32_t x; memcpy(&x, ptr, 4); ptr += 4;
    uint64_t bitpos = 0;
    for (int c = 0; c < ncol; c++) {
        uint64_t u1 = 0, u2 = 0;
        int64_t e = colstart[c + 1];
        for (int64_t i = colstart[c]; i < e; i++) {
            int cx = ctx_of(u1, u2);
            uint32_t slot = x & (PROB_SCALE - 1);
            uint32_t ent = tab[cx * PROB_SCALE + slot];
            int tok = ent & 255;
            x = ((ent >> 8) & 4095) * (x >> PROB_BITS) + (ent >> 20);
            if (x < RANS_L) { x = (x << 8) | *ptr++; if (x < RANS_L) x = (x << 8) | *ptr++; }
            uint64_t v = tok;
            if (tok >= 16) {
                int n = ((tok - 16) >> 1) + 5, nb = n - 2;
                uint64_t w; memcpy(&w, bits + (bitpos >> 3), 8);
                uint64_t ex;
                if (nb <= 56) { ex = (w >> (bitpos & 7)) & ((1ull << nb) - 1); bitpos += nb; }
                else { ex = (w >> (bitpos & 7)) & 0xFFFFFFFFull; bitpos += 32;
                       memcpy(&w, bits + (bitpos >> 3), 8); ex |= ((w >> (bitpos & 7)) & ((1ull << (nb - 32)) - 1)) << 32; bitpos += nb - 32; }
                v = (1ull << (n - 1)) | ((uint64_t)((tok - 16) & 1) << (n - 2)) | ex;
            }
            u[i] = v; u2 = u1; u1 = v;
        }
    }
}
