/*
 * PromQL range-window kernels: C twins of src/obskit/kernels/_promql.py.
 *
 * Samples of S series are flat columns ts[]/vals[] with offsets[S+1]; windows are given per series
 * and step as flat index ranges [lo, hi) (arrays of S*N int64, row-major by series). Every kernel
 * performs exactly the floating-point operations of its numpy twin, in the same order, so both
 * backends give identical results (compiled with -ffp-contract=off: no fused multiply-add).
 * Loops run without the GIL. Bad sizes raise ValueError; indices are checked before any loop.
 */
#include "column_kernels.h"
#include "promql_kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many windows per thread a second thread costs more than it saves. */
#define WINDOWS_MIN_PER_THREAD 20000

static int need(const Py_buffer *b, Py_ssize_t want, const char *what) {
    if (b->len != want) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", what, b->len, want);
        return -1;
    }
    return 0;
}

/* Series s spans [o[s], o[s+1]) of n samples; 0, or -1 with ValueError set. */
static int check_offsets(const int64_t *o, Py_ssize_t s_count, Py_ssize_t n) {
    for (Py_ssize_t s = 0; s < s_count; s++) {
        if (o[s] < 0 || o[s] > o[s + 1] || o[s + 1] > n) {
            PyErr_SetString(PyExc_ValueError, "offsets out of range");
            return -1;
        }
    }
    return 0;
}

/* Whether the step ends never decrease (window walks may then resume where they stopped). */
static int is_monotonic(const int64_t *e, Py_ssize_t steps) {
    for (Py_ssize_t k = 1; k < steps; k++)
        if (e[k] < e[k - 1]) return 0;
    return 1;
}

/* Windows are valid when 0 <= lo <= hi <= n for every entry. */
static int check_windows(const int64_t *lo, const int64_t *hi, Py_ssize_t m, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < m; i++) {
        if (lo[i] < 0 || lo[i] > hi[i] || hi[i] > n) {
            PyErr_SetString(PyExc_ValueError, "window index out of range");
            return -1;
        }
    }
    return 0;
}

/* Index one past the last ts[a..b) <= t (ts ascending). */
static int64_t upper(const int64_t *ts, int64_t a, int64_t b, int64_t t) {
    while (a < b) {
        int64_t mid = a + (b - a) / 2;
        if (ts[mid] <= t)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

typedef struct {
    const int64_t *t, *o, *e;
    Py_ssize_t steps;
    int64_t range_ms;
    int monotonic;
    int64_t *lo, *hi;
} bounds_job;

static void bounds_rows(void *arg, Py_ssize_t s0, Py_ssize_t s1) {
    const bounds_job *j = (const bounds_job *)arg;
    const int64_t *t = j->t, *e = j->e;
    const Py_ssize_t steps = j->steps;
    for (Py_ssize_t s = s0; s < s1; s++) {
        int64_t a = j->o[s], b = j->o[s + 1];
        int64_t *rlo = j->lo + s * steps, *rhi = j->hi + s * steps;
        if (j->monotonic) {
            int64_t i = a, k2 = a;
            for (Py_ssize_t k = 0; k < steps; k++) {
                int64_t end = e[k], start = e[k] - j->range_ms;
                while (i < b && t[i] <= start) i++;
                while (k2 < b && t[k2] <= end) k2++;
                rlo[k] = i;
                rhi[k] = k2;
            }
        } else {
            for (Py_ssize_t k = 0; k < steps; k++) {
                rlo[k] = upper(t, a, b, e[k] - j->range_ms);
                rhi[k] = upper(t, a, b, e[k]);
            }
        }
    }
}

/* window_bounds(ts, offsets, ends, range_ms, lo_out, hi_out): per series s and step k,
 * lo = first index with ts > ends[k] - range, hi = first index with ts > ends[k]. */
PyObject *py_pq_window_bounds(PyObject *self, PyObject *args) {
    Py_buffer ts, off, ends, lo, hi;
    long long range_ms;
    if (!PyArg_ParseTuple(args, "y*y*y*Lw*w*", &ts, &off, &ends, &range_ms, &lo, &hi)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = ts.len / 8, s_count = off.len / 8 - 1, steps = ends.len / 8;
    if (ts.len % 8 || off.len % 8 || s_count < 0 || ends.len % 8) {
        PyErr_SetString(PyExc_ValueError, "bad buffer sizes for window_bounds");
        goto done;
    }
    if (need(&lo, s_count * steps * 8, "lo") < 0 || need(&hi, s_count * steps * 8, "hi") < 0)
        goto done;
    const int64_t *t = (const int64_t *)ts.buf, *o = (const int64_t *)off.buf;
    const int64_t *e = (const int64_t *)ends.buf;
    if (check_offsets(o, s_count, n) < 0) goto done;
    int monotonic = is_monotonic(e, steps);
    bounds_job job = {t, o, e, steps, (int64_t)range_ms, monotonic, (int64_t *)lo.buf,
                      (int64_t *)hi.buf};
    Py_BEGIN_ALLOW_THREADS;
    /* One thread: the walk is bound by memory (and page faults on the fresh outputs); a
     * second thread measured no faster. */
    bounds_rows(&job, 0, s_count);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ts);
    PyBuffer_Release(&off);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    return ret;
}

typedef struct {
    const int64_t *t, *lo, *hi, *ends, *offsets;
    const double *v;
    Py_ssize_t steps;
    int64_t range_ms;
    int is_counter, is_rate, monotonic;
    double *out;
    unsigned char *ok;
} rate_job;

/* The part of extrapolatedRate that depends only on a window's sample times and count (the
 * last window's, remembered): scrapes at a steady interval give every window of a series (and
 * of its neighbours) the same times relative to the window, and the six divisions below are
 * most of a window's cost. Values come from the very same expressions, so a hit changes no
 * result bit. */
typedef struct {
    int64_t to_start_ms, to_end_ms, count; /* the key; count 0: nothing remembered */
    double to_start, to_end, sampled;       /* after the extrapolation thresholds */
    double factor;                          /* with to_start as is (no counter adjustment) */
    double zero_ratio;                      /* 2 * to_start / sampled: see rate_window */
} rate_memo;

static inline double rate_factor(const rate_job *j, double sampled, double to_start,
                                 double to_end) {
    double factor = (sampled + to_start + to_end) / sampled;
    if (j->is_rate) factor = factor / ((double)j->range_ms / 1000.0);
    return factor;
}

/* extrapolatedRate of the window [a, b) ending at end into out/ok; resets: whether the
 * window may hold a counter drop (else the reset loop is skipped: it would add nothing). */
static inline void rate_window(const rate_job *j, rate_memo *m, int64_t a, int64_t b,
                               int64_t end, int resets, double *out, unsigned char *ok) {
    const int64_t *t = j->t;
    const double *v = j->v;
    int64_t count = b - a;
    if (count < 2) {
        *out = 0.0;
        *ok = 0;
        return;
    }
    double f_first = v[a], f_last = v[b - 1];
    double result = f_last - f_first;
    if (resets) {
        /* Counter resets: the value before each drop is added, one at a time, in sample order
         * (Prometheus' order, which decides overflow to +-Inf). */
        for (int64_t i = a + 1; i < b; i++)
            if (v[i] < v[i - 1]) result += v[i - 1];
    }
    int64_t to_start_ms = t[a] - (end - j->range_ms), to_end_ms = end - t[b - 1];
    if (m->count != count || m->to_start_ms != to_start_ms || m->to_end_ms != to_end_ms) {
        double to_start = (double)to_start_ms / 1000.0;
        double to_end = (double)to_end_ms / 1000.0;
        double sampled = (double)(t[b - 1] - t[a]) / 1000.0;
        double avg = sampled / (double)(count - 1);
        double threshold = avg * 1.1;
        if (to_start >= threshold) to_start = avg / 2;
        if (to_end >= threshold) to_end = avg / 2;
        m->to_start_ms = to_start_ms;
        m->to_end_ms = to_end_ms;
        m->count = count;
        m->to_start = to_start;
        m->to_end = to_end;
        m->sampled = sampled;
        m->factor = rate_factor(j, sampled, to_start, to_end);
        m->zero_ratio = 2.0 * to_start / sampled;
    }
    double factor = m->factor;
    if (j->is_counter && result > 0 && f_first >= 0) {
        /* Prometheus shortens the start to where the counter would have been zero, when that
         * is nearer: sampled * (f_first / result) < to_start. A first value of more than twice
         * result * to_start / sampled (a normal, finite bound) puts that point far beyond
         * to_start, whatever the rounding; anything else takes the exact test. */
        double bound = result * m->zero_ratio;
        if (!(bound >= 1e-300 && f_first > bound)) {
            double to_zero = m->sampled * (f_first / result);
            if (to_zero < m->to_start) factor = rate_factor(j, m->sampled, to_zero, m->to_end);
        }
    }
    *out = result * factor;
    *ok = 1;
}

/* Whether v[a+1..b) holds a drop (v[i] < v[i-1]). */
static inline int has_drop(const double *v, int64_t a, int64_t b) {
    for (int64_t i = a + 1; i < b; i++)
        if (v[i] < v[i - 1]) return 1;
    return 0;
}

/* Windows of rows (series) [r0, r1), given as lo/hi. */
static void rate_rows(void *arg, Py_ssize_t r0, Py_ssize_t r1) {
    const rate_job *j = (const rate_job *)arg;
    rate_memo memo = {0};
    for (Py_ssize_t r = r0; r < r1; r++) {
        Py_ssize_t w0 = r * j->steps, w1 = w0 + j->steps;
        /* Counter resets are rare: scan the row's samples once. */
        int resets = 0;
        if (j->is_counter) {
            int64_t lo_min = INT64_MAX, hi_max = 0;
            for (Py_ssize_t w = w0; w < w1; w++) {
                if (j->hi[w] - j->lo[w] < 2) continue;
                if (j->lo[w] < lo_min) lo_min = j->lo[w];
                if (j->hi[w] > hi_max) hi_max = j->hi[w];
            }
            resets = lo_min < hi_max && has_drop(j->v, lo_min, hi_max);
        }
        for (Py_ssize_t w = w0; w < w1; w++)
            rate_window(j, &memo, j->lo[w], j->hi[w], j->ends[w - w0], resets, &j->out[w],
                        &j->ok[w]);
    }
}

/* Series [s0, s1) straight from their samples (offsets): windows located as window_bounds
 * does, without writing them out. */
static void rate_series(void *arg, Py_ssize_t s0, Py_ssize_t s1) {
    const rate_job *j = (const rate_job *)arg;
    const int64_t *t = j->t, *e = j->ends;
    const Py_ssize_t steps = j->steps;
    rate_memo memo = {0};
    for (Py_ssize_t s = s0; s < s1; s++) {
        int64_t a = j->offsets[s], b = j->offsets[s + 1];
        int resets = j->is_counter && has_drop(j->v, a, b);
        double *out = j->out + s * steps;
        unsigned char *ok = j->ok + s * steps;
        int64_t i = a, k2 = a;
        for (Py_ssize_t k = 0; k < steps; k++) {
            int64_t end = e[k], start = e[k] - j->range_ms;
            int64_t lo, hi;
            if (j->monotonic) {
                while (i < b && t[i] <= start) i++;
                while (k2 < b && t[k2] <= end) k2++;
                lo = i;
                hi = k2;
            } else {
                lo = upper(t, a, b, start);
                hi = upper(t, a, b, end);
            }
            rate_window(j, &memo, lo, hi, end, resets, &out[k], &ok[k]);
        }
    }
}

/* rate/increase/delta as Prometheus' extrapolatedRate; out 0 and ok 0 below two samples. */
PyObject *py_pq_rate(PyObject *self, PyObject *args) {
    Py_buffer ts, vals, lo, hi, ends, out, ok;
    long long range_ms;
    int is_counter, is_rate;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*Lppw*w*", &ts, &vals, &lo, &hi, &ends, &range_ms,
                          &is_counter, &is_rate, &out, &ok))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = ts.len / 8, m = lo.len / 8, steps = ends.len / 8;
    if (ts.len % 8 || vals.len != ts.len || lo.len % 8 || hi.len != lo.len || ends.len % 8 ||
        steps == 0 || m % steps) {
        PyErr_SetString(PyExc_ValueError, "bad buffer sizes for rate");
        goto done;
    }
    if (need(&out, m * 8, "out") < 0 || need(&ok, m, "ok") < 0) goto done;
    rate_job job = {(const int64_t *)ts.buf, (const int64_t *)lo.buf, (const int64_t *)hi.buf,
                    (const int64_t *)ends.buf, NULL, (const double *)vals.buf, steps,
                    (int64_t)range_ms, is_counter, is_rate, 1, (double *)out.buf,
                    (unsigned char *)ok.buf};
    if (check_windows(job.lo, job.hi, m, n) < 0) goto done;
    Py_BEGIN_ALLOW_THREADS;
    pq_parallel(rate_rows, &job, m / steps, WINDOWS_MIN_PER_THREAD / steps + 1);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ts);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&out);
    PyBuffer_Release(&ok);
    return ret;
}

/* series_rate(ts, values, offsets, ends, range_ms, is_counter, is_rate, out, ok): rate over
 * the windows window_bounds would give, located on the fly (no lo/hi arrays). */
PyObject *py_pq_series_rate(PyObject *self, PyObject *args) {
    Py_buffer ts, vals, off, ends, out, ok;
    long long range_ms;
    int is_counter, is_rate;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Lppw*w*", &ts, &vals, &off, &ends, &range_ms,
                          &is_counter, &is_rate, &out, &ok))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = ts.len / 8, s_count = off.len / 8 - 1, steps = ends.len / 8;
    if (ts.len % 8 || vals.len != ts.len || off.len % 8 || s_count < 0 || ends.len % 8) {
        PyErr_SetString(PyExc_ValueError, "bad buffer sizes for series_rate");
        goto done;
    }
    if (need(&out, s_count * steps * 8, "out") < 0 || need(&ok, s_count * steps, "ok") < 0)
        goto done;
    const int64_t *o = (const int64_t *)off.buf, *e = (const int64_t *)ends.buf;
    if (check_offsets(o, s_count, n) < 0) goto done;
    int monotonic = is_monotonic(e, steps);
    rate_job job = {(const int64_t *)ts.buf, NULL, NULL, e, o, (const double *)vals.buf, steps,
                    (int64_t)range_ms, is_counter, is_rate, monotonic, (double *)out.buf,
                    (unsigned char *)ok.buf};
    Py_BEGIN_ALLOW_THREADS;
    pq_parallel(rate_series, &job, s_count, WINDOWS_MIN_PER_THREAD / (steps ? steps : 1) + 1);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ts);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&off);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&out);
    PyBuffer_Release(&ok);
    return ret;
}

/* The k-th smallest of x[0..n) (no NaNs), rearranging x: Hoare quickselect, median of three. */
static double select_kth(double *x, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (hi > lo) {
        int64_t mid = lo + (hi - lo) / 2;
        double a = x[lo], b = x[mid], c = x[hi];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] < pivot) i++;
            while (x[j] > pivot) j--;
            if (i <= j) {
                double t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return x[k];
    }
    return x[k];
}

/* Element of rank k in Go's sort.Float64s order (NaN first) of x[0..n); x is rearranged. */
static double rank_value(double *x, int64_t n, int64_t k, int64_t *nans) {
    if (*nans < 0) {
        int64_t w = 0;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(x[i])) {
                double t = x[w];
                x[w] = x[i];
                x[i] = t;
                w++;
            }
        }
        *nans = w;
    }
    if (k < *nans) return NAN;
    return select_kth(x + *nans, n - *nans, k - *nans);
}

/* quantile by linear interpolation between closest ranks, over unsorted x (rearranged). */
static double quantile_select(double q, double *x, int64_t n) {
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    double rank = q * (double)(n - 1);
    double fl = floor(rank);
    int64_t lower = (int64_t)fl;
    if (lower < 0) lower = 0;
    if (lower > n - 1) lower = n - 1;
    int64_t up = lower + 1;
    if (up > n - 1) up = n - 1;
    double weight = rank - fl;
    int64_t nans = -1;
    double lo_v = rank_value(x, n, lower, &nans);
    if (up == lower || weight == 0) return lo_v; /* no interpolation: keeps an infinite extreme */
    double hi_v = rank_value(x, n, up, &nans);
    return lo_v * (1 - weight) + hi_v * weight;
}

typedef struct {
    int kind;
    const double *v, *pq;
    const int64_t *pl, *ph;
    double *o;
    int64_t widest;
    int failed;
} stat_job;

/* Windows [w0, w1) of window_stat; order statistics use a scratch copy of each window. */
static void stat_windows(void *arg, Py_ssize_t w0, Py_ssize_t w1) {
    stat_job *j = (stat_job *)arg;
    const int kind = j->kind;
    const double *v = j->v, *pq = j->pq;
    const int64_t *pl = j->pl, *ph = j->ph;
    double *o = j->o;
    double *buf = NULL;
    if (kind >= 4) {
        buf = (double *)malloc((size_t)(j->widest > 0 ? j->widest : 1) * sizeof(double));
        if (!buf) {
            j->failed = 1; /* one int written by any failing thread: read after the join */
            return;
        }
    }
    for (Py_ssize_t w = w0; w < w1; w++) {
        int64_t a = pl[w], b = ph[w], cnt = b - a;
        if (cnt <= 0) {
            o[w] = NAN;
            continue;
        }
        if (kind == 0) {
            double sum = 0, c = 0;
            for (int64_t i = a; i < b; i++) kahan_inc(v[i], &sum, &c);
            o[w] = isinf(sum) ? sum : sum + c;
        } else if (kind == 1) {
            double sum = v[a], c = 0, mean = 0, count = 1;
            int incremental = 0;
            for (int64_t i = a + 1; i < b; i++) {
                count = (double)(i - a + 1);
                if (!incremental) {
                    double ns = sum, nc = c;
                    kahan_inc(v[i], &ns, &nc);
                    if (!isinf(ns)) {
                        sum = ns;
                        c = nc;
                        continue;
                    }
                    incremental = 1;
                    mean = sum / (count - 1);
                    c = c / (count - 1);
                }
                double q = (count - 1) / count;
                double msum = q * mean, mc = q * c;
                kahan_inc(v[i] / count, &msum, &mc);
                mean = msum;
                c = mc;
            }
            o[w] = incremental ? mean + c : sum / count + c / count;
        } else if (kind == 2 || kind == 3) {
            double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
            for (int64_t i = a; i < b; i++) {
                count += 1;
                double delta = v[i] - (mean + cmean);
                kahan_inc(delta / count, &mean, &cmean);
                kahan_inc(delta * (v[i] - (mean + cmean)), &aux, &caux);
            }
            double var = (aux + caux) / count;
            o[w] = kind == 3 ? sqrt(var) : var;
        } else {
            memcpy(buf, v + a, (size_t)cnt * sizeof(double));
            if (kind == 4) {
                o[w] = quantile_select(pq[w], buf, cnt);
            } else {
                int has_nan = 0;
                for (int64_t i = 0; i < cnt; i++) has_nan |= isnan(buf[i]);
                if (has_nan) {
                    o[w] = NAN;
                    continue;
                }
                double med = quantile_select(0.5, buf, cnt);
                for (int64_t i = 0; i < cnt; i++) buf[i] = fabs(v[a + i] - med);
                o[w] = quantile_select(0.5, buf, cnt);
            }
        }
    }
    free(buf);
}

/* window_stat(kind, vals, lo, hi, param, out): 0 sum (Kahan), 1 avg, 2 stdvar, 3 stddev,
 * 4 quantile (param per window), 5 mad. Windows must be non-empty (callers mask the rest). */
PyObject *py_pq_window_stat(PyObject *self, PyObject *args) {
    Py_buffer vals, lo, hi, param, out;
    int kind;
    if (!PyArg_ParseTuple(args, "iy*y*y*y*w*", &kind, &vals, &lo, &hi, &param, &out)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = vals.len / 8, m = lo.len / 8;
    if (vals.len % 8 || lo.len % 8 || hi.len != lo.len || kind < 0 || kind > 5) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to window_stat");
        goto done;
    }
    if (need(&out, m * 8, "out") < 0) goto done;
    if ((kind == 4) && need(&param, m * 8, "param") < 0) goto done;
    const int64_t *pl = (const int64_t *)lo.buf, *ph = (const int64_t *)hi.buf;
    if (check_windows(pl, ph, m, n) < 0) goto done;
    const double *v = (const double *)vals.buf, *pq = (const double *)param.buf;
    double *o = (double *)out.buf;
    int64_t widest = 0;
    for (Py_ssize_t w = 0; w < m; w++)
        if (ph[w] - pl[w] > widest) widest = ph[w] - pl[w];
    stat_job job = {kind, v, pq, pl, ph, o, widest, 0};
    Py_BEGIN_ALLOW_THREADS;
    /* quantile/mad windows cost a selection each: split them sooner */
    pq_parallel(stat_windows, &job, m, kind >= 4 ? 2000 : WINDOWS_MIN_PER_THREAD);
    Py_END_ALLOW_THREADS;
    if (job.failed) {
        PyErr_NoMemory();
        goto done;
    }
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&vals);
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    PyBuffer_Release(&param);
    PyBuffer_Release(&out);
    return ret;
}

#define STALE_NAN_BITS 0x7FF0000000000002ull

/* instant_finish(v, t, ends, lookback_ms, present_out, keep_out) -> points: the last step of an
 * instant selector read by sample_pages_columns / sample_columns: present[s, k] when t[s, k] >
 * ends[k] - lookback and v[s, k] is not a staleness marker; v is set to 0 where it is not (so no
 * unwritten memory is ever read); keep[s] when row s has a point; returns how many points. */
PyObject *py_pq_instant_finish(PyObject *self, PyObject *args) {
    Py_buffer v, t, ends, present, keep;
    long long lookback;
    if (!PyArg_ParseTuple(args, "w*y*y*Lw*w*", &v, &t, &ends, &lookback, &present, &keep))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t steps = ends.len / 8, rows = steps ? t.len / 8 / steps : 0;
    if (ends.len % 8 || t.len % 8 || (steps && t.len != rows * steps * 8) ||
        (!steps && t.len != 0)) {
        PyErr_SetString(PyExc_ValueError, "bad buffer sizes for instant_finish");
        goto done;
    }
    if (need(&v, rows * steps * 8, "v") < 0 || need(&present, rows * steps, "present") < 0 ||
        need(&keep, rows, "keep") < 0)
        goto done;
    const int64_t *tt = t.buf, *e = ends.buf;
    uint64_t *vv = v.buf;
    unsigned char *pr = present.buf, *kp = keep.buf;
    long long points = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t s = 0; s < rows; s++) {
        const Py_ssize_t r = s * steps;
        long long row_points = 0;
        for (Py_ssize_t k = 0; k < steps; k++) {
            const int p = tt[r + k] > e[k] - lookback && vv[r + k] != STALE_NAN_BITS;
            pr[r + k] = (unsigned char)p;
            if (!p) vv[r + k] = 0; /* +0.0 */
            row_points += p;
        }
        kp[s] = row_points > 0;
        points += row_points;
    }
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromLongLong(points);
done:
    PyBuffer_Release(&v);
    PyBuffer_Release(&t);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&present);
    PyBuffer_Release(&keep);
    return ret;
}
