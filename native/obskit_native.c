/*
 * obskit._native: C twins of the column kernels in src/obskit/kernels/_numpy.py.
 *
 * Each function works on Python buffers (no numpy headers): inputs are read-only buffers, the
 * result goes into a caller-allocated writable buffer whose size is checked here. The wrappers in
 * kernels/__init__.py give these functions exactly the signatures of the numpy reference, and a
 * parity test checks both produce identical bytes. Loops run without the GIL. Bad sizes raise
 * ValueError (turned into CorruptDataError by obskit.encoding); nothing here may read or write
 * outside the buffers it was given, whatever the arguments.
 *
 * Arithmetic on differences and prefix sums is unsigned 64-bit, i.e. wraps modulo 2**64 exactly as
 * the numpy reference does on uint64 views.
 */
#include "column_kernels.h"

#include <math.h>

static int check_size(const Py_buffer *b, Py_ssize_t want, const char *what) {
    if (b->len != want) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", what, b->len, want);
        return -1;
    }
    return 0;
}

static int check_decode_args(Py_ssize_t n, int order, int width) {
    if (n < 1 || (order != 1 && order != 2) || width < 0 || width > 8) {
        PyErr_Format(PyExc_ValueError, "cannot decode %zd values of order %d, width %d", n, order,
                     width);
        return -1;
    }
    return 0;
}

/* Shared body of decode_ints / decode_decimal: fills out[0..n) with the int64 values. */
static int decode_ints_into(Py_buffer *src, Py_buffer *dst, Py_ssize_t n, int order,
                            unsigned long long divisor, int width, long long offset,
                            long long first, long long first_delta) {
    if (check_decode_args(n, order, width) < 0) return -1;
    Py_ssize_t k = n > order ? n - order : 0;
    if (check_size(src, k * width, "byte planes") < 0) return -1;
    if (check_size(dst, n * 8, "output") < 0) return -1;
    uint64_t *out = (uint64_t *)dst->buf;
    Py_BEGIN_ALLOW_THREADS;
    gather_planes((const unsigned char *)src->buf, k, 0, width, out + order);
    integrate(out, n, order, (uint64_t)divisor, (uint64_t)offset, (uint64_t)first,
              (uint64_t)first_delta);
    Py_END_ALLOW_THREADS;
    return 0;
}

static PyObject *py_int_residuals(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    int order;
    long long divisor, offset;
    if (!PyArg_ParseTuple(args, "y*iLLw*", &src, &order, &divisor, &offset, &dst)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = src.len / 8;
    if (src.len % 8 || (order != 1 && order != 2) || n < order || divisor < 1) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to int_residuals");
        goto done;
    }
    if (check_size(&dst, (n - order) * 8, "output") < 0) goto done;
    const uint64_t *x = (const uint64_t *)src.buf;
    uint64_t *out = (uint64_t *)dst.buf;
    Py_BEGIN_ALLOW_THREADS;
    const int64_t div = (int64_t)divisor;
    for (Py_ssize_t i = 0; i + order < n; i++) {
        uint64_t d = x[i + 1] - x[i];
        if (order == 2) d = (x[i + 2] - x[i + 1]) - d;
        if (div != 1) d = (uint64_t)((int64_t)d / div);
        out[i] = zigzag(d - (uint64_t)offset);
    }
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static PyObject *py_xor_residuals(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    if (!PyArg_ParseTuple(args, "y*w*", &src, &dst)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = src.len / 8;
    if (src.len % 8 || n < 1) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to xor_residuals");
        goto done;
    }
    if (check_size(&dst, (n - 1) * 8, "output") < 0) goto done;
    const uint64_t *x = (const uint64_t *)src.buf;
    uint64_t *out = (uint64_t *)dst.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t i = 0; i + 1 < n; i++) out[i] = x[i + 1] ^ x[i];
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static PyObject *py_pack_planes(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    int lo, hi;
    if (!PyArg_ParseTuple(args, "y*iiw*", &src, &lo, &hi, &dst)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t k = src.len / 8;
    if (src.len % 8 || lo < 0 || hi > 8 || lo > hi) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to pack_planes");
        goto done;
    }
    if (check_size(&dst, k * (hi - lo), "output") < 0) goto done;
    const unsigned char *in = (const unsigned char *)src.buf;
    unsigned char *out = (unsigned char *)dst.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (int j = lo; j < hi; j++) {
        unsigned char *plane = out + (Py_ssize_t)(j - lo) * k;
        for (Py_ssize_t i = 0; i < k; i++) plane[i] = in[i * 8 + j];
    }
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static PyObject *py_decode_ints(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t n;
    int order, width;
    unsigned long long divisor;
    long long offset, first, first_delta;
    if (!PyArg_ParseTuple(args, "y*niKiLLLw*", &src, &n, &order, &divisor, &width, &offset, &first,
                          &first_delta, &dst))
        return NULL;
    int rc = decode_ints_into(&src, &dst, n, order, divisor, width, offset, first, first_delta);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *py_decode_decimal(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t n;
    int order, width, exp;
    unsigned long long divisor;
    long long offset, first, first_delta;
    if (!PyArg_ParseTuple(args, "y*niKiLLLiw*", &src, &n, &order, &divisor, &width, &offset,
                          &first, &first_delta, &exp, &dst))
        return NULL;
    int rc = -1;
    if (exp < 0 || exp > MAX_DECIMAL_EXP) {
        PyErr_Format(PyExc_ValueError, "decimal exponent %d out of range", exp);
    } else {
        rc = decode_ints_into(&src, &dst, n, order, divisor, width, offset, first, first_delta);
    }
    if (rc == 0) {
        int64_t *m = (int64_t *)dst.buf;
        double *v = (double *)dst.buf;
        const double p = POW10[exp];
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t i = 0; i < n; i++) v[i] = (double)m[i] / p;
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return rc < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *py_decimal_scale(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    int exp;
    if (!PyArg_ParseTuple(args, "y*iw*", &src, &exp, &dst)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = src.len / 8;
    if (src.len % 8 || exp < 0 || exp > MAX_DECIMAL_EXP) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to decimal_scale");
        goto done;
    }
    if (check_size(&dst, n * 8, "output") < 0) goto done;
    const double *v = (const double *)src.buf;
    int64_t *m = (int64_t *)dst.buf;
    Py_ssize_t bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    const double p = POW10[exp];
    for (Py_ssize_t i = 0; i < n; i++) {
        double s = nearbyint(v[i] * p);
        int64_t mi = 0;
        int same = 0;
        if (fabs(s) < MAX_EXACT) {
            mi = (int64_t)s;
            double back = (double)mi / p;
            same = memcmp(&back, &v[i], 8) == 0;
        }
        m[i] = mi;
        bad += !same;
    }
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromSsize_t(bad);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static PyObject *py_decode_xor(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t n;
    int lo, hi;
    unsigned long long first;
    if (!PyArg_ParseTuple(args, "y*niiKw*", &src, &n, &lo, &hi, &first, &dst)) return NULL;
    PyObject *ret = NULL;
    if (n < 1 || lo < 0 || hi > 8 || lo > hi) {
        PyErr_Format(PyExc_ValueError, "cannot decode %zd xor values of bytes %d..%d", n, lo, hi);
        goto done;
    }
    if (check_size(&src, (n - 1) * (hi - lo), "byte planes") < 0) goto done;
    if (check_size(&dst, n * 8, "output") < 0) goto done;
    uint64_t *out = (uint64_t *)dst.buf;
    Py_BEGIN_ALLOW_THREADS;
    gather_planes((const unsigned char *)src.buf, n - 1, lo, hi, out + 1);
    uint64_t x = (uint64_t)first;
    out[0] = x;
    for (Py_ssize_t i = 1; i < n; i++) {
        x ^= out[i];
        out[i] = x;
    }
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static PyMethodDef methods[] = {
    {"int_residuals", py_int_residuals, METH_VARARGS,
     "int_residuals(x, order, divisor, offset, out): zz(diff(x, order) / divisor - offset)"},
    {"xor_residuals", py_xor_residuals, METH_VARARGS,
     "xor_residuals(bits, out): bits[i] ^ bits[i-1] into out"},
    {"pack_planes", py_pack_planes, METH_VARARGS,
     "pack_planes(words, lo, hi, out): bytes lo..hi-1 of each word, plane by plane"},
    {"decode_ints", py_decode_ints, METH_VARARGS,
     "decode_ints(planes, n, order, divisor, width, offset, first, first_delta, out)"},
    {"decode_decimal", py_decode_decimal, METH_VARARGS,
     "decode_decimal(planes, n, order, divisor, width, offset, first, first_delta, exp, out)"},
    {"decimal_scale", py_decimal_scale, METH_VARARGS,
     "decimal_scale(values, exp, out) -> mismatches; out = round(values * 10**exp)"},
    {"decode_xor", py_decode_xor, METH_VARARGS, "decode_xor(planes, n, lo, hi, first, out)"},
    {"decode_pages_columns", py_decode_pages_columns, METH_VARARGS,
     "decode_pages_columns(pages, starts, ts_off, ts_len, val_off, val_len, counts, ts_out, "
     "val_out, out_offsets) -> (code, column, part, stale)"},
    {"sample_pages_columns", py_sample_pages_columns, METH_VARARGS,
     "sample_pages_columns(pages, starts, ts_off, ts_len, val_off, val_len, counts, rows, ends, "
     "lookback_ms, v_out, t_out) -> (code, column, part, 0)"},
    {"sample_columns", py_sample_columns, METH_VARARGS,
     "sample_columns(ts, vals, offsets, rows, ends, lookback_ms, v_out, t_out)"},
    {"decode_columns", py_decode_columns, METH_VARARGS,
     "decode_columns(page, ts_off, ts_len, val_off, val_len, counts, ts_out, val_out)"
     " -> (code, column, part)"},
    {"encode_columns", py_encode_columns, METH_VARARGS,
     "encode_columns(ts, values, starts, ends, ts_lens, val_lens, codecs, cand_lens) -> bytes"},
    {"rans_encode_lanes", py_rans_encode_lanes, METH_VARARGS,
     "rans_encode_lanes(freq, cum, starts, lens, words_out, lane_words_out, states_out)"
     " -> n_words"},
    {"analyse_value_page", py_analyse_value_page, METH_VARARGS,
     "analyse_value_page(values, counts, rows_out, resid_out, exc_pos_out, exc_bits_out)"
     " -> (residuals, exceptions)"},
    {"rans_lane_symbols", py_rans_lane_symbols, METH_VARARGS,
     "rans_lane_symbols(u, starts, lens, keys_out, raw_out, lane_bytes_out) -> raw bytes"},
    {"decode_value_page", py_decode_value_page, METH_VARARGS,
     "decode_value_page(meta, body, at, raw_len, portable=False) -> (rc, decoded page or None):"
     " a v2 page"
     " body with its streams at body[at:] and its zstd'd meta already decompressed"},
    {"sort_samples", py_sort_samples, METH_VARARGS,
     "sort_samples(ids, ts, values, out_ids, out_ts, out_values) -> kept: stable sort by"
     " (id, ts), last of equal (id, ts) kept"},
    {"rw_count", py_rw_count, METH_VARARGS,
     "rw_count(body) -> (code, offset, series, samples, labels, histograms)"},
    {"rw_decode", py_rw_decode, METH_VARARGS,
     "rw_decode(body, cache, series_ref, key_off, key_len, label_start, labels, sample_series,"
     " ts, values) -> (code, offset, label_rows)"},
    {"rw_decode_fit", py_rw_decode_fit, METH_VARARGS,
     "rw_decode_fit(body, cache, <rw_decode's buffers, any capacity>) -> (code, offset, series,"
     " samples, labels, label_rows, histograms); code 100: buffers too small"},
    {"rw_snappy_decompress", py_rw_snappy_decompress, METH_VARARGS,
     "rw_snappy_decompress(body, out) -> code: snappy block format into out (its exact size)"},
    {"rw_cache_new", py_rw_cache_new, METH_VARARGS,
     "rw_cache_new(max_entries, max_bytes, seed) -> cache"},
    {"rw_cache_len", py_rw_cache_len, METH_VARARGS, "rw_cache_len(cache) -> entries"},
    {"rw_cache_clear", py_rw_cache_clear, METH_VARARGS, "rw_cache_clear(cache)"},
    {"rw_cache_lookup", py_rw_cache_lookup, METH_VARARGS, "rw_cache_lookup(cache, key) -> ref"},
    {"rw_cache_insert", py_rw_cache_insert, METH_VARARGS,
     "rw_cache_insert(cache, data, key_off, key_len, refs)"},
    {"concat_runs", py_concat_runs, METH_VARARGS,
     "concat_runs(ts_sources, value_sources, run_src, run_start, run_count, out_ts, out_values)"},
    {"merge_samples", py_merge_samples, METH_VARARGS,
     "merge_samples(a_ids, a_ts, a_values, b_ids, b_ts, b_values, out_ids, out_ts, out_values)"
     " -> n: linear merge of two (id, ts)-sorted unique runs, the second winning ties"},
    {"tokenize_exposition", py_tokenize_exposition, METH_VARARGS,
     "tokenize_exposition(text, openmetrics, seed, kinds, spans, values, ts, key_ids, key_lines)"
     " -> n_keys"},
    {"pq_window_bounds", py_pq_window_bounds, METH_VARARGS,
     "pq_window_bounds(ts, offsets, ends, range_ms, lo_out, hi_out): PromQL windows per series"},
    {"pq_rate", py_pq_rate, METH_VARARGS,
     "pq_rate(ts, values, lo, hi, ends, range_ms, is_counter, is_rate, out, ok)"},
    {"pq_series_rate", py_pq_series_rate, METH_VARARGS,
     "pq_series_rate(ts, values, offsets, ends, range_ms, is_counter, is_rate, out, ok)"},
    {"pq_instant_finish", py_pq_instant_finish, METH_VARARGS,
     "pq_instant_finish(v, t, ends, lookback_ms, present_out, keep_out) -> points"},
    {"pq_window_stat", py_pq_window_stat, METH_VARARGS,
     "pq_window_stat(kind, values, lo, hi, param, out): Kahan sum, avg, stdvar, stddev,"
     " quantile, mad per window"},
    {"pq_group_reduce", py_pq_group_reduce, METH_VARARGS,
     "pq_group_reduce(kind, values, present, gid, n_groups, out, count): sum/avg/stdvar/stddev"
     " by group"},
    {"json_matrix", py_json_matrix, METH_VARARGS,
     "json_matrix(prefix, heads, ts, offsets, tokens, special_idx, special_text, tail, suffix)"
     " -> a whole matrix answer"},
    {"json_points", py_json_points, METH_VARARGS,
     "json_points(ts, value_tokens) -> [[t,\"v\"],...] of one matrix series"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "obskit._native", "C twins of obskit.kernels._numpy", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
