/*
 * v2 value pages: the rANS lane encoder and the whole value decoder (entropy decode, temporal and
 * cross-series inverse predictors, decimal scaling) of one page. C twins of the numpy reference
 * in src/obskit/encoding/{rans,residuals,valuepages}.py; the format is drawn there. Python has
 * validated every header field before calling (kinds, refs, ranges, table sums); the only damage
 * found here is a word or raw-bit stream that runs short or long, reported as an error code.
 * Columns land at the output offsets Python computed (P_OUT, validated to fit the output).
 * Integer arithmetic is unsigned 64-bit (wraps like numpy's int64 arrays); the fscaled predictor
 * uses IEEE double add/multiply only, compiled with -ffp-contract=off like the rest.
 */
#include "column_kernels.h"

#include <math.h>
#include <stdlib.h>

#define N_CTX 17
#define N_TOK 136
#define PROB_BITS 11
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_LOW (1u << 16)

enum { K_CONST = 1, K_DEC = 7, K_FLT = 8 };
enum { X_NONE, X_DIFF, X_SCALED, X_LIN2, X_NEGSUM, X_FSCALED };
/* Column of the parameter matrix (one row of 16 int64 per column, valuepages.py builds it). */
enum { P_KIND, P_COUNT, P_EXP, P_XPRED, P_REF1, P_REF2, P_SH1, P_SH2, P_MA, P_FIRST, P_GCD,
       P_LAT, P_C, P_A1, P_A2, P_NEXC, P_OUT, P_FIELDS };
enum { OK, WORDS_SHORT, RAW_SHORT, WORDS_LONG, FIELD_LONG };

static inline int bitlen64(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }

/* ---------------------------------------------------------------- encoder */

/* Each lane l = [starts[l], +lens[l]) of per-symbol (freq, cum) into its own word stream (in the
 * order the decoder reads it), appended to words; returns the total word count. scratch holds
 * as many words as the longest lane. */
static Py_ssize_t encode_lanes(const int64_t *freq, const int64_t *cum, const int64_t *starts,
                               const int64_t *lens, Py_ssize_t n_lanes, uint16_t *words,
                               uint16_t *scratch, int64_t scratch_len, int64_t *lane_words,
                               uint32_t *states) {
    Py_ssize_t out = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        uint16_t *w = scratch + scratch_len;
        uint64_t x = RANS_LOW;
        const int64_t *f = freq + starts[l], *c = cum + starts[l];
        for (int64_t t = lens[l] - 1; t >= 0; t--) {
            uint64_t ft = (uint64_t)f[t];
            if (x >= ((uint64_t)(RANS_LOW >> PROB_BITS) << 16) * ft) {
                *--w = (uint16_t)x;
                x >>= 16;
            }
            x = ((x / ft) << PROB_BITS) + (x % ft) + (uint64_t)c[t];
        }
        Py_ssize_t n = (scratch + scratch_len) - w;
        memcpy(words + out, w, (size_t)n * 2);
        out += n;
        lane_words[l] = n;
        states[l] = (uint32_t)x;
    }
    return out;
}

PyObject *py_rans_encode_lanes(PyObject *self, PyObject *args) {
    Py_buffer bf, bc, bs, bl, bw, blw, bst;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*", &bf, &bc, &bs, &bl, &bw, &blw, &bst))
        return NULL;
    PyObject *ret = NULL;
    uint16_t *scratch = NULL;
    Py_ssize_t n = bf.len / 8, n_lanes = bs.len / 8;
    if (bc.len != bf.len || bl.len != bs.len || bw.len < n * 2 || bst.len != n_lanes * 4 ||
        blw.len != n_lanes * 8) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to rans_encode_lanes");
        goto done;
    }
    const int64_t *starts = bs.buf, *lens = bl.buf, *freq = bf.buf;
    int64_t longest = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        if (starts[l] < 0 || lens[l] < 0 || starts[l] + lens[l] > n) {
            PyErr_SetString(PyExc_ValueError, "rans_encode_lanes: lane outside the symbols");
            goto done;
        }
        if (lens[l] > longest) longest = lens[l];
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (freq[i] < 1 || freq[i] > (int64_t)PROB_SCALE) {
            PyErr_SetString(PyExc_ValueError, "rans_encode_lanes: frequency out of range");
            goto done;
        }
    }
    scratch = malloc((size_t)longest * 2 + 2);
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t got;
    Py_BEGIN_ALLOW_THREADS;
    got = encode_lanes(freq, bc.buf, starts, lens, n_lanes, bw.buf, scratch, longest, blw.buf,
                       bst.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromSsize_t(got);
done:
    free(scratch);
    PyBuffer_Release(&bf);
    PyBuffer_Release(&bc);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&blw);
    PyBuffer_Release(&bst);
    return ret;
}

/* ---------------------------------------------------------------- decoder */

typedef struct {
    uint64_t base[N_TOK]; /* leading bits of q per token (the token itself below 16) */
    int nq[N_TOK];        /* extra bits of q per token */
} tokinfo_t;

/* Decode tables of one page: token per (context, slot) (35 KiB: L1-resident with fc) and
 * frequency | cumulative << 16 per (context, token). */
typedef struct {
    uint8_t sym[N_CTX * PROB_SCALE];
    uint32_t fc[N_CTX * N_TOK];
} tables_t;

/* One lane's decoding state (kept in registers by the compiler inside decode_lanes2). */
typedef struct {
    const uint16_t *w;
    const uint8_t *raw;
    int64_t *e;
    int64_t n_words, len, wpos, c;
    uint64_t raw_bits, bpos, u1, s;
    uint32_t x, ctx;
    int xsh, k, shk;
} lane_t;

/* Entropy decode + temporal inverse of sample t of one lane. Words and raw bits are read from
 * zero-padded buffers; every sample checks it stays inside the lane's streams (never taken on
 * valid pages, so the branches predict perfectly). */
static inline int lane_step(lane_t *L, const tables_t *tb, const tokinfo_t *ti, int64_t t,
                            int ma) {
    uint32_t x = L->x;
    uint32_t slot = x & (PROB_SCALE - 1);
    int tok = tb->sym[L->ctx * PROB_SCALE + slot];
    uint32_t fc = tb->fc[L->ctx * N_TOK + (uint32_t)tok];
    x = (fc & 0xFFFF) * (x >> PROB_BITS) + slot - (fc >> 16);
    int need = x < RANS_LOW;
    if (need && L->wpos >= L->n_words) return WORDS_SHORT;
    uint32_t xr = (x << 16) | L->w[L->wpos];
    L->x = need ? xr : x;
    L->wpos += need;
    int xsh = L->xsh;
    int nb = ti->nq[tok] + xsh;
    if (nb > 62) return FIELD_LONG;
    uint64_t bpos = L->bpos;
    if (bpos + (uint64_t)nb > L->raw_bits) return RAW_SHORT;
    uint64_t lo = load_u64(L->raw + (bpos >> 3));
    int bsh = (int)(bpos & 7);
    uint64_t hi = (uint64_t)L->raw[(bpos >> 3) + 8];
    uint64_t val = ((lo >> bsh) | ((hi << 1) << (63 - bsh))) & ((1ull << nb) - 1);
    L->bpos = bpos + (uint64_t)nb;
    uint64_t u = ((ti->base[tok] | (val >> xsh)) << xsh) | (val & ((1ull << xsh) - 1));
    uint64_t u1 = L->u1;
    uint64_t m = (u >> 1) + (u1 >> 1) + (u & u1 & 1);
    int cb = bitlen64(m);
    int cx = cb < N_CTX - 1 ? cb : N_CTX - 1;
    L->ctx = (uint32_t)cx;
    L->xsh = cb - cx;
    L->u1 = u;
    if (!ma) { /* constant prediction */
        L->e[t] = (int64_t)(unzigzag(u) + (uint64_t)L->c);
        return OK;
    }
    uint64_t ev = unzigzag(u) + (uint64_t)((int64_t)L->s >> L->shk);
    L->e[t] = (int64_t)ev;
    L->s += ev - (t >= L->k ? (uint64_t)L->e[t - L->k] : (uint64_t)L->c);
    return OK;
}

static inline int lane_end(const lane_t *L) { return L->wpos == L->n_words ? OK : WORDS_LONG; }

/* Two lanes stepped together: their dependency chains (state -> table -> token -> context)
 * are independent, so the CPU overlaps them. */
#define STEP2(MA_A, MA_B)                                                                      \
    for (int64_t t = 0; t < both && rc == OK; t++) {                                           \
        int ra = lane_step(&A, tb, ti, t, MA_A);                                               \
        int rb = lane_step(&B, tb, ti, t, MA_B);                                               \
        rc = ra ? ra : rb;                                                                     \
    }

static int decode_lanes2(lane_t *a, lane_t *b, const tables_t *tb, const tokinfo_t *ti) {
    lane_t A = *a, B = *b;
    int64_t both = A.len < B.len ? A.len : B.len;
    int rc = OK;
    /* the temporal predictor kind is fixed per lane: one loop per combination */
    if (A.k && B.k) {
        STEP2(1, 1)
    } else if (A.k) {
        STEP2(1, 0)
    } else if (B.k) {
        STEP2(0, 1)
    } else {
        STEP2(0, 0)
    }
    for (int64_t t = both; t < A.len && rc == OK; t++) rc = lane_step(&A, tb, ti, t, A.k);
    for (int64_t t = both; t < B.len && rc == OK; t++) rc = lane_step(&B, tb, ti, t, B.k);
    if (rc == OK) rc = lane_end(&A);
    if (rc == OK) rc = lane_end(&B);
    return rc;
}

static inline uint64_t fixed_scale(uint64_t d, int64_t m, int s) {
    uint64_t hi = (uint64_t)((int64_t)d >> 32);
    uint64_t lo = (d & 0xFFFFFFFFull) * (uint64_t)m;
    if (s) lo += 1ull << (s - 1);
    return ((hi * (uint64_t)m) << (32 - s)) + (uint64_t)((int64_t)lo >> s);
}

static inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b) != 0 && a < 0) q -= 1;
    return q;
}

static inline uint64_t lattice(uint64_t q, int64_t g) {
    if (g == 1) return q;
    int64_t a = (int64_t)(q + (uint64_t)(g >> 1));
    return (uint64_t)floor_div(a, g) * (uint64_t)g;
}

/* Columns from the lanes' e (turned into d in place for decimal columns). */
static void rebuild(const int64_t *P, Py_ssize_t k, int64_t **col_e, const int64_t *exc_pos,
                    const uint64_t *exc_bits, double *out) {
    int64_t exc_at = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        const int64_t *p = P + i * P_FIELDS;
        int64_t n = p[P_COUNT];
        double *v = out + p[P_OUT];
        uint64_t *vb = (uint64_t *)v;
        if (p[P_KIND] == K_CONST) {
            for (int64_t t = 0; t < n; t++) vb[t] = (uint64_t)p[P_FIRST];
            continue;
        }
        uint64_t *d = (uint64_t *)col_e[i];
        int xp = (int)p[P_XPRED];
        if (xp == X_FSCALED) {
            int64_t j = i - p[P_REF1];
            const double *x = out + P[j * P_FIELDS + P_OUT];
            double a;
            memcpy(&a, &p[P_A1], 8);
            vb[0] = (uint64_t)p[P_FIRST];
            for (int64_t t = 1; t < n; t++) {
                double pr = v[t - 1] + a * (x[t] - x[t - 1]);
                if (!isfinite(pr)) pr = v[t - 1];
                uint64_t pb;
                memcpy(&pb, &pr, 8);
                vb[t] = pb + d[t - 1];
            }
            continue;
        }
        uint64_t g = (uint64_t)p[P_GCD];
        if (g != 1)
            for (int64_t t = 0; t < n - 1; t++) d[t] *= g;
        if (xp == X_DIFF || xp == X_SCALED || xp == X_LIN2) {
            const uint64_t *r1 = (const uint64_t *)col_e[i - p[P_REF1]];
            if (xp == X_DIFF) {
                for (int64_t t = 0; t < n - 1; t++) d[t] += r1[t];
            } else {
                const uint64_t *r2 = xp == X_LIN2 ? (const uint64_t *)col_e[i - p[P_REF2]] : NULL;
                int64_t m1 = p[P_A1], m2 = p[P_A2], lat = p[P_LAT];
                int s1 = (int)p[P_SH1], s2 = (int)p[P_SH2];
                for (int64_t t = 0; t < n - 1; t++) {
                    uint64_t q = fixed_scale(r1[t], m1, s1);
                    if (r2) q += fixed_scale(r2[t], m2, s2);
                    d[t] += lattice(q, lat);
                }
            }
        } else if (xp == X_NEGSUM) {
            for (int64_t b = 1; b <= p[P_REF1]; b++) {
                const uint64_t *r = (const uint64_t *)col_e[i - b];
                for (int64_t t = 0; t < n - 1; t++) d[t] -= r[t];
            }
        }
        uint64_t m = (uint64_t)p[P_FIRST];
        if (p[P_KIND] == K_DEC) {
            const double p10 = POW10[p[P_EXP]];
            v[0] = (double)(int64_t)m / p10;
            for (int64_t t = 1; t < n; t++) {
                m += d[t - 1];
                v[t] = (double)(int64_t)m / p10;
            }
            for (int64_t q = 0; q < p[P_NEXC]; q++) vb[exc_pos[exc_at + q]] = exc_bits[exc_at + q];
            exc_at += p[P_NEXC];
        } else {
            vb[0] = m;
            for (int64_t t = 1; t < n; t++) {
                m += d[t - 1];
                vb[t] = m;
            }
        }
    }
}

PyObject *py_decode_value_page(PyObject *self, PyObject *args) {
    Py_buffer bp, bxp, bxb, bfreq, bw, braw, bst, blw, blb, bout;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*w*", &bp, &bxp, &bxb, &bfreq, &bw, &braw, &bst,
                          &blw, &blb, &bout))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t k = bp.len / (8 * P_FIELDS), n_lanes = bst.len / 4;
    const int64_t *P = bp.buf;
    int64_t **col_e = NULL;
    int64_t *ebuf = NULL;
    tables_t *tab = NULL;
    tokinfo_t *ti = NULL;
    int64_t total = 0, n_res = 0, lanes = 0, words_total = 0, raw_total = 0;
    const int64_t *lw = blw.buf, *lb = blb.buf;
    int bad_out = 0;
    for (Py_ssize_t i = 0; i < k; i++) total += P[i * P_FIELDS + P_COUNT];
    for (Py_ssize_t i = 0; i < k; i++) {
        int64_t o = P[i * P_FIELDS + P_OUT], n = P[i * P_FIELDS + P_COUNT];
        bad_out |= o < 0 || n < 1 || o > total - n;
        if (P[i * P_FIELDS + P_KIND] != K_CONST) {
            n_res += P[i * P_FIELDS + P_COUNT] - 1;
            lanes++;
        }
    }
    for (Py_ssize_t l = 0; l < n_lanes && blw.len == n_lanes * 8 && blb.len == n_lanes * 8; l++) {
        words_total += lw[l];
        raw_total += lb[l];
    }
    if (bad_out || bp.len % (8 * P_FIELDS) || bfreq.len != 8 * N_CTX * N_TOK || bxp.len != bxb.len ||
        bout.len != total * 8 || lanes != n_lanes || blw.len != n_lanes * 8 ||
        blb.len != n_lanes * 8 || bw.len != words_total * 2 + 16 || braw.len != raw_total + 16) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to decode_value_page");
        goto done;
    }
    col_e = calloc((size_t)k + 1, sizeof(int64_t *));
    ebuf = malloc((size_t)n_res * 8 + 8);
    tab = malloc(sizeof(tables_t));
    ti = malloc(sizeof(tokinfo_t));
    if (!col_e || !ebuf || !tab || !ti) {
        PyErr_NoMemory();
        goto done;
    }
    int rc = OK;
    Py_BEGIN_ALLOW_THREADS;
    for (int tok = 0; tok < N_TOK; tok++) {
        int nq = tok < 16 ? 0 : (tok - 16) / 2 + 3; /* n - 2 extra bits of q */
        ti->nq[tok] = nq;
        ti->base[tok] = tok < 16 ? (uint64_t)tok
                                 : (1ull << (nq + 1)) | ((uint64_t)((tok - 16) & 1) << nq);
    }
    const int64_t *freq = bfreq.buf;
    for (int c = 0; c < N_CTX; c++) {
        uint32_t cum = 0;
        for (int t = 0; t < N_TOK; t++) {
            uint32_t f = (uint32_t)freq[c * N_TOK + t];
            tab->fc[c * N_TOK + t] = f | (cum << 16);
            if (f && cum + f <= PROB_SCALE) memset(tab->sym + c * PROB_SCALE + cum, t, f);
            cum += f;
        }
        if (cum == 0) /* unused context: token 0, frequency 0 (as the numpy reference) */
            memset(tab->sym + c * PROB_SCALE, 0, PROB_SCALE);
    }
    Py_ssize_t l = 0;
    int64_t e_at = 0, w_at = 0, r_at = 0;
    const uint32_t *st = bst.buf;
    const uint16_t *words = bw.buf;
    const uint8_t *raw = braw.buf;
    lane_t pend;
    int have = 0;
    for (Py_ssize_t i = 0; i < k && rc == OK; i++) {
        const int64_t *p = P + i * P_FIELDS;
        if (p[P_KIND] == K_CONST) continue;
        int ma = (int)p[P_MA];
        lane_t L = {
            .w = words + w_at, .raw = raw + r_at, .e = ebuf + e_at, .n_words = lw[l],
            .len = p[P_COUNT] - 1, .wpos = 0, .c = p[P_C], .raw_bits = (uint64_t)lb[l] * 8,
            .bpos = 0, .u1 = 0, .x = st[l], .ctx = 0, .xsh = 0, .k = ma ? 1 << (ma - 1) : 0,
            .shk = ma ? ma - 1 : 0,
        };
        /* k = 0: s stays c (e[t] - e[t-0] adds 0) and shk = 0, so the prediction is c */
        L.s = L.k ? (uint64_t)L.c * (uint64_t)L.k : (uint64_t)L.c;
        col_e[i] = L.e;
        e_at += L.len;
        w_at += lw[l];
        r_at += lb[l];
        l++;
        if (have) {
            rc = decode_lanes2(&pend, &L, tab, ti);
            have = 0;
        } else {
            pend = L;
            have = 1;
        }
    }
    if (have && rc == OK) {
        lane_t none = {.w = words, .raw = raw, .e = ebuf, .len = 0};
        rc = decode_lanes2(&pend, &none, tab, ti);
    }
    if (rc == OK) rebuild(P, k, col_e, bxp.buf, bxb.buf, bout.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromLong(rc);
done:
    free(col_e);
    free(ebuf);
    free(tab);
    free(ti);
    PyBuffer_Release(&bp);
    PyBuffer_Release(&bxp);
    PyBuffer_Release(&bxb);
    PyBuffer_Release(&bfreq);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&braw);
    PyBuffer_Release(&bst);
    PyBuffer_Release(&blw);
    PyBuffer_Release(&blb);
    PyBuffer_Release(&bout);
    return ret;
}
