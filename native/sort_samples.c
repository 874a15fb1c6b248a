/*
 * sort_samples: the store's merge kernel. Sorts sample columns by (series id, timestamp), stably,
 * and keeps only the last of samples with equal (id, timestamp): the store's "last write wins".
 * C twin of kernels/_numpy.py:sort_samples; same results (the parity test compares them).
 *
 * Ids are small dense integers, so the id order is a counting sort when their range is at most a
 * few times the sample count, else an LSD radix sort on 16-bit digits; both are stable and O(n).
 * Timestamps are usually already ascending within a series (scrapes arrive in time order); a
 * series that is not gets a stable merge sort of its own samples only.
 *
 * merge_samples: the linear merge of two runs already sorted and unique by (id, ts), the second
 * winning on equal keys: how head parts are combined without sorting again (sequential access).
 */
#include "column_kernels.h"

#include <stdlib.h>

/* Stable merge sort of idx[0..n) by key[idx[i]], using tmp (n entries) as scratch. */
static void merge_sort_by(int64_t *idx, int64_t *tmp, Py_ssize_t n, const int64_t *key) {
    if (n < 24) { /* insertion sort: stable, fast on short runs */
        for (Py_ssize_t i = 1; i < n; i++) {
            int64_t v = idx[i];
            Py_ssize_t j = i;
            while (j > 0 && key[idx[j - 1]] > key[v]) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
        return;
    }
    Py_ssize_t h = n / 2;
    merge_sort_by(idx, tmp, h, key);
    merge_sort_by(idx + h, tmp, n - h, key);
    if (key[idx[h - 1]] <= key[idx[h]]) return;
    memcpy(tmp, idx, (size_t)h * sizeof(int64_t));
    Py_ssize_t a = 0, b = h, o = 0;
    while (a < h && b < n) idx[o++] = (key[idx[b]] < key[tmp[a]]) ? idx[b++] : tmp[a++];
    while (a < h) idx[o++] = tmp[a++];
}

/* Stable order of ids into perm (n entries); returns -1 on allocation failure. */
static int order_by_id(const int64_t *ids, Py_ssize_t n, int64_t *perm) {
    int64_t lo = ids[0], hi = ids[0];
    for (Py_ssize_t i = 1; i < n; i++) {
        if (ids[i] < lo) lo = ids[i];
        if (ids[i] > hi) hi = ids[i];
    }
    uint64_t range = (uint64_t)hi - (uint64_t)lo + 1;
    if (range <= (uint64_t)(4 * n) + 65536) { /* counting sort */
        Py_ssize_t *start = calloc((size_t)range + 1, sizeof(Py_ssize_t));
        if (!start) return -1;
        for (Py_ssize_t i = 0; i < n; i++) start[(uint64_t)ids[i] - (uint64_t)lo + 1]++;
        for (uint64_t k = 1; k <= range; k++) start[k] += start[k - 1];
        for (Py_ssize_t i = 0; i < n; i++) perm[start[(uint64_t)ids[i] - (uint64_t)lo]++] = i;
        free(start);
        return 0;
    }
    /* LSD radix sort on 16-bit digits of (id - lo). */
    int64_t *other = malloc((size_t)n * sizeof(int64_t));
    Py_ssize_t *count = malloc(65537 * sizeof(Py_ssize_t));
    if (!other || !count) {
        free(other);
        free(count);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) perm[i] = i;
    int64_t *src = perm, *dst = other;
    for (int shift = 0; shift < 64 && (range - 1) >> shift; shift += 16) {
        memset(count, 0, 65537 * sizeof(Py_ssize_t));
        for (Py_ssize_t i = 0; i < n; i++)
            count[((((uint64_t)ids[src[i]] - (uint64_t)lo) >> shift) & 0xFFFF) + 1]++;
        for (int k = 1; k <= 65536; k++) count[k] += count[k - 1];
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t d = (((uint64_t)ids[src[i]] - (uint64_t)lo) >> shift) & 0xFFFF;
            dst[count[d]++] = src[i];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != perm) memcpy(perm, src, (size_t)n * sizeof(int64_t));
    free(other);
    free(count);
    return 0;
}

/* Sort + dedup into the out arrays; returns the number kept, or -1 (allocation failure). */
static Py_ssize_t sort_samples(const int64_t *ids, const int64_t *ts, const uint64_t *vals,
                               Py_ssize_t n, int64_t *oid, int64_t *ots, uint64_t *oval) {
    if (n == 0) return 0;
    int64_t *perm = malloc((size_t)n * sizeof(int64_t));
    if (!perm) return -1;
    if (order_by_id(ids, n, perm) < 0) {
        free(perm);
        return -1;
    }
    int64_t *tmp = NULL;
    for (Py_ssize_t a = 0; a < n;) { /* per id group: make timestamps ascending */
        Py_ssize_t b = a + 1;
        int sorted = 1;
        while (b < n && ids[perm[b]] == ids[perm[a]]) {
            if (ts[perm[b]] < ts[perm[b - 1]]) sorted = 0;
            b++;
        }
        if (!sorted) {
            if (!tmp && !(tmp = malloc((size_t)n * sizeof(int64_t)))) {
                free(perm);
                return -1;
            }
            merge_sort_by(perm + a, tmp, b - a, ts);
        }
        a = b;
    }
    free(tmp);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) { /* keep the last of equal (id, ts) */
        int64_t p = perm[i];
        if (i + 1 < n && ids[perm[i + 1]] == ids[p] && ts[perm[i + 1]] == ts[p]) continue;
        oid[kept] = ids[p];
        ots[kept] = ts[p];
        oval[kept] = vals[p];
        kept++;
    }
    free(perm);
    return kept;
}

PyObject *py_sort_samples(PyObject *self, PyObject *args) {
    Py_buffer ids, ts, vals, oid, ots, oval;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*w*", &ids, &ts, &vals, &oid, &ots, &oval)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = ids.len / 8;
    if (ids.len % 8 || ts.len != ids.len || vals.len != ids.len || oid.len != ids.len ||
        ots.len != ids.len || oval.len != ids.len) {
        PyErr_SetString(PyExc_ValueError, "sort_samples: columns differ in size");
        goto done;
    }
    Py_ssize_t kept;
    Py_BEGIN_ALLOW_THREADS;
    kept = sort_samples((const int64_t *)ids.buf, (const int64_t *)ts.buf,
                        (const uint64_t *)vals.buf, n, (int64_t *)oid.buf, (int64_t *)ots.buf,
                        (uint64_t *)oval.buf);
    Py_END_ALLOW_THREADS;
    if (kept < 0) {
        PyErr_NoMemory();
        goto done;
    }
    ret = PyLong_FromSsize_t(kept);
done:
    PyBuffer_Release(&ids);
    PyBuffer_Release(&ts);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&oid);
    PyBuffer_Release(&ots);
    PyBuffer_Release(&oval);
    return ret;
}

PyObject *py_merge_samples(PyObject *self, PyObject *args) {
    Py_buffer ai, at, av, bi, bt, bv, oi, ot, ov;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*w*", &ai, &at, &av, &bi, &bt, &bv, &oi, &ot,
                          &ov))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t na = ai.len / 8, nb = bi.len / 8;
    if (ai.len % 8 || bi.len % 8 || at.len != ai.len || av.len != ai.len || bt.len != bi.len ||
        bv.len != bi.len || oi.len != ai.len + bi.len || ot.len != oi.len || ov.len != oi.len) {
        PyErr_SetString(PyExc_ValueError, "merge_samples: columns differ in size");
        goto done;
    }
    Py_ssize_t o = 0;
    Py_BEGIN_ALLOW_THREADS;
    const int64_t *aid = ai.buf, *ats = at.buf, *bid = bi.buf, *bts = bt.buf;
    const uint64_t *avl = av.buf, *bvl = bv.buf;
    int64_t *oid = oi.buf, *ots = ot.buf;
    uint64_t *ovl = ov.buf;
    Py_ssize_t a = 0, b = 0;
    while (a < na && b < nb) {
        int64_t x = aid[a], y = bid[b];
        if (x < y || (x == y && ats[a] < bts[b])) {
            oid[o] = x, ots[o] = ats[a], ovl[o] = avl[a], a++;
        } else {
            if (x == y && ats[a] == bts[b]) a++; /* the second run wins */
            oid[o] = y, ots[o] = bts[b], ovl[o] = bvl[b], b++;
        }
        o++;
    }
    for (; a < na; a++, o++) oid[o] = aid[a], ots[o] = ats[a], ovl[o] = avl[a];
    for (; b < nb; b++, o++) oid[o] = bid[b], ots[o] = bts[b], ovl[o] = bvl[b];
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromSsize_t(o);
done:
    PyBuffer_Release(&ai);
    PyBuffer_Release(&at);
    PyBuffer_Release(&av);
    PyBuffer_Release(&bi);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&oi);
    PyBuffer_Release(&ot);
    PyBuffer_Release(&ov);
    return ret;
}
