/*
 * v2 value pages: the encoder's analysis (class, cross-series and temporal predictor search) of
 * the columns of one page. C twin of analyse_columns in src/obskit/encoding/residuals.py, which is
 * the reference and draws the transform: both choose the same parameters and residuals, bit for
 * bit. Integer arithmetic is unsigned 64-bit where numpy's int64 arrays wrap. Floating point uses
 * IEEE +, -, *, /, sqrt-free and libm-free except exact functions (frexp, ldexp, rint): the least
 * squares sums are added in sample order and the cost proxy's log2 is the reference's polynomial,
 * so numpy and C round identically (built with -ffp-contract=off: no FMA contraction).
 */
#include "column_kernels.h"

#include <math.h>
#include <stdlib.h>

enum { K_CONST = 1, K_DEC = 7, K_FLT = 8 };
enum { X_NONE, X_DIFF, X_SCALED, X_LIN2, X_NEGSUM, X_FSCALED };
/* Fields of a column's output row (the order of valuepages.py's parameter matrix). */
enum { A_KIND, A_COUNT, A_EXP, A_XPRED, A_REF1, A_REF2, A_SH1, A_SH2, A_MA, A_FIRST, A_GCD,
       A_LAT, A_C, A_A1, A_A2, A_NEXC, A_FIELDS };

/* Tunables of the reference (residuals.py, values.py), repeated here. */
#define MAX_REF 4
#define LIN2_REFS 3
#define NEGSUM_MAX 8
#define BIG ((int64_t)1 << 55)
#define GCD_LIMIT ((int64_t)1 << 62)
#define ROUGH_MA 16 /* a power of two: floor division is a shift */
#define FINALISTS 3
#define N_MA 7
#define MA_LONGEST 32 /* the longest temporal window, 2**(N_MA - 2) */
#define EXCEPTION_RATIO 64
#define PROBE_SAMPLES 256
/* own + fscaled per ref, or own + diff + scaled per ref + lin2 pairs + negsum runs */
#define MAX_CAND (1 + 2 * MAX_REF + 3 + NEGSUM_MAX)

static const double LOG2_POLY[] = {0.0439291, -0.18983443, 0.41156415, -0.7072549, 1.44159239,
                                   1.44e-05};

typedef unsigned __int128 u128;

typedef struct {
    int kind, exp, fscaled;
    int64_t n;
    const double *v;
    const int64_t *d; /* decimal deltas (n - 1) */
    const double *df; /* the same as float64 */
} col_t;

typedef struct {
    int64_t xpred, ref1, ref2, m1, s1, m2, s2, lat, bits;
} desc_t;

/* ------------------------------------------------------------------ arithmetic helpers */

static inline uint64_t uabs64(int64_t x) { return x < 0 ? 0 - (uint64_t)x : (uint64_t)x; }

static inline int64_t floordiv(int64_t a, int64_t b) { /* b > 0 */
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

static inline int64_t wsub(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t wadd(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }

static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* residuals._gcd: 1 unless every value is inside (-2**62, 2**62) and they share a factor. */
static int64_t stream_gcd(const int64_t *e, int64_t n, int64_t lo, int64_t hi) {
    if (n == 0 || lo <= -GCD_LIMIT || hi >= GCD_LIMIT) return 1;
    uint64_t g = 0;
    for (int64_t t = 0; t < n; t++) {
        if (e[t]) g = gcd_u64(uabs64(e[t]), g);
        if (g == 1) return 1;
    }
    return g ? (int64_t)g : 1;
}

/* e /= g where g divides every e: a shift by g's factors of 2 and a multiplication by the inverse
 * of its odd part modulo 2**64 (exact for such quotients, and no division instruction). */
static void divide_exact(int64_t *e, int64_t n, int64_t g) {
    int tz = __builtin_ctzll((uint64_t)g);
    uint64_t odd = (uint64_t)g >> tz, inv = odd; /* Newton: each step doubles the good bits */
    for (int i = 0; i < 5; i++) inv *= 2 - odd * inv;
    for (int64_t t = 0; t < n; t++) e[t] = (int64_t)((uint64_t)(e[t] >> tz) * inv);
}

/* residuals._log2 (x >= 1). */
static inline double log2_poly(double x) {
    int ex;
    double mant = frexp(x, &ex);
    double y = mant * 2.0 - 1.0;
    double p = LOG2_POLY[0];
    for (int k = 1; k < 6; k++) p = p * y + LOG2_POLY[k];
    return (double)(ex - 1) + p;
}

/* residuals._cost from sum|r| (exact; residuals._abs_sums rounds hi * 2**32 + lo the same way). */
static inline double cost_of(u128 a, int64_t n) {
    double s = (double)(uint64_t)(a >> 32) * 4294967296.0 + (double)(uint64_t)(a & 0xFFFFFFFFu);
    double nd = (double)n;
    return nd * (log2_poly(s / nd + 1.0) + 1.5);
}

/* residuals._fixed_vec of one coefficient: 0 when unusable. */
static int fixed_coef(double a, int64_t *m, int64_t *s) {
    if (!(isfinite(a) && a != 0.0 && fabs(a) < 1073741824.0)) return 0;
    int ex;
    frexp(a, &ex);
    int64_t sh = 29 - (int64_t)(ex - 1);
    sh = sh < 0 ? 0 : sh > 32 ? 32 : sh;
    double mm = rint(ldexp(a, (int)sh));
    if (!(mm != 0.0 && fabs(mm) < 2147483648.0)) return 0;
    *m = (int64_t)mm;
    *s = sh;
    return 1;
}

/* residuals._fixed_scale of one value. */
static inline int64_t fixed_scale(int64_t d, int64_t m, int64_t s) {
    int64_t hi = d >> 32;
    int64_t lo = (d & 0xFFFFFFFF) * m + (s ? (int64_t)1 << (s - 1) : 0);
    return (int64_t)(((uint64_t)hi * (uint64_t)m << (32 - s)) + (uint64_t)(lo >> s));
}

static inline int64_t rdiv_lattice(int64_t q, int64_t g) {
    if (g == 1) return q;
    int64_t x = wadd(q, g >> 1);
    return (int64_t)((uint64_t)floordiv(x, g) * (uint64_t)g);
}

/* sum(a * b) added in sample order (residuals._dot_rows) of every pair of x[0..3] and of each
 * with y, in one pass (the independent sums overlap instead of waiting for each other); n >= 1. */
static void gram_proj(const double *const *x, const double *y, int64_t n,
                      double gram[MAX_REF][MAX_REF], double proj[MAX_REF]) {
    const double *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    double g00 = x0[0] * x0[0], g01 = x0[0] * x1[0], g02 = x0[0] * x2[0], g03 = x0[0] * x3[0];
    double g11 = x1[0] * x1[0], g12 = x1[0] * x2[0], g13 = x1[0] * x3[0];
    double g22 = x2[0] * x2[0], g23 = x2[0] * x3[0], g33 = x3[0] * x3[0];
    double p0 = x0[0] * y[0], p1 = x1[0] * y[0], p2 = x2[0] * y[0], p3 = x3[0] * y[0];
    for (int64_t t = 1; t < n; t++) {
        const double a = x0[t], b = x1[t], c = x2[t], d = x3[t], v = y[t];
        g00 += a * a;
        g01 += a * b;
        g02 += a * c;
        g03 += a * d;
        g11 += b * b;
        g12 += b * c;
        g13 += b * d;
        g22 += c * c;
        g23 += c * d;
        g33 += d * d;
        p0 += a * v;
        p1 += b * v;
        p2 += c * v;
        p3 += d * v;
    }
    gram[0][0] = g00;
    gram[0][1] = gram[1][0] = g01;
    gram[0][2] = gram[2][0] = g02;
    gram[0][3] = gram[3][0] = g03;
    gram[1][1] = g11;
    gram[1][2] = gram[2][1] = g12;
    gram[1][3] = gram[3][1] = g13;
    gram[2][2] = g22;
    gram[2][3] = gram[3][2] = g23;
    gram[3][3] = g33;
    proj[0] = p0;
    proj[1] = p1;
    proj[2] = p2;
    proj[3] = p3;
}

/* ------------------------------------------------------------------ median */

static void swap64(int64_t *a, int64_t *b) {
    int64_t t = *a;
    *a = *b;
    *b = t;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The k-th smallest of x[0..n) (x is reordered): quickselect, sorting after too many rounds. */
static int64_t select_kth(int64_t *x, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    for (int rounds = 0; hi > lo; rounds++) {
        if (rounds > 64) {
            qsort(x + lo, (size_t)(hi - lo + 1), 8, cmp64);
            break;
        }
        int64_t mid = lo + (hi - lo) / 2;
        if (x[mid] < x[lo]) swap64(&x[mid], &x[lo]);
        if (x[hi] < x[lo]) swap64(&x[hi], &x[lo]);
        if (x[hi] < x[mid]) swap64(&x[hi], &x[mid]);
        int64_t pivot = x[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot) i++;
            while (x[j] > pivot) j--;
            if (i <= j) {
                swap64(&x[i], &x[j]);
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return x[k];
}

#define COUNT_RANGE 4096 /* buckets of the median search (16 KiB of counts: L1-resident) */

/* The k-th smallest of e[0..n), all in [lo, hi]; sel is scratch of n values. Values are counted
 * in COUNT_RANGE buckets of equal width; the k-th is the k-th's bucket's own rank-th. */
static int64_t median_pick(const int64_t *e, int64_t n, int64_t k, int64_t lo, int64_t hi,
                           int64_t *sel, uint32_t *counts) {
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    int shift = 0;
    while ((range >> shift) >= COUNT_RANGE) shift++;
    uint64_t nb = (range >> shift) + 1;
    memset(counts, 0, nb * sizeof(uint32_t));
    for (int64_t t = 0; t < n; t++) counts[((uint64_t)e[t] - (uint64_t)lo) >> shift]++;
    int64_t seen = 0;
    uint64_t b = 0;
    while (seen + counts[b] <= k) seen += counts[b++];
    if (shift == 0) return (int64_t)((uint64_t)lo + b);
    int64_t m = 0;
    for (int64_t t = 0; t < n; t++)
        if ((((uint64_t)e[t] - (uint64_t)lo) >> shift) == b) sel[m++] = e[t];
    return select_kth(sel, m, k - seen);
}

/* ------------------------------------------------------------------ decimal detection */

/* Mismatches of round(v * 10**exp) / 10**exp (kernels.decimal_scale); m and bad optional. */
static int64_t decimal_mismatch(const double *v, int64_t n, int64_t step, int exp, int64_t *m,
                                uint8_t *bad) {
    const double p = POW10[exp];
    int64_t count = 0;
    for (int64_t i = 0, o = 0; i < n; i += step, o++) {
        double s = nearbyint(v[i] * p);
        int64_t mi = 0;
        int same = 0;
        if (fabs(s) < MAX_EXACT) {
            mi = (int64_t)s;
            double back = (double)mi / p;
            same = memcmp(&back, &v[i], 8) == 0;
        }
        if (m) m[o] = mi;
        if (bad) bad[o] = !same;
        count += !same;
    }
    return count;
}

/* values._find_decimal with limit n // 64: the exponent, or -1; m and bad filled when found. */
static int find_decimal(const double *v, int64_t n, int64_t *m, uint8_t *bad) {
    int64_t limit = n / EXCEPTION_RATIO;
    int64_t step = n / PROBE_SAMPLES > 1 ? n / PROBE_SAMPLES : 1;
    int64_t probe_n = (n + step - 1) / step;
    int64_t probe_limit = probe_n * limit / n;
    for (int exp = 0; exp <= MAX_DECIMAL_EXP; exp++) {
        if (decimal_mismatch(v, n, step, exp, NULL, NULL) > probe_limit) continue;
        if (decimal_mismatch(v, n, 1, exp, m, bad) <= limit) return exp;
    }
    return -1;
}

/* ------------------------------------------------------------------ candidates */

typedef struct {
    int64_t nmax;
    int64_t *streams; /* MAX_CAND x nmax */
    desc_t desc[MAX_CAND];
    int n_cand;
    double *dxa, *dva; /* fscaled scratch (masked differences) */
    double *dxraw;
    double *ddf;
    int64_t *sel; /* median scratch */
    uint32_t *counts; /* COUNT_RANGE */
    int64_t *cs;  /* window sums scratch */
} work_t;

static int64_t *new_stream(work_t *w, desc_t d) {
    w->desc[w->n_cand] = d;
    return w->streams + (int64_t)(w->n_cand++) * w->nmax;
}

static void float_candidates(work_t *w, int i, const col_t *cols, const double *v, int64_t n) {
    const int64_t k = n - 1;
    for (int j = i - MAX_REF < 0 ? 0 : i - MAX_REF; j < i; j++) {
        const col_t *r = &cols[j];
        if (r->kind == K_CONST || r->n != n || r->fscaled) continue;
        const double *x = r->v;
        for (int64_t t = 0; t < k; t++) {
            double dx = x[t + 1] - x[t], dv = v[t + 1] - v[t];
            int ok = isfinite(dx) && isfinite(dv);
            w->dxraw[t] = dx;
            w->dxa[t] = ok ? dx : 0.0;
            w->dva[t] = ok ? dv : 0.0;
        }
        double den = w->dxa[0] * w->dxa[0], num = w->dxa[0] * w->dva[0];
        for (int64_t t = 1; t < k; t++) {
            den += w->dxa[t] * w->dxa[t];
            num += w->dxa[t] * w->dva[t];
        }
        double a = den > 0 ? num / den : 0.0;
        a = (double)(float)a;
        if (!(isfinite(a) && a != 0.0)) continue;
        int64_t abits;
        memcpy(&abits, &a, 8);
        desc_t dsc = {X_FSCALED, i - j, 0, abits, 0, 0, 0, 1, 72};
        int64_t *s = new_stream(w, dsc);
        for (int64_t t = 0; t < k; t++) {
            double pred = v[t] + a * w->dxraw[t];
            if (!isfinite(pred)) pred = v[t];
            int64_t pb, vb;
            memcpy(&pb, &pred, 8);
            memcpy(&vb, &v[t + 1], 8);
            s[t] = wsub(vb, pb);
        }
    }
}

static void decimal_candidates(work_t *w, int i, const col_t *cols, const int64_t *d, int exp,
                               int64_t n) {
    const int64_t k = n - 1;
    int refs[MAX_REF], nr = 0;
    for (int j = i - MAX_REF < 0 ? 0 : i - MAX_REF; j < i; j++)
        if (cols[j].kind == K_DEC && cols[j].n == n) refs[nr++] = j;
    if (nr) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int64_t t = 0; t < k; t++) {
            lo = d[t] < lo ? d[t] : lo;
            hi = d[t] > hi ? d[t] : hi;
        }
        int64_t own_g = stream_gcd(d, k, lo, hi);
        for (int a = 0; a < nr; a++) {
            const col_t *r = &cols[refs[a]];
            if (r->exp != exp) continue;
            desc_t dsc = {X_DIFF, i - refs[a], 0, 0, 0, 0, 0, 1, 8};
            int64_t *s = new_stream(w, dsc);
            for (int64_t t = 0; t < k; t++) s[t] = wsub(d[t], r->d[t]);
        }
        double gram[MAX_REF][MAX_REF], proj[MAX_REF];
        for (int64_t t = 0; t < k; t++) w->ddf[t] = (double)d[t];
        const double *x[MAX_REF];
        for (int a = 0; a < MAX_REF; a++) x[a] = cols[refs[a < nr ? a : 0]].df;
        gram_proj(x, w->ddf, k, gram, proj);
        for (int a = 0; a < nr; a++) {
            double diag = gram[a][a];
            int64_t m = 0, sh = 0;
            if (!fixed_coef(diag > 0 ? proj[a] / diag : 0.0, &m, &sh) || (m == 1 && sh == 0))
                continue;
            const int64_t *dr = cols[refs[a]].d;
            desc_t dsc = {X_SCALED, i - refs[a], 0, m, sh, 0, 0, own_g, 56};
            int64_t *s = new_stream(w, dsc);
            for (int64_t t = 0; t < k; t++)
                s[t] = wsub(d[t], rdiv_lattice(fixed_scale(dr[t], m, sh), own_g));
        }
        int first_near = nr - LIN2_REFS < 0 ? 0 : nr - LIN2_REFS;
        for (int p1 = first_near; p1 < nr; p1++) {
            for (int p2 = p1 + 1; p2 < nr; p2++) {
                double s11 = gram[p1][p1], s22 = gram[p2][p2], s12 = gram[p1][p2];
                double b1 = proj[p1], b2 = proj[p2];
                double det = s11 * s22 - s12 * s12;
                double x = s11 * s22;
                double mx = isnan(x) ? x : (x > 1.0 ? x : 1.0); /* np.maximum keeps NaN */
                if (!(isfinite(det) && det > 1e-9 * mx)) continue;
                int64_t m1 = 0, sh1 = 0, m2 = 0, sh2 = 0;
                int ok1 = fixed_coef((b1 * s22 - b2 * s12) / det, &m1, &sh1);
                int ok2 = fixed_coef((b2 * s11 - b1 * s12) / det, &m2, &sh2);
                if (!(ok1 && ok2)) continue;
                const int64_t *d1 = cols[refs[p1]].d, *d2 = cols[refs[p2]].d;
                desc_t dsc = {X_LIN2, i - refs[p1], i - refs[p2], m1, sh1, m2, sh2, own_g, 112};
                int64_t *s = new_stream(w, dsc);
                for (int64_t t = 0; t < k; t++) {
                    int64_t q = wadd(fixed_scale(d1[t], m1, sh1), fixed_scale(d2[t], m2, sh2));
                    s[t] = wsub(d[t], rdiv_lattice(q, own_g));
                }
            }
        }
    }
    int run = 0;
    while (run < NEGSUM_MAX && i - run - 1 >= 0) {
        const col_t *r = &cols[i - run - 1];
        if (!(r->kind == K_DEC && r->exp == exp && r->n == n)) break;
        run++;
    }
    if (run >= 2) {
        int64_t *acc = w->cs; /* d + d_{i-1} + ... */
        for (int64_t t = 0; t < k; t++) acc[t] = wadd(d[t], cols[i - 1].d[t]);
        for (int kk = 2; kk <= run; kk++) {
            const int64_t *dr = cols[i - kk].d;
            desc_t dsc = {X_NEGSUM, kk, 0, 0, 0, 0, 0, 1, 8};
            int64_t *s = new_stream(w, dsc);
            for (int64_t t = 0; t < k; t++) s[t] = acc[t] = wadd(acc[t], dr[t]);
        }
    }
}

/* ------------------------------------------------------------------ choice */

/* Every |r| below is at most hi - lo of its stream (the predictions are e[t - 1], c, or floors
 * of window means, all inside [lo, hi]): when k of those fit in 64 bits, the sums do too. */
static inline int fits64(int64_t lo, int64_t hi, int64_t k) {
    return (uint64_t)hi - (uint64_t)lo <= UINT64_MAX / (uint64_t)k;
}

/* sum|e| (a big stream: c = 0, the constant predictor only). */
static void abs_sum_big(const int64_t *e, int64_t k, u128 *out) {
    u128 a = 0;
    for (int64_t t = 0; t < k; t++) a += uabs64(e[t]);
    out[0] = a;
}

/* sum|r| of the rough proxies of residuals._choose: r = e - c, steps (e[-1] = c), and e minus
 * the floor of the mean of up to ROUGH_MA previous values (c at t = 0). */
#define ROUGH_SUMS(NAME, ACC_T)                                                                    \
    static void NAME(const int64_t *e, int64_t k, int64_t c, u128 *out) {                          \
        ACC_T a0 = uabs64(e[0] - c), a1 = a0, a2 = a0;                                             \
        int64_t win = 0, t = 1;                                                                    \
        for (; t < k && t <= ROUGH_MA; t++) {                                                      \
            win += e[t - 1];                                                                       \
            a0 += uabs64(e[t] - c);                                                                \
            a1 += uabs64(e[t] - e[t - 1]);                                                         \
            a2 += uabs64(e[t] - floordiv(win, t));                                                 \
        }                                                                                          \
        for (; t < k; t++) {                                                                       \
            win += e[t - 1] - e[t - 1 - ROUGH_MA];                                                 \
            a0 += uabs64(e[t] - c);                                                                \
            a1 += uabs64(e[t] - e[t - 1]);                                                         \
            a2 += uabs64(e[t] - (win >> 4)); /* floor(win / ROUGH_MA) */                           \
        }                                                                                          \
        out[0] = a0;                                                                               \
        out[1] = a1;                                                                               \
        out[2] = a2;                                                                               \
    }
ROUGH_SUMS(rough_sums64, uint64_t)
ROUGH_SUMS(rough_sums128, u128)

/* sum|r| for every temporal predictor: c, then floor means of the 2**(j-1) previous values
 * (c before the first), kept as window sums. */
#define MA_SUMS(NAME, ACC_T)                                                                       \
    static void NAME(const int64_t *e, int64_t k, int64_t c, u128 *out) {                          \
        ACC_T a[N_MA] = {0};                                                                       \
        int64_t sum[N_MA];                                                                         \
        for (int j = 1; j < N_MA; j++) sum[j] = c * ((int64_t)1 << (j - 1));                      \
        int64_t t = 0;                                                                             \
        for (; t < k && t < MA_LONGEST; t++) {                                                     \
            const int64_t et = e[t];                                                               \
            a[0] += uabs64(et - c);                                                                \
            for (int j = 1; j < N_MA; j++) {                                                       \
                const int64_t kk = (int64_t)1 << (j - 1);                                          \
                a[j] += uabs64(et - (sum[j] >> (j - 1)));                                          \
                sum[j] += et - (t >= kk ? e[t - kk] : c);                                          \
            }                                                                                      \
        }                                                                                          \
        for (; t < k; t++) {                                                                       \
            const int64_t et = e[t];                                                               \
            a[0] += uabs64(et - c);                                                                \
            for (int j = 1; j < N_MA; j++) {                                                       \
                a[j] += uabs64(et - (sum[j] >> (j - 1)));                                          \
                sum[j] += et - e[t - ((int64_t)1 << (j - 1))];                                     \
            }                                                                                      \
        }                                                                                          \
        for (int j = 0; j < N_MA; j++) out[j] = a[j];                                              \
    }
MA_SUMS(ma_sums64, uint64_t)
MA_SUMS(ma_sums128, u128)

typedef struct {
    int64_t g, c, lo, hi;
    int big;
} cand_info_t;

/* residuals._choose: writes the chosen row's fields and its zigzagged residuals to out. */
static void choose(work_t *w, int64_t k, int64_t *row, uint64_t *out) {
    const int nc = w->n_cand;
    cand_info_t info[MAX_CAND];
    double rough[MAX_CAND];
    for (int q = 0; q < nc; q++) {
        int64_t *e = w->streams + (int64_t)q * w->nmax;
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int64_t t = 0; t < k; t++) {
            lo = e[t] < lo ? e[t] : lo;
            hi = e[t] > hi ? e[t] : hi;
        }
        int64_t g = w->desc[q].xpred == X_FSCALED ? 1 : stream_gcd(e, k, lo, hi);
        if (g > 1) {
            divide_exact(e, k, g);
            lo /= g;
            hi /= g;
        }
        int big = hi >= BIG || lo <= -BIG;
        int64_t c = big ? 0 : median_pick(e, k, k / 2, lo, hi, w->sel, w->counts);
        info[q] = (cand_info_t){g, c, lo, hi, big};
        /* rough costs: e - c, steps, e - (moving average of up to ROUGH_MA) */
        u128 acc[3] = {0};
        if (big)
            abs_sum_big(e, k, acc);
        else if (fits64(lo, hi, k))
            rough_sums64(e, k, c, acc);
        else
            rough_sums128(e, k, c, acc);
        double best = cost_of(acc[0], k);
        if (k > 1 && !big) {
            double cs = cost_of(acc[1], k), cl = cost_of(acc[2], k);
            best = cs < best ? cs : best;
            best = cl < best ? cl : best;
        }
        rough[q] = best + (double)w->desc[q].bits;
    }
    /* the FINALISTS cheapest, ties to the earlier candidate (a stable argsort) */
    int fin[FINALISTS], nf = 0;
    for (int q = 0; q < nc; q++) {
        int at = nf;
        while (at > 0 && rough[q] < rough[fin[at - 1]]) at--;
        if (at >= FINALISTS) continue;
        int last = nf < FINALISTS ? nf : FINALISTS - 1;
        for (int x = last; x > at; x--) fin[x] = fin[x - 1];
        fin[at] = q;
        if (nf < FINALISTS) nf++;
    }
    /* every temporal predictor for the finalists; the first minimum in (ma, finalist) order */
    double cost[N_MA][FINALISTS];
    for (int f = 0; f < nf; f++) {
        const int q = fin[f];
        const int64_t *e = w->streams + (int64_t)q * w->nmax;
        const int64_t c = info[q].c;
        const double extra = (double)w->desc[q].bits;
        u128 acc[N_MA];
        if (info[q].big) {
            abs_sum_big(e, k, acc);
            cost[0][f] = cost_of(acc[0], k) + extra;
            for (int j = 1; j < N_MA; j++) cost[j][f] = INFINITY;
            continue;
        }
        if (fits64(info[q].lo, info[q].hi, k))
            ma_sums64(e, k, c, acc);
        else
            ma_sums128(e, k, c, acc);
        for (int j = 0; j < N_MA; j++) cost[j][f] = cost_of(acc[j], k) + extra;
    }
    int bj = 0, bf = 0;
    for (int j = 0; j < N_MA; j++)
        for (int f = 0; f < nf; f++)
            if (cost[j][f] < cost[bj][bf]) {
                bj = j;
                bf = f;
            }
    const int q = fin[bf];
    const int64_t *e = w->streams + (int64_t)q * w->nmax;
    const desc_t *dsc = &w->desc[q];
    row[A_XPRED] = dsc->xpred;
    row[A_REF1] = dsc->ref1;
    row[A_REF2] = dsc->ref2;
    row[A_SH1] = dsc->s1;
    row[A_SH2] = dsc->s2;
    row[A_A1] = dsc->m1;
    row[A_A2] = dsc->m2;
    row[A_LAT] = dsc->lat;
    row[A_GCD] = info[q].g;
    if (info[q].big) {
        row[A_MA] = row[A_C] = 0;
        for (int64_t t = 0; t < k; t++) out[t] = zigzag((uint64_t)e[t]);
        return;
    }
    const int64_t c = info[q].c;
    row[A_MA] = bj;
    row[A_C] = c;
    if (bj == 0) {
        for (int64_t t = 0; t < k; t++) out[t] = zigzag((uint64_t)e[t] - (uint64_t)c);
        return;
    }
    const int sh = bj - 1;
    const int64_t kk = (int64_t)1 << sh;
    uint64_t sum = (uint64_t)c << sh;
    for (int64_t t = 0; t < k; t++) {
        int64_t pred = (int64_t)sum >> sh;
        out[t] = zigzag((uint64_t)e[t] - (uint64_t)pred);
        sum += (uint64_t)e[t] - (uint64_t)(t >= kk ? e[t - kk] : c);
    }
}

/* ------------------------------------------------------------------ page */

typedef struct {
    int64_t n_resid, n_exc;
} page_out_t;

/* analyse_columns over columns [at[i], +counts[i]) of values: rows of A_FIELDS, residuals and
 * exceptions appended. Returns -1 when out of memory. */
static int analyse_page(const double *values, const int64_t *counts, int n_cols, int64_t *rows,
                        uint64_t *resid, uint32_t *exc_pos, uint64_t *exc_bits,
                        page_out_t *res) {
    int64_t total = 0, nmax = 1;
    for (int i = 0; i < n_cols; i++) {
        total += counts[i];
        nmax = counts[i] > nmax ? counts[i] : nmax;
    }
    int rc = -1;
    work_t w = {.nmax = nmax};
    col_t *cols = calloc((size_t)n_cols + 1, sizeof(col_t));
    int64_t *dstore = malloc((size_t)total * 8 + 8);
    double *dfstore = malloc((size_t)total * 8 + 8);
    int64_t *m = malloc((size_t)nmax * 8);
    uint8_t *bad = malloc((size_t)nmax);
    w.streams = malloc((size_t)nmax * 8 * MAX_CAND);
    w.dxa = malloc((size_t)nmax * 8);
    w.dva = malloc((size_t)nmax * 8);
    w.dxraw = malloc((size_t)nmax * 8);
    w.ddf = malloc((size_t)nmax * 8);
    w.sel = malloc((size_t)nmax * 8);
    w.cs = malloc((size_t)nmax * 8);
    w.counts = malloc(COUNT_RANGE * sizeof(uint32_t));
    if (!cols || !dstore || !dfstore || !m || !bad || !w.streams || !w.dxa || !w.dva ||
        !w.dxraw || !w.ddf || !w.sel || !w.cs || !w.counts)
        goto done;
    int64_t at = 0, dat = 0, n_resid = 0, n_exc = 0;
    for (int i = 0; i < n_cols; i++) {
        const int64_t n = counts[i];
        const double *v = values + at;
        const uint64_t *bits = (const uint64_t *)v;
        at += n;
        int64_t *row = rows + (int64_t)i * A_FIELDS;
        memset(row, 0, A_FIELDS * 8);
        row[A_COUNT] = n;
        row[A_GCD] = row[A_LAT] = 1;
        col_t *col = &cols[i];
        col->n = n;
        col->v = v;
        int64_t t = 1;
        while (t < n && bits[t] == bits[0]) t++;
        if (t == n) {
            col->kind = K_CONST;
            row[A_KIND] = K_CONST;
            row[A_FIRST] = (int64_t)bits[0];
            continue;
        }
        int exp = find_decimal(v, n, m, bad);
        int64_t *d = dstore + dat;
        if (exp >= 0) {
            int64_t n_bad = 0, first_good = -1;
            for (t = 0; t < n; t++) {
                if (bad[t]) {
                    exc_pos[n_exc + n_bad] = (uint32_t)t;
                    exc_bits[n_exc + n_bad] = bits[t];
                    n_bad++;
                } else if (first_good < 0) {
                    first_good = t;
                }
            }
            if (n_bad == n) {
                memset(m, 0, (size_t)n * 8);
            } else if (n_bad) { /* exceptions repeat their neighbour's m */
                int64_t prev = m[first_good];
                for (t = 0; t < n; t++) {
                    if (bad[t])
                        m[t] = prev;
                    else
                        prev = m[t];
                }
            }
            n_exc += n_bad;
            col->kind = K_DEC;
            col->exp = exp;
            row[A_KIND] = K_DEC;
            row[A_EXP] = exp;
            row[A_NEXC] = n_bad;
            row[A_FIRST] = m[0];
            for (t = 0; t < n - 1; t++) d[t] = wsub(m[t + 1], m[t]);
            double *df = dfstore + dat;
            for (t = 0; t < n - 1; t++) df[t] = (double)d[t];
            col->d = d;
            col->df = df;
            dat += n - 1;
        } else {
            col->kind = K_FLT;
            row[A_KIND] = K_FLT;
            row[A_FIRST] = (int64_t)bits[0];
            for (t = 0; t < n - 1; t++) d[t] = (int64_t)(bits[t + 1] - bits[t]);
        }
        w.n_cand = 0;
        desc_t own = {X_NONE, 0, 0, 0, 0, 0, 0, 1, 0};
        memcpy(new_stream(&w, own), d, (size_t)(n - 1) * 8);
        if (col->kind == K_FLT)
            float_candidates(&w, i, cols, v, n);
        else
            decimal_candidates(&w, i, cols, d, exp, n);
        choose(&w, n - 1, row, resid + n_resid);
        n_resid += n - 1;
        col->fscaled = row[A_XPRED] == X_FSCALED;
    }
    res->n_resid = n_resid;
    res->n_exc = n_exc;
    rc = 0;
done:
    free(cols);
    free(dstore);
    free(dfstore);
    free(m);
    free(bad);
    free(w.streams);
    free(w.dxa);
    free(w.dva);
    free(w.dxraw);
    free(w.ddf);
    free(w.sel);
    free(w.cs);
    free(w.counts);
    return rc;
}

PyObject *py_analyse_value_page(PyObject *self, PyObject *args) {
    Py_buffer bv, bc, brow, bres, bpos, bbits;
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*w*", &bv, &bc, &brow, &bres, &bpos, &bbits))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t total = bv.len / 8, n_cols = bc.len / 8;
    const int64_t *counts = bc.buf;
    Py_ssize_t sum = 0;
    int ok = bv.len % 8 == 0 && bc.len % 8 == 0 && n_cols < (1 << 30);
    for (Py_ssize_t i = 0; ok && i < n_cols; i++) {
        ok = counts[i] >= 1 && counts[i] <= total - sum && counts[i] <= UINT32_MAX;
        sum += ok ? counts[i] : 0;
    }
    if (!ok || sum != total || brow.len != n_cols * A_FIELDS * 8 || bres.len < total * 8 ||
        bpos.len < total * 4 || bbits.len < total * 8) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to analyse_value_page");
        goto done;
    }
    page_out_t res;
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = analyse_page(bv.buf, counts, (int)n_cols, brow.buf, bres.buf, bpos.buf, bbits.buf, &res);
    Py_END_ALLOW_THREADS;
    if (rc < 0)
        PyErr_NoMemory();
    else
        ret = Py_BuildValue("(LL)", (long long)res.n_resid, (long long)res.n_exc);
done:
    PyBuffer_Release(&bv);
    PyBuffer_Release(&bc);
    PyBuffer_Release(&brow);
    PyBuffer_Release(&bres);
    PyBuffer_Release(&bpos);
    PyBuffer_Release(&bbits);
    return ret;
}

/* ------------------------------------------------------------------ token stage */

#define N_TOK 136
#define N_CTX_MAX 16 /* the last context: 17 in all */

/* rans.lane_tokens + rans.pack_raw_bits (the reference draws the token model): each sample's
 * symbol key ctx * N_TOK + token, and each lane's raw fields LSB-first from a byte boundary.
 * Returns the raw bytes written; lane_bytes[l] = that lane's. raw has room for 8 bytes per
 * sample plus 8 per lane. */
static int64_t lane_symbols(const uint64_t *u, const int64_t *starts, const int64_t *lens,
                            int64_t n_lanes, int64_t *key, uint8_t *raw, int64_t *lane_bytes) {
    int64_t out = 0;
    for (int64_t l = 0; l < n_lanes; l++) {
        const uint64_t *x = u + starts[l];
        int64_t *ky = key + starts[l];
        uint64_t u1 = 0, u2 = 0;
        u128 acc = 0;
        int nacc = 0;
        const int64_t at = out;
        for (int64_t t = 0; t < lens[l]; t++) {
            const uint64_t v = x[t];
            const uint64_t s = (u1 >> 1) + (u2 >> 1) + (u1 & u2 & 1);
            const int cb = s ? 64 - __builtin_clzll(s) : 0;
            const int ctx = cb < N_CTX_MAX ? cb : N_CTX_MAX;
            const int sh = cb > N_CTX_MAX ? cb - N_CTX_MAX : 0;
            const uint64_t q = v >> sh;
            int tok, qbits = 0;
            if (q < 16) {
                tok = (int)q;
            } else {
                const int n = 64 - __builtin_clzll(q);
                qbits = n - 2;
                tok = 16 + 2 * (n - 5) + (int)((q >> qbits) & 1);
            }
            ky[t] = (int64_t)ctx * N_TOK + tok;
            const int nb = qbits + sh;
            if (nb) {
                const uint64_t ext = q & (((uint64_t)1 << qbits) - 1);
                const uint64_t low = v & (((uint64_t)1 << sh) - 1);
                acc |= (u128)((ext << sh) | low) << nacc;
                nacc += nb;
                if (nacc >= 64) {
                    const uint64_t word = (uint64_t)acc;
                    memcpy(raw + out, &word, 8); /* little-endian builds, like the format */
                    out += 8;
                    acc >>= 64;
                    nacc -= 64;
                }
            }
            u2 = u1;
            u1 = v;
        }
        const uint64_t word = (uint64_t)acc;
        memcpy(raw + out, &word, 8); /* room reserved; only (nacc + 7) / 8 bytes are kept */
        out += (nacc + 7) / 8;
        lane_bytes[l] = out - at;
    }
    return out;
}

PyObject *py_rans_lane_symbols(PyObject *self, PyObject *args) {
    Py_buffer bu, bs, bl, bk, braw, blb;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*", &bu, &bs, &bl, &bk, &braw, &blb)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = bu.len / 8, n_lanes = bs.len / 8;
    const int64_t *starts = bs.buf, *lens = bl.buf;
    int ok = bu.len % 8 == 0 && bs.len % 8 == 0 && bl.len == bs.len && bk.len == n * 8 &&
             blb.len == n_lanes * 8 && braw.len >= (n + n_lanes) * 8;
    for (Py_ssize_t l = 0; ok && l < n_lanes; l++)
        ok = starts[l] >= 0 && lens[l] >= 0 && starts[l] <= n && lens[l] <= n - starts[l];
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to rans_lane_symbols");
        goto done;
    }
    int64_t got;
    Py_BEGIN_ALLOW_THREADS;
    got = lane_symbols(bu.buf, starts, lens, n_lanes, bk.buf, braw.buf, blb.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromLongLong(got);
done:
    PyBuffer_Release(&bu);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&bk);
    PyBuffer_Release(&braw);
    PyBuffer_Release(&blb);
    return ret;
}
