/*
 * What the PromQL kernels (promql_windows.c, promql_agg.c) share: Prometheus' Kahan step and
 * splitting a kernel's independent work items (windows, series or steps) over a few threads.
 *
 * Callers hold no Python state: pq_parallel runs between Py_BEGIN/END_ALLOW_THREADS. Each item
 * is computed exactly as in the serial loop, so results do not depend on the split. Small jobs
 * (below 2 x min_items) and a failed pthread_create run on the calling thread alone.
 */
#ifndef OBSKIT_PROMQL_KERNELS_H
#define OBSKIT_PROMQL_KERNELS_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* Prometheus' kahanSumInc (Neumaier's variant). */
static inline void kahan_inc(double inc, double *sum, double *c) {
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* The query machines have 2-4 cores; more threads would only queue behind other queries. */
#define PQ_MAX_THREADS 4

typedef void (*pq_range_fn)(void *ctx, Py_ssize_t begin, Py_ssize_t end);

typedef struct {
    pq_range_fn fn;
    void *ctx;
    Py_ssize_t begin, end;
} pq_part;

static void *pq_part_run(void *arg) {
    pq_part *p = (pq_part *)arg;
    p->fn(p->ctx, p->begin, p->end);
    return NULL;
}

/* fn(ctx, begin, end) over [0, n) in up to PQ_MAX_THREADS contiguous parts. */
static inline void pq_parallel(pq_range_fn fn, void *ctx, Py_ssize_t n, Py_ssize_t min_items) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    Py_ssize_t parts = cores > 1 ? (Py_ssize_t)cores : 1;
    if (parts > PQ_MAX_THREADS) parts = PQ_MAX_THREADS;
    if (min_items < 1) min_items = 1;
    if (parts > n / min_items) parts = n / min_items;
    if (parts <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pq_part part[PQ_MAX_THREADS];
    pthread_t tid[PQ_MAX_THREADS];
    int started[PQ_MAX_THREADS] = {0};
    for (Py_ssize_t i = 0; i < parts; i++) {
        part[i].fn = fn;
        part[i].ctx = ctx;
        part[i].begin = n * i / parts;
        part[i].end = n * (i + 1) / parts;
    }
    for (Py_ssize_t i = 1; i < parts; i++)
        started[i] = pthread_create(&tid[i], NULL, pq_part_run, &part[i]) == 0;
    pq_part_run(&part[0]);
    for (Py_ssize_t i = 1; i < parts; i++) {
        if (started[i])
            pthread_join(tid[i], NULL);
        else
            pq_part_run(&part[i]);
    }
}

#endif
