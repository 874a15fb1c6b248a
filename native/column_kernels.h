/*
 * Helpers shared by the per-column kernels (obskit_native.c) and the batch column codecs
 * (decode_columns.c, encode_columns.c): zigzag, byte planes and prefix sums. Everything here is
 * static inline so each translation unit gets its own copy; none of it touches Python objects.
 */
#ifndef OBSKIT_COLUMN_KERNELS_H
#define OBSKIT_COLUMN_KERNELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DECIMAL_EXP 18

/* Powers of ten are exact in float64 up to 10**22; the decimal codec stays far below that. */
static const double POW10[MAX_DECIMAL_EXP + 1] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

/* 2**53: scaled decimals at or beyond it do not survive int64 -> float64 exactly. */
static const double MAX_EXACT = 9007199254740992.0;

static inline uint64_t zigzag(uint64_t d) { return (d << 1) ^ (uint64_t)((int64_t)d >> 63); }

static inline uint64_t unzigzag(uint64_t u) { return (u >> 1) ^ (0 - (u & 1)); }

static inline uint64_t load_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8); /* x86-64 and aarch64 builds are little-endian, like the format */
    return v;
}

/* Gather bytes lo..hi-1 of k words from their planes into out (other bytes zero). */
static inline void gather_planes(const unsigned char *src, Py_ssize_t k, int lo, int hi,
                                 uint64_t *out) {
    memset(out, 0, (size_t)k * 8);
    for (int j = lo; j < hi; j++) {
        const unsigned char *plane = src + (Py_ssize_t)(j - lo) * k;
        const int shift = 8 * j;
        for (Py_ssize_t i = 0; i < k; i++) out[i] |= (uint64_t)plane[i] << shift;
    }
}

/* Scatter bytes lo..hi-1 of k words into hi-lo planes of k bytes each. */
static inline void scatter_planes(const uint64_t *in, Py_ssize_t k, int lo, int hi,
                                  unsigned char *out) {
    for (int j = lo; j < hi; j++) {
        unsigned char *plane = out + (Py_ssize_t)(j - lo) * k;
        const int shift = 8 * j;
        for (Py_ssize_t i = 0; i < k; i++) plane[i] = (unsigned char)(in[i] >> shift);
    }
}

/* Residual words (already gathered in out[order..n-1]) -> values in place. */
static inline void integrate(uint64_t *out, Py_ssize_t n, int order, uint64_t divisor,
                             uint64_t offset, uint64_t first, uint64_t first_delta) {
    uint64_t x = first;
    out[0] = x;
    if (n < 2) return;
    if (order == 1) {
        for (Py_ssize_t i = 1; i < n; i++) {
            x += (unzigzag(out[i]) + offset) * divisor;
            out[i] = x;
        }
    } else {
        uint64_t delta = first_delta;
        x += delta;
        out[1] = x;
        for (Py_ssize_t i = 2; i < n; i++) {
            delta += (unzigzag(out[i]) + offset) * divisor;
            x += delta;
            out[i] = x;
        }
    }
}

/* Batch codecs (decode_columns.c, encode_columns.c), registered by obskit_native.c. */
PyObject *py_decode_columns(PyObject *self, PyObject *args);
PyObject *py_decode_pages_columns(PyObject *self, PyObject *args);
PyObject *py_sample_pages_columns(PyObject *self, PyObject *args);
PyObject *py_sample_columns(PyObject *self, PyObject *args);
PyObject *py_encode_columns(PyObject *self, PyObject *args);
PyObject *py_sort_samples(PyObject *self, PyObject *args);
PyObject *py_tokenize_exposition(PyObject *self, PyObject *args); /* text_parse.c */
PyObject *py_merge_samples(PyObject *self, PyObject *args);
PyObject *py_concat_runs(PyObject *self, PyObject *args);
PyObject *py_pq_window_bounds(PyObject *self, PyObject *args); /* promql_windows.c */
PyObject *py_pq_rate(PyObject *self, PyObject *args);
PyObject *py_pq_series_rate(PyObject *self, PyObject *args);
PyObject *py_pq_instant_finish(PyObject *self, PyObject *args);
PyObject *py_pq_window_stat(PyObject *self, PyObject *args);
PyObject *py_pq_group_reduce(PyObject *self, PyObject *args); /* promql_agg.c */
PyObject *py_json_points(PyObject *self, PyObject *args); /* json_points.c */
PyObject *py_json_matrix(PyObject *self, PyObject *args);
PyObject *py_rans_encode_lanes(PyObject *self, PyObject *args); /* value_pages.c */
PyObject *py_decode_value_page(PyObject *self, PyObject *args);
PyObject *py_analyse_value_page(PyObject *self, PyObject *args); /* value_pages_enc.c */
PyObject *py_rans_lane_symbols(PyObject *self, PyObject *args);

/* Remote-write decoding and its series-ref cache (remote_write.c). */
PyObject *py_rw_count(PyObject *self, PyObject *args);
PyObject *py_rw_decode(PyObject *self, PyObject *args);
PyObject *py_rw_decode_fit(PyObject *self, PyObject *args);
PyObject *py_rw_cache_new(PyObject *self, PyObject *args);
PyObject *py_rw_cache_len(PyObject *self, PyObject *args);
PyObject *py_rw_cache_clear(PyObject *self, PyObject *args);
PyObject *py_rw_cache_lookup(PyObject *self, PyObject *args);
PyObject *py_rw_cache_insert(PyObject *self, PyObject *args);
PyObject *py_rw_snappy_decompress(PyObject *self, PyObject *args);

#endif
