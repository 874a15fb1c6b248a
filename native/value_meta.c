/*
 * The meta blob of a v2 value page (drawn in src/obskit/encoding/valuepages.py) parsed and
 * validated in one pass: C twin of valuepages._parse_meta + _validate, so a page decodes with one
 * Python call. It accepts exactly what the Python parser accepts; on a rejection Python re-parses
 * to say why (the message comes from one place).
 */
#include "value_pages.h"

#include <stdlib.h>

static int uvarint_len(uint64_t n) {
    int len = 1;
    while (n >= 0x80) {
        n >>= 7;
        len++;
    }
    return len;
}

/* Segment-major layout (valuepages.segment_layout): segment s of every column that has one, in
 * page order, for s = 0, 1, ...; checks each segment's count and places it in the output. */
static int layout(vp_meta_t *m, const int64_t *val_at, const uint8_t *counts) {
    uint32_t *active = malloc(((size_t)m->n_cols + 1) * 4);
    if (!active) return VP_NO_MEMORY;
    size_t n_act = m->n_cols, i = 0;
    for (size_t c = 0; c < n_act; c++) active[c] = (uint32_t)c;
    for (uint64_t start = 0; n_act; start += m->seg_len) {
        size_t keep = 0;
        for (size_t a = 0; a < n_act; a++) {
            uint32_t c = active[a];
            uint64_t left = rd_u32(m->col_counts, c) - start;
            uint64_t n = left < m->seg_len ? left : m->seg_len;
            if (i >= m->k || rd_u32(counts, i) != n) {
                free(active);
                return VP_BAD_META;
            }
            m->seg[i++].out = val_at[c] + 8 * (int64_t)start;
            if (left > m->seg_len) active[keep++] = c;
        }
        n_act = keep;
    }
    free(active);
    return i == m->k ? VP_OK : VP_BAD_META;
}

/* A cross predictor's reference j of segment i: a decimal segment of the same length (and, for
 * negsum, the same exponent), as residuals.columns_from_residuals requires. */
static int bad_ref(const vp_seg_t *s, int64_t i, int64_t back, int same_exp) {
    if (back < 1 || back > i) return 1;
    const vp_seg_t *r = s + i - back;
    return r->kind != K_DEC || r->count != s[i].count || (same_exp && r->exp != s[i].exp);
}

static int validate(vp_meta_t *m) {
    vp_seg_t *s = m->seg;
    int64_t lanes = 0, exc_total = 0;
    for (int64_t i = 0; i < m->k; i++) {
        vp_seg_t *p = s + i;
        int live = p->kind != K_CONST;
        if (p->kind != K_CONST && p->kind != K_DEC && p->kind != K_FLT) return VP_BAD_META;
        if (p->count < 1 || (live && p->count < 2)) return VP_BAD_META;
        if (p->exp > MAX_DECIMAL_EXP || p->ma >= 7 || p->xpred > X_FSCALED) return VP_BAD_META;
        if (p->sh1 > 32 || p->sh2 > 32 || p->gcd < 1 || p->lat < 1) return VP_BAD_META;
        if ((p->n_exc > 0 && p->kind != K_DEC) || p->n_exc > p->count) return VP_BAD_META;
        exc_total += p->n_exc;
        p->lane = live ? lanes++ : -1;
        if (live && (int64_t)p->count - 1 > m->max_len) m->max_len = (int64_t)p->count - 1;
        int xp = live ? p->xpred : X_NONE;
        if (xp == X_NONE) continue;
        if (xp == X_FSCALED) {
            if (p->kind != K_FLT || p->gcd != 1 || p->ref1 < 1 || p->ref1 > i) return VP_BAD_META;
            const vp_seg_t *r = p - p->ref1;
            if (r->kind == K_CONST || (r->kind == K_FLT && r->xpred == X_FSCALED)) return VP_BAD_META;
            if (r->count != p->count) return VP_BAD_META;
            continue; /* reads the reference's output values, not its lane */
        }
        if (p->kind != K_DEC) return VP_BAD_META;
        int64_t far = p->ref1;
        if (xp == X_NEGSUM) {
            if (p->ref1 < 1) return VP_BAD_META;
            for (int64_t b = 1; b <= p->ref1; b++)
                if (bad_ref(s, i, b, 1)) return VP_BAD_META;
        } else {
            if (bad_ref(s, i, p->ref1, 0)) return VP_BAD_META;
            if (xp == X_LIN2) {
                if (bad_ref(s, i, p->ref2, 0)) return VP_BAD_META;
                if (p->ref2 > far) far = p->ref2;
            }
        }
        int64_t dist = p->lane - s[i - far].lane; /* the farthest reference is the oldest lane */
        if (dist > m->reach) m->reach = dist;
    }
    if (lanes != m->n_lanes || exc_total != m->n_exc) return VP_BAD_META;
    int64_t q = 0;
    for (int64_t i = 0; i < m->k; i++)
        for (uint32_t e = 0; e < s[i].n_exc; e++, q++)
            if (rd_u32(m->exc_pos, (size_t)q) >= s[i].count) return VP_BAD_META;
    for (uint32_t l = 0; l < m->n_lanes; l++)
        if (rd_u32(m->states, l) < RANS_LOW) return VP_BAD_META;
    return VP_OK;
}

int vp_meta_parse(const uint8_t *b, size_t len, int64_t raw_len, vp_meta_t *m) {
    memset(m, 0, sizeof *m);
    if (len < 36) return VP_BAD_META;
    m->n_cols = rd_u32(b, 0);
    m->seg_len = rd_u32(b, 1);
    m->k = rd_u32(b, 2);
    m->n_lanes = rd_u32(b, 3);
    m->n_words = rd_u32(b, 4);
    m->raw_bytes = rd_u32(b, 5);
    m->ts_len = rd_u32(b, 6);
    m->ctx_mask = rd_u32(b, 7);
    m->n_exc = rd_u32(b, 8);
    if (m->ctx_mask >> N_CTX) return VP_BAD_META;
    uint64_t n_used = (uint64_t)__builtin_popcount(m->ctx_mask), k = m->k, L = m->n_lanes;
    uint64_t want = 36 + (uint64_t)m->ts_len + 4 * (uint64_t)m->n_cols + 64 * k +
                    12 * (uint64_t)m->n_exc + 2 * N_TOK * n_used + 12 * L;
    if (want != len || m->seg_len < 1) return VP_BAD_META;
    const uint8_t *p = b + 36;
    m->ts = p;
    p += m->ts_len;
    m->col_counts = p;
    p += 4 * (size_t)m->n_cols;
    const uint8_t *u8f = p, *counts = p + 8 * k, *n_exc = p + 12 * k, *i64f = p + 16 * k;
    p += 64 * k;
    m->exc_pos = p;
    m->exc_bits = p + 4 * (size_t)m->n_exc;
    p += 12 * (size_t)m->n_exc;
    const uint8_t *freq = p;
    p += 2 * N_TOK * n_used;
    m->states = p;
    m->lane_words = p + 4 * L;
    m->lane_bytes = p + 8 * L;
    /* the decoded page: ts columns, then per value column codec byte | uvarint count | f64s */
    int64_t *val_at = malloc(((size_t)m->n_cols + 1) * 8);
    if (!val_at) return VP_NO_MEMORY;
    uint64_t at = m->ts_len, n_seg = 0;
    for (uint32_t c = 0; c < m->n_cols; c++) {
        uint64_t n = rd_u32(m->col_counts, c);
        if (n < 1) {
            free(val_at);
            return VP_BAD_META;
        }
        n_seg += (n + m->seg_len - 1) / m->seg_len;
        at += 1 + (uint64_t)uvarint_len(n);
        val_at[c] = (int64_t)at;
        at += 8 * n;
    }
    int rc = n_seg != k ? VP_BAD_META : at != (uint64_t)raw_len ? VP_BAD_LENGTH : VP_OK;
    if (rc == VP_OK) {
        m->seg = calloc(k + 1, sizeof(vp_seg_t));
        rc = m->seg ? layout(m, val_at, counts) : VP_NO_MEMORY;
    }
    free(val_at);
    if (rc != VP_OK) return rc;
    for (uint64_t i = 0; i < k; i++) {
        vp_seg_t *s = m->seg + i;
        s->kind = u8f[i];
        s->exp = u8f[k + i];
        s->xpred = u8f[2 * k + i];
        s->ref1 = u8f[3 * k + i];
        s->ref2 = u8f[4 * k + i];
        s->sh1 = u8f[5 * k + i];
        s->sh2 = u8f[6 * k + i];
        s->ma = u8f[7 * k + i];
        s->count = rd_u32(counts, i);
        s->n_exc = rd_u32(n_exc, i);
        s->first = (int64_t)rd_u64(i64f, i);
        s->gcd = (int64_t)rd_u64(i64f, k + i);
        s->lat = (int64_t)rd_u64(i64f, 2 * k + i);
        s->c = (int64_t)rd_u64(i64f, 3 * k + i);
        s->a1 = (int64_t)rd_u64(i64f, 4 * k + i);
        s->a2 = (int64_t)rd_u64(i64f, 5 * k + i);
    }
    uint64_t words = 0, raw = 0;
    for (uint64_t l = 0; l < L; l++) {
        words += rd_u32(m->lane_words, l);
        raw += rd_u32(m->lane_bytes, l);
    }
    if (words != m->n_words || raw != m->raw_bytes) return VP_BAD_META;
    size_t row = 0;
    for (int c = 0; c < N_CTX; c++) {
        if (!(m->ctx_mask >> c & 1)) continue;
        uint32_t sum = 0;
        for (int t = 0; t < N_TOK; t++) sum += m->freq[c][t] = rd_u16(freq, row * N_TOK + t);
        if (sum != PROB_SCALE) return VP_BAD_META;
        row++;
    }
    return validate(m);
}

void vp_meta_free(vp_meta_t *m) {
    free(m->seg);
    m->seg = NULL;
}
