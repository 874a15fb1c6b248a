/*
 * v2 value pages: the rANS lane encoder and the whole value decoder (entropy decode, temporal and
 * cross-series inverse predictors, decimal scaling) of one page. C twins of the numpy reference
 * in src/obskit/encoding/{rans,residuals,valuepages}.py; the format is drawn there. Python has
 * validated every header field before calling (kinds, refs, ranges, table sums); the only damage
 * found here is a word or raw-bit stream that runs short or long, reported as an error code.
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
       P_LAT, P_C, P_A1, P_A2, P_NEXC, P_FIELDS };
enum { OK, WORDS_SHORT, RAW_SHORT, WORDS_LONG };

static inline int bitlen64(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }

/* ---------------------------------------------------------------- encoder */

/* Lanes l = [starts[l], +lens[l]) of per-symbol (freq, cum); words are written backwards ending
 * at words[cap]; returns how many. */
static Py_ssize_t encode_lanes(const int64_t *freq, const int64_t *cum, const int64_t *starts,
                               const int64_t *lens, Py_ssize_t n_lanes, uint16_t *words,
                               Py_ssize_t cap, uint32_t *states) {
    int64_t tmax = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        states[l] = RANS_LOW;
        if (lens[l] > tmax) tmax = lens[l];
    }
    uint16_t *w = words + cap;
    for (int64_t t = tmax - 1; t >= 0; t--) {
        for (Py_ssize_t l = n_lanes - 1; l >= 0; l--) {
            if (lens[l] <= t) continue;
            int64_t at = starts[l] + t;
            uint64_t f = (uint64_t)freq[at], x = states[l];
            if (x >= ((uint64_t)(RANS_LOW >> PROB_BITS) << 16) * f) {
                *--w = (uint16_t)x;
                x >>= 16;
            }
            states[l] = (uint32_t)(((x / f) << PROB_BITS) + (x % f) + (uint64_t)cum[at]);
        }
    }
    return (words + cap) - w;
}

PyObject *py_rans_encode_lanes(PyObject *self, PyObject *args) {
    Py_buffer bf, bc, bs, bl, bw, bst;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*", &bf, &bc, &bs, &bl, &bw, &bst)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = bf.len / 8, n_lanes = bs.len / 8;
    if (bc.len != bf.len || bl.len != bs.len || bw.len < n * 2 || bst.len != n_lanes * 4) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to rans_encode_lanes");
        goto done;
    }
    const int64_t *starts = bs.buf, *lens = bl.buf, *freq = bf.buf;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        if (starts[l] < 0 || lens[l] < 0 || starts[l] + lens[l] > n) {
            PyErr_SetString(PyExc_ValueError, "rans_encode_lanes: lane outside the symbols");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (freq[i] < 1 || freq[i] > (int64_t)PROB_SCALE) {
            PyErr_SetString(PyExc_ValueError, "rans_encode_lanes: frequency out of range");
            goto done;
        }
    }
    Py_ssize_t got;
    Py_BEGIN_ALLOW_THREADS;
    got = encode_lanes(freq, bc.buf, starts, lens, n_lanes, bw.buf, bw.len / 2, bst.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromSsize_t(got);
done:
    PyBuffer_Release(&bf);
    PyBuffer_Release(&bc);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&bst);
    return ret;
}

/* ---------------------------------------------------------------- decoder */

typedef struct {
    uint32_t x;      /* rANS state */
    uint64_t u1, u2; /* previous two residuals (contexts) */
    uint64_t s;      /* MA window sum */
    int64_t c;       /* MA offset / history */
    int k, sh;       /* MA window, log2 */
    int64_t len;     /* residuals */
    int64_t *e;      /* output: e[0..len) */
} lane_t;

/* Entropy decode + temporal inverse of all lanes in lock-step. */
static int decode_lanes(lane_t *lanes, Py_ssize_t n_lanes, const uint32_t *tab,
                        const uint16_t *words, Py_ssize_t n_words, const uint8_t *raw,
                        uint64_t raw_bits) {
    int64_t tmax = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++)
        if (lanes[l].len > tmax) tmax = lanes[l].len;
    Py_ssize_t wpos = 0;
    uint64_t bpos = 0;
    for (int64_t t = 0; t < tmax; t++) {
        for (Py_ssize_t l = 0; l < n_lanes; l++) {
            lane_t *ln = &lanes[l];
            if (ln->len <= t) continue;
            uint64_t s = (ln->u1 >> 1) + (ln->u2 >> 1) + (ln->u1 & ln->u2 & 1);
            int cb = bitlen64(s);
            int ctx = cb < N_CTX - 1 ? cb : N_CTX - 1;
            int sh = cb > N_CTX - 1 ? cb - (N_CTX - 1) : 0;
            uint32_t x = ln->x;
            uint32_t slot = x & (PROB_SCALE - 1);
            uint32_t ent = tab[ctx * PROB_SCALE + slot];
            int tok = (int)(ent & 255);
            x = ((ent >> 8) & 4095) * (x >> PROB_BITS) + (ent >> 20);
            if (x < RANS_LOW) {
                if (wpos >= n_words) return WORDS_SHORT;
                x = (x << 16) | words[wpos++];
            }
            ln->x = x;
            int nq = 0;
            uint64_t q = (uint64_t)tok;
            if (tok >= 16) nq = (tok - 16) / 2 + 3; /* n - 2 */
            int nb = nq + sh;
            uint64_t val = 0;
            if (nb) {
                if (bpos + (uint64_t)nb > raw_bits) return RAW_SHORT;
                uint64_t lo = load_u64(raw + (bpos >> 3));
                int bsh = (int)(bpos & 7);
                val = lo >> bsh;
                if (bsh) val |= (uint64_t)raw[(bpos >> 3) + 8] << (64 - bsh);
                val &= (nb == 64) ? ~0ull : ((1ull << nb) - 1);
                bpos += (uint64_t)nb;
            }
            if (tok >= 16)
                q = (1ull << (nq + 1)) | ((uint64_t)((tok - 16) & 1) << nq) | (val >> sh);
            uint64_t u = (q << sh) | (sh ? (val & ((1ull << sh) - 1)) : 0);
            ln->u2 = ln->u1;
            ln->u1 = u;
            uint64_t r = unzigzag(u);
            uint64_t pred = ln->k ? (uint64_t)((int64_t)ln->s >> ln->sh) : (uint64_t)ln->c;
            uint64_t e = r + pred;
            ln->e[t] = (int64_t)e;
            if (ln->k) ln->s += e - (t >= ln->k ? (uint64_t)ln->e[t - ln->k] : (uint64_t)ln->c);
        }
    }
    return wpos == n_words ? OK : WORDS_LONG;
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
    int64_t at = 0, exc_at = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        const int64_t *p = P + i * P_FIELDS;
        int64_t n = p[P_COUNT];
        double *v = out + at;
        uint64_t *vb = (uint64_t *)v;
        at += n;
        if (p[P_KIND] == K_CONST) {
            for (int64_t t = 0; t < n; t++) vb[t] = (uint64_t)p[P_FIRST];
            continue;
        }
        uint64_t *d = (uint64_t *)col_e[i];
        int xp = (int)p[P_XPRED];
        if (xp == X_FSCALED) {
            int64_t j = i - p[P_REF1];
            int64_t ref_at = 0;
            for (int64_t q = 0; q < j; q++) ref_at += P[q * P_FIELDS + P_COUNT];
            const double *x = out + ref_at;
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
    Py_buffer bp, bxp, bxb, bfreq, bw, braw, bst, bout;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*", &bp, &bxp, &bxb, &bfreq, &bw, &braw, &bst,
                          &bout))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t k = bp.len / (8 * P_FIELDS), n_lanes = bst.len / 4;
    const int64_t *P = bp.buf;
    lane_t *lanes = NULL;
    int64_t **col_e = NULL;
    int64_t *ebuf = NULL;
    uint32_t *tab = NULL;
    int64_t total = 0, n_res = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        total += P[i * P_FIELDS + P_COUNT];
        if (P[i * P_FIELDS + P_KIND] != K_CONST) n_res += P[i * P_FIELDS + P_COUNT] - 1;
    }
    if (bp.len % (8 * P_FIELDS) || bfreq.len != 8 * N_CTX * N_TOK || bxp.len != bxb.len ||
        bout.len != total * 8 || braw.len < 16) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to decode_value_page");
        goto done;
    }
    lanes = calloc((size_t)n_lanes + 1, sizeof(lane_t));
    col_e = calloc((size_t)k + 1, sizeof(int64_t *));
    ebuf = malloc((size_t)n_res * 8 + 8);
    tab = malloc((size_t)N_CTX * PROB_SCALE * 4);
    if (!lanes || !col_e || !ebuf || !tab) {
        PyErr_NoMemory();
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    const int64_t *freq = bfreq.buf;
    for (int c = 0; c < N_CTX; c++) {
        uint32_t cum = 0;
        for (int t = 0; t < N_TOK; t++) {
            uint32_t f = (uint32_t)freq[c * N_TOK + t];
            for (uint32_t j = 0; j < f && cum + j < PROB_SCALE; j++)
                tab[c * PROB_SCALE + cum + j] = (uint32_t)t | (f << 8) | (j << 20);
            cum += f;
        }
        if (cum == 0) /* unused context: token 0, frequency 0 (as the numpy reference) */
            for (uint32_t j = 0; j < PROB_SCALE; j++) tab[c * PROB_SCALE + j] = j << 20;
    }
    Py_ssize_t l = 0;
    int64_t e_at = 0;
    const uint32_t *st = bst.buf;
    for (Py_ssize_t i = 0; i < k && l < n_lanes; i++) {
        const int64_t *p = P + i * P_FIELDS;
        if (p[P_KIND] == K_CONST) continue;
        lane_t *ln = &lanes[l];
        ln->x = st[l];
        ln->len = p[P_COUNT] - 1;
        ln->e = col_e[i] = ebuf + e_at;
        e_at += ln->len;
        ln->c = p[P_C];
        ln->k = p[P_MA] ? 1 << (p[P_MA] - 1) : 0;
        ln->sh = p[P_MA] ? (int)p[P_MA] - 1 : 0;
        ln->s = (uint64_t)ln->c * (uint64_t)ln->k;
        l++;
    }
    rc = decode_lanes(lanes, n_lanes, tab, bw.buf, bw.len / 2, braw.buf,
                      (uint64_t)(braw.len - 16) * 8);
    if (rc == OK) rebuild(P, k, col_e, bxp.buf, bxb.buf, bout.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromLong(rc);
done:
    free(lanes);
    free(col_e);
    free(ebuf);
    free(tab);
    PyBuffer_Release(&bp);
    PyBuffer_Release(&bxp);
    PyBuffer_Release(&bxb);
    PyBuffer_Release(&bfreq);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&braw);
    PyBuffer_Release(&bst);
    PyBuffer_Release(&bout);
    return ret;
}
