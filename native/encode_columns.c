/*
 * encode_columns: the timestamp and value columns of many series in one call, byte for byte what
 * obskit.encoding.encode_timestamps / encode_values write (their modules define the formats and
 * the codec choice; this file follows them step by step, the numpy reference stays the
 * definition and a parity test compares bytes).
 *
 * One step is left to Python: for float columns (no decimal exponent fits) encode_values keeps the
 * candidate (xor, float-delta|dod, raw) with the smallest zstd level-1 size, and zstd lives in
 * cramjam. Such columns are written here as the three candidates back to back, their lengths go to
 * cand_lens, and obskit.encoding.columns measures them and keeps one.
 */
#include "column_kernels.h"

#include <math.h>
#include <stdlib.h>

/* Same constants as the Python encoders (see timestamps.py, values.py and _intstream.py). */
#define SAFE_MAGNITUDE (1LL << 60)
#define GCD_PROBE 64
#define EXCEPTION_RATIO 64
#define PROBE_SAMPLES 256

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int failed;
} sink;

static int reserve(sink *s, size_t more) {
    if (s->len + more <= s->cap) return 1;
    if (s->failed) return 0;
    size_t cap = s->cap ? s->cap : 1 << 16;
    while (cap < s->len + more) cap *= 2;
    unsigned char *b = realloc(s->buf, cap);
    if (!b) {
        s->failed = 1;
        return 0;
    }
    s->buf = b;
    s->cap = cap;
    return 1;
}

static void put_u8(sink *s, unsigned v) {
    if (reserve(s, 1)) s->buf[s->len++] = (unsigned char)v;
}

static void put_uvarint(sink *s, uint64_t v) {
    if (!reserve(s, 10)) return;
    while (v >= 0x80) {
        s->buf[s->len++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    s->buf[s->len++] = (unsigned char)v;
}

static void put_svarint(sink *s, uint64_t v) { put_uvarint(s, zigzag(v)); }

static void put_bytes(sink *s, const void *p, size_t n) {
    if (!reserve(s, n)) return;
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_planes(sink *s, const uint64_t *r, Py_ssize_t k, int lo, int hi) {
    size_t n = (size_t)k * (size_t)(hi - lo);
    if (!reserve(s, n)) return;
    scatter_planes(r, k, lo, hi, s->buf + s->len);
    s->len += n;
}

static void put_head(sink *s, unsigned codec, Py_ssize_t n) {
    put_u8(s, codec);
    put_uvarint(s, (uint64_t)n);
}

/* ---- int streams (_intstream.encode_int_stream) ---- */

typedef struct {
    uint64_t *d, *q, *r[2];
    uint32_t *hist; /* HIST_SPAN counters */
} scratch;

typedef struct {
    int order, width;
    uint64_t first, first_delta, divisor, offset;
    const uint64_t *r;
    Py_ssize_t k;
} int_stream;

/* Binary gcd (Stein): no 64-bit divisions, which cost tens of cycles each. */
static uint64_t gcd_u64(uint64_t a, uint64_t b) {
    if (!a) return b;
    if (!b) return a;
    int shift = __builtin_ctzll(a | b);
    a >>= __builtin_ctzll(a);
    do {
        b >>= __builtin_ctzll(b);
        if (a > b) {
            uint64_t t = a;
            a = b;
            b = t;
        }
        b -= a;
    } while (b);
    return a << shift;
}

/* Exact division by a divisor known to divide: shift out its power of two, then multiply by the
 * inverse of its odd part modulo 2**64 (Newton's iteration; each step doubles the correct bits). */
typedef struct {
    int shift;
    uint64_t inverse;
} exact_divisor;

static exact_divisor exact_divisor_of(uint64_t divisor) {
    exact_divisor e = {__builtin_ctzll(divisor), 0};
    uint64_t odd = divisor >> e.shift, x = odd; /* odd * odd = 1 mod 8: 3 bits right */
    for (int i = 0; i < 5; i++) x *= 2 - odd * x;
    e.inverse = x;
    return e;
}

static inline uint64_t exact_div(uint64_t d, exact_divisor e) {
    return (uint64_t)((int64_t)d >> e.shift) * e.inverse;
}

static inline uint64_t abs_i64(uint64_t d) { return (int64_t)d < 0 ? 0 - d : d; }

/* _divisor: gcd of the differences, looked at in full only when the first 64 share a factor. */
static uint64_t divisor_of(const uint64_t *d, Py_ssize_t m) {
    if (m == 0) return 1;
    uint64_t g = 0;
    Py_ssize_t probe = m < GCD_PROBE ? m : GCD_PROBE;
    for (Py_ssize_t i = 0; i < probe; i++) g = gcd_u64(g, abs_i64(d[i]));
    if (g > 1 && m > GCD_PROBE)
        for (Py_ssize_t i = probe; i < m && g > 1; i++) g = gcd_u64(g, abs_i64(d[i]));
    return g > 1 ? g : 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Puts the kth smallest of q[0..m) at q[kth], smaller ones before it (introselect-lite). */
static void select_kth(int64_t *q, Py_ssize_t m, Py_ssize_t kth) {
    Py_ssize_t lo = 0, hi = m - 1;
    int budget = 64;
    while (hi > lo) {
        if (--budget == 0) {
            qsort(q + lo, (size_t)(hi - lo + 1), 8, cmp_i64);
            return;
        }
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int64_t a = q[lo], b = q[mid], c = q[hi];
        int64_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        Py_ssize_t i = lo, j = hi;
        while (i <= j) {
            while (q[i] < pivot) i++;
            while (q[j] > pivot) j--;
            if (i <= j) {
                int64_t t = q[i];
                q[i] = q[j];
                q[j] = t;
                i++;
                j--;
            }
        }
        if (kth <= j)
            hi = j;
        else if (kth >= i)
            lo = i;
        else
            return;
    }
}

/* Differences of scrape data span a narrow range: a histogram finds the median in two linear
 * passes, without the mispredicted branches of quickselect. Wider spans fall back to selection. */
#define HIST_SPAN 4096

/* The values at sorted positions half-1 and half of q[0..m) (m >= 1; lo unused when half = 0). */
static void middle_pair(int64_t *q, Py_ssize_t m, uint32_t *hist, int64_t *lo, int64_t *hi) {
    Py_ssize_t half = m / 2;
    int64_t mn = q[0], mx = q[0];
    for (Py_ssize_t i = 1; i < m; i++) {
        mn = q[i] < mn ? q[i] : mn;
        mx = q[i] > mx ? q[i] : mx;
    }
    uint64_t span = (uint64_t)mx - (uint64_t)mn;
    if (span < HIST_SPAN) {
        memset(hist, 0, (span + 1) * sizeof *hist);
        for (Py_ssize_t i = 0; i < m; i++) hist[(uint64_t)q[i] - (uint64_t)mn]++;
        Py_ssize_t seen = 0;
        int found_lo = half == 0;
        for (uint64_t b = 0; b <= span; b++) {
            seen += hist[b];
            if (!found_lo && seen > half - 1) {
                *lo = (int64_t)((uint64_t)mn + b);
                found_lo = 1;
            }
            if (seen > half) {
                *hi = (int64_t)((uint64_t)mn + b);
                return;
            }
        }
    }
    select_kth(q, m, half);
    *hi = q[half];
    if (half > 0) {
        int64_t below = q[0];
        for (Py_ssize_t i = 1; i < half; i++)
            if (q[i] > below) below = q[i];
        *lo = below;
    }
}

/* to_int64(int(np.median(q))): numpy averages the middle pair in float64, int() truncates. */
static uint64_t median_offset(int64_t *q, Py_ssize_t m, uint32_t *hist) {
    if (m == 0) return 0;
    int64_t lo = 0, hi = 0;
    middle_pair(q, m, hist, &lo, &hi);
    double med = m % 2 ? (double)hi : ((double)lo + (double)hi) / 2.0;
    if (med >= 9223372036854775808.0) return (uint64_t)1 << 63; /* 2**63 wraps to -2**63 */
    return (uint64_t)(int64_t)med;
}

/* _bit_cost: sum of frexp exponents of the residuals converted to float64. */
static int64_t bit_cost(const uint64_t *r, Py_ssize_t k) {
    int64_t cost = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        uint64_t u = r[i];
        if (!u) continue;
        int e = 64 - __builtin_clzll(u);
        if (e > 53 && (double)u >= ldexp(1.0, e)) e++; /* rounded up to the next power of two */
        cost += e;
    }
    return cost;
}

static int width_of(const uint64_t *r, Py_ssize_t k) {
    uint64_t used = 0;
    for (Py_ssize_t i = 0; i < k; i++) used |= r[i];
    return used ? (64 - __builtin_clzll(used) + 7) / 8 : 0;
}

/* The cheaper of orders 1 and 2 for x[0..n), n >= 1 (encode_int_stream(x, (1, 2), ...)). */
static void encode_int_stream(const uint64_t *x, Py_ssize_t n, int find_divisor, scratch *s,
                              int_stream *best) {
    for (Py_ssize_t i = 0; find_divisor && i < n; i++)
        if ((int64_t)x[i] >= SAFE_MAGNITUDE || (int64_t)x[i] <= -SAFE_MAGNITUDE) find_divisor = 0;
    int64_t best_cost = -1;
    for (int order = 1; order <= 2; order++) {
        if (n <= order && best_cost >= 0) break;
        int eff = order < (n - 1 > 1 ? n - 1 : 1) ? order : (int)(n - 1 > 1 ? n - 1 : 1);
        Py_ssize_t m = n > eff ? n - eff : 0;
        uint64_t *d = s->d;
        if (order == 1) {
            for (Py_ssize_t i = 0; i < m; i++) d[i] = x[i + 1] - x[i];
        } else {
            for (Py_ssize_t i = 0; i < m; i++) d[i] = d[i + 1] - d[i]; /* order-1 d still here */
        }
        uint64_t divisor = find_divisor ? divisor_of(d, m) : 1;
        uint64_t *r = s->r[order - 1];
        if (divisor == 1) {
            memcpy(r, d, 8 * (size_t)m);
        } else {
            exact_divisor e = exact_divisor_of(divisor);
            for (Py_ssize_t i = 0; i < m; i++) r[i] = exact_div(d[i], e);
        }
        memcpy(s->q, r, 8 * (size_t)m);
        uint64_t offset = median_offset((int64_t *)s->q, m, s->hist);
        Py_ssize_t k = n > eff ? m : 0;
        for (Py_ssize_t i = 0; i < k; i++) r[i] = zigzag(r[i] - offset);
        int64_t cost = bit_cost(r, k);
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best->order = eff;
            best->divisor = divisor;
            best->offset = offset;
            best->r = r;
            best->k = k;
        }
    }
    best->width = width_of(best->r, best->k);
    best->first = x[0];
    best->first_delta = best->order == 2 ? x[1] - x[0] : 0;
}

static void put_int_stream(sink *s, const int_stream *st) {
    put_svarint(s, st->first);
    if (st->order == 2) put_svarint(s, st->first_delta);
    put_uvarint(s, st->divisor);
    put_svarint(s, st->offset);
    put_u8(s, (unsigned)st->width);
    put_planes(s, st->r, st->k, 0, st->width);
}

/* ---- timestamps (timestamps.encode_timestamps) ---- */

static unsigned encode_ts(sink *s, const uint64_t *x, Py_ssize_t n, scratch *sc) {
    size_t start = s->len;
    if (n == 0) {
        put_head(s, 0x10, 0);
        return 0x10;
    }
    int const_step = 1;
    for (Py_ssize_t i = 2; i < n && const_step; i++)
        const_step = (x[i] - x[i - 1]) == (x[i - 1] - x[i - 2]);
    if (const_step) {
        put_head(s, 0x11, n);
        put_svarint(s, x[0]);
        put_svarint(s, n > 1 ? x[1] - x[0] : 0);
        return 0x11;
    }
    int_stream st;
    encode_int_stream(x, n, 1, sc, &st);
    unsigned codec = st.order == 1 ? 0x12 : 0x13;
    put_head(s, codec, n);
    put_int_stream(s, &st);
    if (s->len - start > 1 + 10 + 8 * (size_t)n) {
        s->len = start;
        put_head(s, 0x10, n);
        put_bytes(s, x, 8 * (size_t)n);
        return 0x10;
    }
    return codec;
}

/* ---- values (values.encode_values) ---- */

/* decimal_scale: m = round(v * 10**exp) (0 where not exact-able), returns the mismatches. */
static Py_ssize_t decimal_scale(const double *v, Py_ssize_t n, Py_ssize_t stride, int exp,
                                int64_t *m, unsigned char *bad_mask) {
    const double p = POW10[exp];
    Py_ssize_t bad = 0;
    for (Py_ssize_t i = 0, j = 0; i < n; i += stride, j++) {
        double sc = nearbyint(v[i] * p);
        int64_t mi = 0;
        int same = 0;
        if (fabs(sc) < MAX_EXACT) {
            mi = (int64_t)sc;
            double back = (double)mi / p;
            same = memcmp(&back, &v[i], 8) == 0;
        }
        if (m) m[j] = mi;
        if (bad_mask) bad_mask[j] = !same;
        bad += !same;
    }
    return bad;
}

/* _find_decimal: the smallest exponent with at most n/64 exceptions, or -1. */
static int find_decimal(const double *v, Py_ssize_t n, int64_t *m, unsigned char *mask) {
    Py_ssize_t limit = n / EXCEPTION_RATIO;
    Py_ssize_t stride = n / PROBE_SAMPLES > 1 ? n / PROBE_SAMPLES : 1;
    Py_ssize_t probe = (n + stride - 1) / stride;
    Py_ssize_t probe_limit = probe * limit / n;
    for (int exp = 0; exp <= MAX_DECIMAL_EXP; exp++) {
        if (decimal_scale(v, n, stride, exp, NULL, NULL) > probe_limit) continue;
        if (decimal_scale(v, n, 1, exp, m, mask) <= limit) return exp;
    }
    return -1;
}

static unsigned encode_decimal(sink *s, const double *v, Py_ssize_t n, int exp, int64_t *m,
                               const unsigned char *mask, scratch *sc) {
    Py_ssize_t n_exc = 0, first_ok = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (mask[i])
            n_exc++;
        else if (first_ok < 0)
            first_ok = i;
    }
    if (first_ok < 0) {
        memset(m, 0, 8 * (size_t)n);
    } else if (n_exc) { /* exceptions repeat their neighbour's m: they cost nothing */
        int64_t last = m[first_ok];
        for (Py_ssize_t i = 0; i < n; i++) {
            if (mask[i])
                m[i] = last;
            else
                last = m[i];
        }
    }
    int_stream st;
    encode_int_stream((const uint64_t *)m, n, 1, sc, &st);
    unsigned codec = st.order == 1 ? 0x02 : 0x03;
    put_head(s, codec, n);
    put_u8(s, (unsigned)exp);
    put_uvarint(s, (uint64_t)n_exc);
    Py_ssize_t prev = -1;
    for (Py_ssize_t i = 0; i < n && n_exc; i++)
        if (mask[i]) {
            put_uvarint(s, (uint64_t)(i - prev - 1));
            prev = i;
        }
    for (Py_ssize_t i = 0; i < n && n_exc; i++)
        if (mask[i]) put_bytes(s, &v[i], 8);
    put_int_stream(s, &st);
    return codec;
}

/* Float columns: xor, float-delta|dod and raw back to back; their lengths go to cand. */
static void encode_float_candidates(sink *s, const uint64_t *bits, Py_ssize_t n, scratch *sc,
                                    int64_t cand[3]) {
    size_t start = s->len;
    uint64_t *x = sc->r[0], used = 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++) used |= x[i] = bits[i + 1] ^ bits[i];
    int lo = 0, hi = 0;
    if (used) {
        lo = __builtin_ctzll(used) / 8;
        hi = (64 - __builtin_clzll(used) + 7) / 8;
    }
    put_head(s, 0x04, n);
    put_bytes(s, bits, 8);
    put_u8(s, (unsigned)lo);
    put_u8(s, (unsigned)hi);
    put_planes(s, x, n - 1, lo, hi);
    cand[0] = (int64_t)(s->len - start);
    start = s->len;
    int_stream st;
    encode_int_stream(bits, n, 0, sc, &st);
    put_head(s, st.order == 1 ? 0x05 : 0x06, n);
    put_int_stream(s, &st);
    cand[1] = (int64_t)(s->len - start);
    start = s->len;
    put_head(s, 0x00, n);
    put_bytes(s, bits, 8 * (size_t)n);
    cand[2] = (int64_t)(s->len - start);
}

/* Returns the codec id, or 0xFF for float columns (candidates left in the sink). */
static unsigned encode_vals(sink *s, const double *v, Py_ssize_t n, scratch *sc, int64_t *m,
                            unsigned char *mask, int64_t cand[3]) {
    const uint64_t *bits = (const uint64_t *)v;
    if (n == 0) {
        put_head(s, 0x00, 0);
        return 0x00;
    }
    int is_const = 1;
    for (Py_ssize_t i = 1; i < n && is_const; i++) is_const = bits[i] == bits[0];
    if (is_const) {
        put_head(s, 0x01, n);
        put_bytes(s, bits, 8);
        return 0x01;
    }
    int exp = find_decimal(v, n, m, mask);
    if (exp >= 0) return encode_decimal(s, v, n, exp, m, mask, sc);
    encode_float_candidates(s, bits, n, sc, cand);
    return 0xFF;
}

PyObject *py_encode_columns(PyObject *self, PyObject *args) {
    Py_buffer ts, vals, starts, ends, ts_lens, val_lens, codecs, cand_lens;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*w*", &ts, &vals, &starts, &ends, &ts_lens,
                          &val_lens, &codecs, &cand_lens))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t k = starts.len / 8, total = ts.len / 8;
    const int64_t *st = starts.buf, *en = ends.buf;
    Py_ssize_t longest = 0;
    int bad = ts.len != vals.len || ts.len % 8 || starts.len % 8 || ends.len != starts.len ||
              ts_lens.len != 8 * k || val_lens.len != 8 * k || codecs.len != 2 * k ||
              cand_lens.len != 24 * k;
    for (Py_ssize_t i = 0; !bad && i < k; i++) {
        bad = st[i] < 0 || st[i] > en[i] || en[i] > total;
        if (!bad && en[i] - st[i] > longest) longest = en[i] - st[i];
    }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to encode_columns");
        goto done;
    }
    size_t words = (size_t)longest + 1;
    uint64_t *work = malloc(5 * 8 * words + words + 4 * HIST_SPAN + 8);
    sink s = {NULL, 0, 0, 0};
    if (!work || !reserve(&s, (size_t)total * 3 + 64 * (size_t)k)) {
        free(work);
        free(s.buf);
        PyErr_NoMemory();
        goto done;
    }
    int64_t *m = (int64_t *)(work + 4 * words);
    uint32_t *hist = (uint32_t *)(work + 5 * words);
    unsigned char *mask = (unsigned char *)(hist + HIST_SPAN);
    scratch sc = {work, work + words, {work + 2 * words, work + 3 * words}, hist};
    int64_t *tl = ts_lens.buf, *vl = val_lens.buf, *cl = cand_lens.buf;
    unsigned char *ids = codecs.buf;
    const uint64_t *t = ts.buf;
    const double *v = vals.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i < k && !s.failed; i++) {
        Py_ssize_t n = en[i] - st[i];
        size_t at = s.len;
        ids[2 * i] = (unsigned char)encode_ts(&s, t + st[i], n, &sc);
        tl[i] = (int64_t)(s.len - at);
        at = s.len;
        cl[3 * i] = cl[3 * i + 1] = cl[3 * i + 2] = 0;
        ids[2 * i + 1] = (unsigned char)encode_vals(&s, v + st[i], n, &sc, m, mask, cl + 3 * i);
        vl[i] = (int64_t)(s.len - at);
    }
    Py_END_ALLOW_THREADS;
    free(work);
    if (s.failed) {
        PyErr_NoMemory();
    } else {
        ret = PyBytes_FromStringAndSize((const char *)s.buf, (Py_ssize_t)s.len);
    }
    free(s.buf);
done:
    PyBuffer_Release(&ts);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&ts_lens);
    PyBuffer_Release(&val_lens);
    PyBuffer_Release(&codecs);
    PyBuffer_Release(&cand_lens);
    return ret;
}
