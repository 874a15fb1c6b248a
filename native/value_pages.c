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
enum { OK, WORDS_SHORT, RAW_SHORT, WORDS_LONG, FIELD_LONG };

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
    uint32_t *x;            /* rANS states */
    uint64_t *u1, *u2;      /* previous two residuals of each lane (contexts) */
    uint64_t *s;            /* MA window sums */
    int64_t *c;             /* MA offsets / history */
    int *k, *sh;            /* MA window, log2 */
    int64_t *len;           /* residuals per lane */
    int64_t **e;            /* output e[0..len) per lane */
    int *ctx, *xsh, *tok;   /* per step: context row offset, hyb16 shift, token */
} lanes_t;

/* Entropy decode + temporal inverse of all lanes in lock-step. Each step runs in two passes so
 * that the table look-ups of all lanes are independent (pass 1: rANS, shared word position) and
 * the raw bits follow once every token is known (pass 2: shared bit position). Words and raw bits
 * are read from zero-padded copies; stream lengths are checked once per step. */
static int decode_lanes(lanes_t *L, Py_ssize_t n_lanes, const uint32_t *tab,
                        const uint16_t *words, Py_ssize_t n_words, const uint8_t *raw,
                        uint64_t raw_bits, Py_ssize_t *act) {
    uint64_t base[N_TOK];
    int nqs[N_TOK];
    for (int tok = 0; tok < N_TOK; tok++) {
        int nq = tok < 16 ? 0 : (tok - 16) / 2 + 3; /* n - 2 extra bits of q */
        nqs[tok] = nq;
        base[tok] = tok < 16 ? (uint64_t)tok
                             : (1ull << (nq + 1)) | ((uint64_t)((tok - 16) & 1) << nq);
    }
    int64_t tmax = 0;
    Py_ssize_t n_act = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        if (L->len[l] > tmax) tmax = L->len[l];
        if (L->len[l] > 0) act[n_act++] = l;
        L->ctx[l] = 0;
        L->xsh[l] = 0;
    }
    Py_ssize_t wpos = 0;
    uint64_t bpos = 0;
    int long_field = 0;
    for (int64_t t = 0; t < tmax; t++) {
        if (wpos > n_words) return WORDS_SHORT;
        if (bpos > raw_bits) return RAW_SHORT;
        if (long_field) return FIELD_LONG;
        Py_ssize_t w = 0;
        for (Py_ssize_t a = 0; a < n_act; a++) /* lanes that ended drop out, order kept */
            if (L->len[act[a]] > t) act[w++] = act[a];
        n_act = w;
        for (Py_ssize_t a = 0; a < n_act; a++) {
            Py_ssize_t l = act[a];
            uint32_t x = L->x[l];
            uint32_t ent = tab[L->ctx[l] + (x & (PROB_SCALE - 1))];
            L->tok[l] = (int)(ent & 255);
            x = ((ent >> 8) & 4095) * (x >> PROB_BITS) + (ent >> 20);
            int need = x < RANS_LOW;
            uint32_t xr = (x << 16) | words[wpos];
            L->x[l] = need ? xr : x;
            wpos += need;
        }
        for (Py_ssize_t a = 0; a < n_act; a++) {
            Py_ssize_t l = act[a];
            int tok = L->tok[l], sh = L->xsh[l];
            int nb = nqs[tok] + sh;
            long_field |= nb > 62;
            nb = nb > 62 ? 62 : nb;
            uint64_t lo = load_u64(raw + (bpos >> 3));
            int bsh = (int)(bpos & 7);
            uint64_t hi = (uint64_t)raw[(bpos >> 3) + 8];
            uint64_t val = ((lo >> bsh) | ((hi << 1) << (63 - bsh))) & ((1ull << nb) - 1);
            bpos += (uint64_t)nb;
            uint64_t u = ((base[tok] | (val >> sh)) << sh) | (val & ((1ull << sh) - 1));
            uint64_t u1 = L->u1[l];
            uint64_t s = (u >> 1) + (u1 >> 1) + (u & u1 & 1);
            int cb = bitlen64(s);
            int ctx = cb < N_CTX - 1 ? cb : N_CTX - 1;
            L->ctx[l] = ctx * PROB_SCALE;
            L->xsh[l] = cb - ctx;
            L->u2[l] = u1;
            L->u1[l] = u;
            int64_t *e = L->e[l];
            int k = L->k[l];
            uint64_t ev = unzigzag(u) + (uint64_t)((int64_t)L->s[l] >> L->sh[l]);
            e[t] = (int64_t)ev;
            uint64_t old = t >= k ? (uint64_t)e[t - k] : (uint64_t)L->c[l];
            L->s[l] += ev - old;
        }
    }
    if (wpos > n_words) return WORDS_SHORT;
    if (bpos > raw_bits) return RAW_SHORT;
    if (long_field) return FIELD_LONG;
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
    void *lanes_mem = NULL;
    int64_t **col_e = NULL;
    int64_t *ebuf = NULL;
    uint32_t *tab = NULL;
    uint16_t *wpad = NULL;
    uint8_t *rpad = NULL;
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
    /* one allocation for the per-lane arrays (8-byte fields first, then the ints) */
    lanes_mem = calloc((size_t)n_lanes + 1, 8 * 7 + 4 * 6);
    col_e = calloc((size_t)k + 1, sizeof(int64_t *));
    ebuf = malloc((size_t)n_res * 8 + 8);
    tab = malloc((size_t)N_CTX * PROB_SCALE * 4);
    /* a step reads at most one word and 62 raw bits per lane before the lengths are checked */
    wpad = malloc((size_t)bw.len + 2 * (size_t)n_lanes + 16);
    rpad = malloc((size_t)braw.len + 8 * (size_t)n_lanes + 16);
    if (!lanes_mem || !col_e || !ebuf || !tab || !wpad || !rpad) {
        PyErr_NoMemory();
        goto done;
    }
    size_t nl = (size_t)n_lanes + 1;
    lanes_t L;
    L.u1 = (uint64_t *)lanes_mem;
    L.u2 = L.u1 + nl;
    L.s = L.u2 + nl;
    L.c = (int64_t *)(L.s + nl);
    L.len = L.c + nl;
    L.e = (int64_t **)(L.len + nl);
    Py_ssize_t *act = (Py_ssize_t *)(L.e + nl);
    L.x = (uint32_t *)(act + nl);
    L.k = (int *)(L.x + nl);
    L.sh = L.k + nl;
    L.ctx = L.sh + nl;
    L.xsh = L.ctx + nl;
    L.tok = L.xsh + nl;
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
        L.x[l] = st[l];
        L.len[l] = p[P_COUNT] - 1;
        L.e[l] = col_e[i] = ebuf + e_at;
        e_at += L.len[l];
        L.c[l] = p[P_C];
        L.k[l] = p[P_MA] ? 1 << (p[P_MA] - 1) : 0;
        L.sh[l] = p[P_MA] ? (int)p[P_MA] - 1 : 0;
        /* k = 0: s stays c (e[t] - e[t-0] adds 0) and sh = 0, so the prediction is c */
        L.s[l] = L.k[l] ? (uint64_t)L.c[l] * (uint64_t)L.k[l] : (uint64_t)L.c[l];
        l++;
    }
    memcpy(wpad, bw.buf, (size_t)bw.len);
    memset((char *)wpad + bw.len, 0, 2 * (size_t)n_lanes + 16);
    memcpy(rpad, braw.buf, (size_t)braw.len);
    memset(rpad + braw.len, 0, 8 * (size_t)n_lanes + 16);
    rc = decode_lanes(&L, n_lanes, tab, wpad, bw.len / 2, rpad, (uint64_t)(braw.len - 16) * 8, act);
    if (rc == OK) rebuild(P, k, col_e, bxp.buf, bxb.buf, bout.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromLong(rc);
done:
    free(lanes_mem);
    free(col_e);
    free(ebuf);
    free(tab);
    free(wpad);
    free(rpad);
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
