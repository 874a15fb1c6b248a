/*
 * PromQL grouped aggregation (sum, avg, stdvar, stddev, count by/without): C twin of
 * group_reduce in src/obskit/kernels/_promql.py.
 *
 * Input: vals[S, N] and present[S, N] (series x steps, row-major), gid[S] in [0, G). Output:
 * out[G, N] and count[G, N] (valid members per group and step). Members of a group are added in
 * series order with the numpy twin's floating-point operations in the same order (compiled with
 * -ffp-contract=off), so both backends give identical results. Steps are independent: large
 * inputs are split by step ranges over a few threads, without the GIL.
 */
#include "column_kernels.h"
#include "promql_kernels.h"

#include <math.h>
#include <stdlib.h>

/* Below this many (series x steps) cells per thread a second thread costs more than it saves. */
#define AGG_MIN_CELLS_PER_THREAD 200000

typedef struct {
    int kind;
    Py_ssize_t s_count, steps;
    const double *v;
    const unsigned char *present;
    const int64_t *gid;
    double *out, *count, *comp, *mean;
    unsigned char *incremental;
} agg_job;

static void agg_steps(void *arg, Py_ssize_t k0, Py_ssize_t k1) {
    agg_job *j = (agg_job *)arg;
    const Py_ssize_t n = j->steps;
    for (Py_ssize_t s = 0; s < j->s_count; s++) {
        const double *row = j->v + s * n;
        const unsigned char *p = j->present + s * n;
        const Py_ssize_t base = (Py_ssize_t)j->gid[s] * n;
        for (Py_ssize_t k = k0; k < k1; k++) {
            if (!p[k]) continue;
            const double x = row[k];
            const Py_ssize_t i = base + k;
            double cnt = j->count[i] + 1;
            j->count[i] = cnt;
            if (j->kind == 4) continue;
            double *total = &j->out[i], *comp = &j->comp[i];
            if (j->kind == 0) {
                if (cnt == 1)
                    *total = x;
                else
                    kahan_inc(x, total, comp);
            } else if (j->kind == 1) {
                double *mean = &j->mean[i];
                if (cnt == 1) {
                    *total = x;
                    *mean = x;
                    continue;
                }
                if (!j->incremental[i]) {
                    double ns = *total, nc = *comp;
                    kahan_inc(x, &ns, &nc);
                    if (!isinf(ns)) {
                        *total = ns;
                        *comp = nc;
                        continue;
                    }
                    j->incremental[i] = 1;
                    *mean = *total / (cnt - 1);
                    *comp = *comp / (cnt - 1);
                }
                double q = (cnt - 1) / cnt;
                double msum = q * *mean, mc = q * *comp;
                kahan_inc(x / cnt, &msum, &mc);
                *mean = msum;
                *comp = mc;
            } else {
                double *mean = &j->mean[i];
                double delta = x - *mean;
                double new_mean = *mean + delta / cnt;
                *total = *total + delta * (x - new_mean);
                *mean = new_mean;
            }
        }
    }
}

static void agg_finish(const agg_job *j, Py_ssize_t cells) {
    for (Py_ssize_t i = 0; i < cells; i++) {
        double total = j->out[i], c = j->comp[i], cnt = j->count[i];
        if (j->kind == 0) {
            j->out[i] = isinf(total) ? total : total + c;
        } else if (j->kind == 1) {
            j->out[i] = j->incremental[i] ? j->mean[i] + c : total / cnt + c / cnt;
        } else if (j->kind == 4) {
            j->out[i] = cnt;
        } else {
            double var = total / cnt;
            j->out[i] = j->kind == 3 ? sqrt(var) : var;
        }
    }
}

/* pq_group_reduce(kind, vals, present, gid, n_groups, out, count): kind 0 sum, 1 avg,
 * 2 stdvar, 3 stddev, 4 count only; out and count must be zero-filled [n_groups, N] float64. */
PyObject *py_pq_group_reduce(PyObject *self, PyObject *args) {
    Py_buffer vals, present, gid, out, count;
    int kind;
    Py_ssize_t n_groups;
    if (!PyArg_ParseTuple(args, "iy*y*y*nw*w*", &kind, &vals, &present, &gid, &n_groups, &out,
                          &count))
        return NULL;
    PyObject *ret = NULL;
    double *comp = NULL, *mean = NULL;
    unsigned char *incremental = NULL;
    Py_ssize_t s_count = gid.len / 8;
    Py_ssize_t cells = out.len / 8;
    if (kind < 0 || kind > 4 || gid.len % 8 || n_groups < 0 || vals.len % 8 ||
        vals.len != present.len * 8 || out.len % 8 || count.len != out.len ||
        (n_groups == 0 ? cells != 0 : cells % n_groups) || (s_count == 0 && vals.len != 0)) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to group_reduce");
        goto done;
    }
    Py_ssize_t steps = n_groups ? cells / n_groups : 0;
    if (s_count && vals.len / 8 != s_count * steps) {
        PyErr_SetString(PyExc_ValueError, "group_reduce: values do not match series x steps");
        goto done;
    }
    const int64_t *g = (const int64_t *)gid.buf;
    for (Py_ssize_t s = 0; s < s_count; s++) {
        if (g[s] < 0 || g[s] >= n_groups) {
            PyErr_SetString(PyExc_ValueError, "group_reduce: group number out of range");
            goto done;
        }
    }
    comp = (double *)calloc((size_t)(cells ? cells : 1), sizeof(double));
    mean = (double *)calloc((size_t)(cells ? cells : 1), sizeof(double));
    incremental = (unsigned char *)calloc((size_t)(cells ? cells : 1), 1);
    if (!comp || !mean || !incremental) {
        PyErr_NoMemory();
        goto done;
    }
    agg_job job = {kind,     s_count, steps,       (const double *)vals.buf,
                   (const unsigned char *)present.buf, g, (double *)out.buf,
                   (double *)count.buf, comp, mean, incremental};
    Py_BEGIN_ALLOW_THREADS;
    Py_ssize_t per_step = s_count > 0 ? s_count : 1;
    pq_parallel(agg_steps, &job, steps, AGG_MIN_CELLS_PER_THREAD / per_step + 1);
    agg_finish(&job, cells);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    free(comp);
    free(mean);
    free(incremental);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&present);
    PyBuffer_Release(&gid);
    PyBuffer_Release(&out);
    PyBuffer_Release(&count);
    return ret;
}
