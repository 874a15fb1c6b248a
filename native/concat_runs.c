/*
 * concat_runs: lays runs of samples from several sources end to end (the store's read merge:
 * a series' run from each block, then the head, in time order). C twin of
 * kernels/_numpy.py:concat_runs; a memcpy per run instead of numpy's index arrays.
 */
#include "column_kernels.h"

PyObject *py_concat_runs(PyObject *self, PyObject *args) {
    PyObject *ts_list, *val_list;
    Py_buffer rsrc, rstart, rcount, ots, oval;
    if (!PyArg_ParseTuple(args, "O!O!y*y*y*w*w*", &PyTuple_Type, &ts_list, &PyTuple_Type,
                          &val_list, &rsrc, &rstart, &rcount, &ots, &oval))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t k = PyTuple_GET_SIZE(ts_list);
    Py_buffer *ts_bufs = PyMem_Calloc((size_t)(2 * k + 1), sizeof(Py_buffer));
    Py_ssize_t got = 0;
    if (!ts_bufs) {
        PyErr_NoMemory();
        goto done;
    }
    if (PyTuple_GET_SIZE(val_list) != k) {
        PyErr_SetString(PyExc_ValueError, "concat_runs: source lists differ in length");
        goto done;
    }
    for (; got < 2 * k; got++) {
        PyObject *o = PyTuple_GET_ITEM(got < k ? ts_list : val_list, got < k ? got : got - k);
        if (PyObject_GetBuffer(o, &ts_bufs[got], PyBUF_SIMPLE) < 0) goto done;
    }
    Py_ssize_t runs = rsrc.len / 8, out_n = ots.len / 8;
    if (rsrc.len % 8 || rstart.len != rsrc.len || rcount.len != rsrc.len || ots.len % 8 ||
        oval.len != ots.len) {
        PyErr_SetString(PyExc_ValueError, "concat_runs: bad run table or output sizes");
        goto done;
    }
    const int64_t *src = rsrc.buf, *start = rstart.buf, *count = rcount.buf;
    Py_ssize_t at = 0;
    for (Py_ssize_t r = 0; r < runs; r++) { /* validate everything before copying anything */
        if (src[r] < 0 || src[r] >= k || start[r] < 0 || count[r] < 0 ||
            (start[r] + count[r]) * 8 > ts_bufs[src[r]].len ||
            (start[r] + count[r]) * 8 > ts_bufs[k + src[r]].len || at + count[r] > out_n) {
            PyErr_Format(PyExc_ValueError, "concat_runs: run %zd lies outside its source", r);
            goto done;
        }
        at += count[r];
    }
    if (at != out_n) {
        PyErr_SetString(PyExc_ValueError, "concat_runs: output size differs from the runs");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS;
    char *o_ts = ots.buf, *o_val = oval.buf;
    for (Py_ssize_t r = 0, pos = 0; r < runs; r++) {
        size_t bytes = (size_t)count[r] * 8, off = (size_t)start[r] * 8;
        memcpy(o_ts + pos, (char *)ts_bufs[src[r]].buf + off, bytes);
        memcpy(o_val + pos, (char *)ts_bufs[k + src[r]].buf + off, bytes);
        pos += (Py_ssize_t)bytes;
    }
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    for (Py_ssize_t i = 0; i < got; i++) PyBuffer_Release(&ts_bufs[i]);
    PyMem_Free(ts_bufs);
    PyBuffer_Release(&rsrc);
    PyBuffer_Release(&rstart);
    PyBuffer_Release(&rcount);
    PyBuffer_Release(&ots);
    PyBuffer_Release(&oval);
    return ret;
}
