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
