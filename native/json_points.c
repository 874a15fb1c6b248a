/*
 * json_points: one matrix series' points as Prometheus' HTTP API writes them,
 * [[<seconds>,"<value>"],...], in one pass (C twin of the bytes.replace/regex passes in
 * src/obskit/api/promjson.py:encode_points).
 *
 * Inputs: the timestamps (int64 ms) and the values already written by orjson as a JSON array of
 * numbers ("[0.5,2.0,...]", shortest round-trip digits, positional). Timestamps are written from
 * the integers: seconds, then ".mmm" when the millisecond part is non-zero (MarshalTimestamp);
 * a value token loses a trailing ".0" (Go writes 2, not 2.0). The token count must equal the
 * number of timestamps and no token may contain a quote, else ValueError.
 */
#include "column_kernels.h"

static char *put_ts(char *o, int64_t t) {
    uint64_t a = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    if (t < 0) *o++ = '-';
    uint64_t sec = a / 1000, frac = a % 1000;
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + sec % 10);
        sec /= 10;
    } while (sec);
    while (k) *o++ = tmp[--k];
    if (frac) {
        *o++ = '.';
        *o++ = (char)('0' + frac / 100);
        *o++ = (char)('0' + frac / 10 % 10);
        *o++ = (char)('0' + frac % 10);
    }
    return o;
}

PyObject *py_json_points(PyObject *self, PyObject *args) {
    Py_buffer ts, tok;
    if (!PyArg_ParseTuple(args, "y*y*", &ts, &tok)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = ts.len / 8;
    const char *p = tok.buf, *end = (const char *)tok.buf + tok.len;
    if (ts.len % 8 || tok.len < 2 || p[0] != '[' || end[-1] != ']') {
        PyErr_SetString(PyExc_ValueError, "json_points: bad timestamps or value array");
        goto done;
    }
    p++;
    end--;
    if (n == 0) {
        if (p != end) {
            PyErr_SetString(PyExc_ValueError, "json_points: more values than timestamps");
            goto done;
        }
        ret = PyBytes_FromStringAndSize("[]", 2);
        goto done;
    }
    /* per point: "[" ts(<= 21) ',"' token '"]' "," -> 27 bytes + the token */
    Py_ssize_t cap = 2 + n * 27 + (end - p);
    ret = PyBytes_FromStringAndSize(NULL, cap);
    if (!ret) goto done;
    char *o0 = PyBytes_AS_STRING(ret), *o = o0;
    const int64_t *t = ts.buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    *o++ = '[';
    for (Py_ssize_t i = 0; i < n; i++) {
        const char *q = p;
        while (q < end && *q != ',') {
            if (*q == '"') bad = 1;
            q++;
        }
        if (q == p || bad || (i + 1 < n && q == end) || (i + 1 == n && q != end)) {
            bad = 1;
            break;
        }
        Py_ssize_t len = q - p;
        if (len >= 2 && q[-2] == '.' && q[-1] == '0') len -= 2;
        *o++ = '[';
        o = put_ts(o, t[i]);
        *o++ = ',';
        *o++ = '"';
        memcpy(o, p, (size_t)len);
        o += len;
        *o++ = '"';
        *o++ = ']';
        *o++ = ',';
        p = q + 1;
    }
    o[-1] = ']';
    Py_END_ALLOW_THREADS;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "json_points: value tokens do not match the timestamps");
        Py_CLEAR(ret);
        goto done;
    }
    _PyBytes_Resize(&ret, o - o0);
done:
    PyBuffer_Release(&ts);
    PyBuffer_Release(&tok);
    return ret;
}

/*
 * json_matrix(prefix, heads, ts, offsets, tokens, special_idx, special_text, tail, suffix):
 * a whole matrix answer in one pre-sized buffer:
 *
 *   prefix heads[0] [[t,"v"],...] tail heads[1] [[t,"v"],...] tail ... suffix
 *
 * Series i has the points offsets[i]..offsets[i+1] of the flat timestamps and of orjson's value
 * array ``tokens`` (one JSON array for all series); the points at the sorted flat indices
 * special_idx[k] get the text special_text[k] instead of their token (values orjson writes
 * differently from Go). Same per-point layout as json_points.
 */
typedef struct {
    const char *p;
    Py_ssize_t len;
} span;

/* Series of a range query's matrix share its step timestamps base + k * stride: a table of
 * them formatted once (by step number k) saves the digit loop for all but the first series;
 * other timestamps are formatted each time. */
#define TS_CACHE_SLOTS 16384

typedef struct {
    unsigned char len;
    char text[23];
} ts_slot;

typedef struct {
    int64_t base, stride;
    ts_slot *slots;
} ts_cache;

static inline char *put_ts_cached(char *o, int64_t t, ts_cache *c) {
    int64_t d = t - c->base;
    if (c->stride <= 0 || d < 0 || d % c->stride || d / c->stride >= TS_CACHE_SLOTS)
        return put_ts(o, t);
    ts_slot *slot = &c->slots[d / c->stride];
    if (slot->len) {
        memcpy(o, slot->text, 23);
        return o + slot->len;
    }
    char *e = put_ts(o, t);
    slot->len = (unsigned char)(e - o);
    memcpy(slot->text, o, (size_t)slot->len);
    return e;
}

static int spans_of(PyObject *list, span **out, Py_ssize_t *count, Py_ssize_t *total) {
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "json_matrix: expected a list of bytes");
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    *out = (span *)malloc((size_t)(n ? n : 1) * sizeof(span));
    if (!*out) {
        PyErr_NoMemory();
        return -1;
    }
    *count = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *b = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(b)) {
            PyErr_SetString(PyExc_TypeError, "json_matrix: expected a list of bytes");
            return -1;
        }
        (*out)[i].p = PyBytes_AS_STRING(b);
        (*out)[i].len = PyBytes_GET_SIZE(b);
        *total += (*out)[i].len;
    }
    return 0;
}

PyObject *py_json_matrix(PyObject *self, PyObject *args) {
    Py_buffer prefix, ts, off, tok, sidx, tail, suffix;
    PyObject *heads_list, *stext_list;
    if (!PyArg_ParseTuple(args, "y*O!y*y*y*y*O!y*y*", &prefix, &PyList_Type, &heads_list, &ts,
                          &off, &tok, &sidx, &PyList_Type, &stext_list, &tail, &suffix))
        return NULL;
    PyObject *ret = NULL;
    span *heads = NULL, *stext = NULL;
    ts_slot *slots = NULL;
    Py_ssize_t n_heads = 0, n_stext = 0, text_bytes = 0;
    Py_ssize_t n = ts.len / 8, n_series = off.len / 8 - 1, n_special = sidx.len / 8;
    const char *p = tok.buf, *end = (const char *)tok.buf + tok.len;
    if (ts.len % 8 || off.len % 8 || n_series < 0 || sidx.len % 8 || tok.len < 2 ||
        p[0] != '[' || end[-1] != ']') {
        PyErr_SetString(PyExc_ValueError, "json_matrix: bad timestamps, offsets or value array");
        goto done;
    }
    if (spans_of(heads_list, &heads, &n_heads, &text_bytes) < 0 ||
        spans_of(stext_list, &stext, &n_stext, &text_bytes) < 0)
        goto done;
    const int64_t *o = off.buf, *si = sidx.buf, *t = ts.buf;
    if (n_heads != n_series || n_stext != n_special ||
        (n_series && (o[0] != 0 || o[n_series] != n)) || (!n_series && n)) {
        PyErr_SetString(PyExc_ValueError, "json_matrix: heads, offsets and specials do not match");
        goto done;
    }
    for (Py_ssize_t s = 0; s < n_series; s++) {
        if (o[s] > o[s + 1]) {
            PyErr_SetString(PyExc_ValueError, "json_matrix: offsets out of order");
            goto done;
        }
    }
    for (Py_ssize_t k = 0; k < n_special; k++) {
        if (si[k] < 0 || si[k] >= n || (k && si[k] <= si[k - 1])) {
            PyErr_SetString(PyExc_ValueError, "json_matrix: special indices out of order");
            goto done;
        }
    }
    p++;
    end--;
    /* per point: "[" ts(<= 21) ',"' token '"]' "," -> 27 bytes + the token; per series "[]" */
    Py_ssize_t cap = prefix.len + suffix.len + text_bytes + n_series * (2 + tail.len) + n * 27 +
                     (end - p) + 1;
    if (memchr(p, '"', (size_t)(end - p))) {
        PyErr_SetString(PyExc_ValueError, "json_matrix: quote in the value tokens");
        goto done;
    }
    ts_cache cache = {n ? t[0] : 0, n > 1 ? t[1] - t[0] : 0, NULL};
    cache.slots = slots = (ts_slot *)calloc(TS_CACHE_SLOTS, sizeof(ts_slot));
    if (!slots) {
        PyErr_NoMemory();
        goto done;
    }
    /* +23: a cached timestamp is copied whole (23 bytes) even when shorter */
    ret = PyBytes_FromStringAndSize(NULL, cap + 23);
    if (!ret) goto done;
    char *o0 = PyBytes_AS_STRING(ret), *w = o0;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS;
    memcpy(w, prefix.buf, (size_t)prefix.len);
    w += prefix.len;
    Py_ssize_t i = 0, k = 0;
    for (Py_ssize_t s = 0; s < n_series && !bad; s++) {
        memcpy(w, heads[s].p, (size_t)heads[s].len);
        w += heads[s].len;
        *w++ = '[';
        for (; i < o[s + 1]; i++) {
            const char *q = memchr(p, ',', (size_t)(end - p));
            if (!q) q = end;
            if (q == p || (i + 1 < n && q == end) || (i + 1 == n && q != end)) {
                bad = 1;
                break;
            }
            *w++ = '[';
            w = put_ts_cached(w, t[i], &cache);
            *w++ = ',';
            *w++ = '"';
            if (k < n_special && si[k] == i) {
                memcpy(w, stext[k].p, (size_t)stext[k].len);
                w += stext[k].len;
                k++;
            } else {
                Py_ssize_t len = q - p;
                if (len >= 2 && q[-2] == '.' && q[-1] == '0') len -= 2;
                memcpy(w, p, (size_t)len);
                w += len;
            }
            *w++ = '"';
            *w++ = ']';
            *w++ = ',';
            p = q + 1;
        }
        if (w[-1] == ',') w--; /* the last point's comma; an empty series keeps its "[" */
        *w++ = ']';
        memcpy(w, tail.buf, (size_t)tail.len);
        w += tail.len;
    }
    if (!bad && n_series == 0 && p != end) bad = 1;
    memcpy(w, suffix.buf, (size_t)suffix.len);
    w += suffix.len;
    Py_END_ALLOW_THREADS;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "json_matrix: value tokens do not match the timestamps");
        Py_CLEAR(ret);
        goto done;
    }
    _PyBytes_Resize(&ret, w - o0);
done:
    free(slots);
    free(heads);
    free(stext);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&ts);
    PyBuffer_Release(&off);
    PyBuffer_Release(&tok);
    PyBuffer_Release(&sidx);
    PyBuffer_Release(&tail);
    PyBuffer_Release(&suffix);
    return ret;
}
