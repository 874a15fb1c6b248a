/*
 * decode_columns: every (timestamp, value) column pair of one decoded page in a single call.
 *
 * The C twin of looping obskit.encoding.decode_timestamps / decode_values over a page (formats in
 * src/obskit/encoding/timestamps.py and values.py): header parsing, codec dispatch and the sample
 * loops all run here without the GIL. Damage is not an exception here: the call returns
 * (code, column, part) and obskit.encoding.columns turns a non-zero code into CorruptDataError
 * (the reasons are listed there, in the order of enum damage below). Whatever the arguments, no
 * byte outside the given buffers is read or written.
 */
#include "column_kernels.h"

/* Keep in step with _DAMAGE in src/obskit/encoding/columns.py. */
enum damage {
    OK = 0,
    D_RANGE,          /* column bytes outside the page */
    D_TRUNCATED,      /* header ends early */
    D_VARINT_OVER,    /* varint > 2**64 - 1 */
    D_VARINT_LONG,    /* varint longer than 10 bytes */
    D_COUNT,          /* count > MAX_COUNT */
    D_COUNT_MISMATCH, /* count differs from the index */
    D_BODY_LENGTH,    /* body is not exactly the expected size */
    D_ZERO_SAMPLES,   /* non-raw codec with 0 samples */
    D_CODEC,          /* unknown codec id */
    D_DOD_SHORT,      /* dod column of fewer than 3 samples */
    D_INT_HEADER,     /* divisor 0 or width > 8 */
    D_EXP,            /* decimal exponent > MAX_DECIMAL_EXP */
    D_EXC_COUNT,      /* more exceptions than samples */
    D_EXC_POSITION,   /* exception position beyond the column */
    D_XOR_RANGE,      /* xor byte range not lo <= hi <= 8 */
    D_SHORT_BODY,     /* fixed-size field runs past the end */
};

/* Same bound as MAX_COUNT in the Python decoders. */
#define MAX_COUNT (1ULL << 40)

typedef struct {
    const unsigned char *p, *end;
} cursor;

static inline int rd_u8(cursor *c, unsigned *v) {
    if (c->p >= c->end) return D_TRUNCATED;
    *v = *c->p++;
    return OK;
}

static inline int rd_uvarint(cursor *c, uint64_t *v) {
    if (c->p < c->end && *c->p < 0x80) {
        *v = *c->p++;
        return OK;
    }
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end) return D_TRUNCATED;
        unsigned b = *c->p++;
        if (shift == 63 && b >= 0x80) return D_VARINT_LONG;
        if (shift == 63 && b > 1) return D_VARINT_OVER;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) {
            *v = x;
            return OK;
        }
    }
    return D_VARINT_LONG; /* not reached */
}

static inline int rd_svarint(cursor *c, uint64_t *v) {
    uint64_t u;
    int rc = rd_uvarint(c, &u);
    if (rc) return rc;
    *v = (u >> 1) ^ (0 - (u & 1));
    return OK;
}

/* Exactly n bytes must be left; *body points at them. */
static inline int rd_rest(cursor *c, uint64_t n, const unsigned char **body) {
    if ((uint64_t)(c->end - c->p) != n) return D_BODY_LENGTH;
    *body = c->p;
    c->p = c->end;
    return OK;
}

static inline int rd_take(cursor *c, uint64_t n, const unsigned char **body) {
    if ((uint64_t)(c->end - c->p) < n) return D_SHORT_BODY;
    *body = c->p;
    c->p += n;
    return OK;
}

#define TRY(expr)                   \
    do {                            \
        int rc_ = (expr);           \
        if (rc_) return rc_;        \
    } while (0)

/* Codec id and count; the count must be the one the index gives. */
static int rd_head(cursor *c, uint64_t want, unsigned *codec, uint64_t *n) {
    TRY(rd_u8(c, codec));
    TRY(rd_uvarint(c, n));
    if (*n > MAX_COUNT) return D_COUNT;
    if (*n != want) return D_COUNT_MISMATCH;
    return OK;
}

/* An int stream (see _intstream.py) of n values of the given order into out. */
static int rd_int_stream(cursor *c, uint64_t n, int order, uint64_t *out) {
    uint64_t first, first_delta = 0, divisor, offset;
    unsigned width;
    if (order == 2 && n <= 2) return D_DOD_SHORT;
    TRY(rd_svarint(c, &first));
    if (order == 2) TRY(rd_svarint(c, &first_delta));
    TRY(rd_uvarint(c, &divisor));
    TRY(rd_svarint(c, &offset));
    TRY(rd_u8(c, &width));
    if (divisor < 1 || width > 8) return D_INT_HEADER;
    uint64_t k = n > (uint64_t)order ? n - order : 0;
    const unsigned char *planes;
    TRY(rd_rest(c, k * width, &planes));
    gather_planes(planes, (Py_ssize_t)k, 0, (int)width, out + order);
    integrate(out, (Py_ssize_t)n, order, divisor, offset, first, first_delta);
    return OK;
}

static int decode_ts(cursor *c, uint64_t want, uint64_t *out) {
    unsigned codec;
    uint64_t n;
    const unsigned char *body;
    TRY(rd_head(c, want, &codec, &n));
    if (codec == 0x10) {
        TRY(rd_rest(c, 8 * n, &body));
        memcpy(out, body, 8 * n);
        return OK;
    }
    if (n == 0) return D_ZERO_SAMPLES;
    switch (codec) {
    case 0x11: { /* const-step */
        uint64_t first, step;
        TRY(rd_svarint(c, &first));
        TRY(rd_svarint(c, &step));
        TRY(rd_rest(c, 0, &body));
        for (uint64_t i = 0; i < n; i++) out[i] = first + i * step;
        return OK;
    }
    case 0x12:
        return rd_int_stream(c, n, 1, out);
    case 0x13:
        return rd_int_stream(c, n, 2, out);
    default:
        return D_CODEC;
    }
}

static int decode_decimal(cursor *c, uint64_t n, int order, uint64_t *out) {
    unsigned exp;
    uint64_t n_exc;
    if (order == 2 && n <= 2) return D_DOD_SHORT;
    TRY(rd_u8(c, &exp));
    if (exp > MAX_DECIMAL_EXP) return D_EXP;
    TRY(rd_uvarint(c, &n_exc));
    if (n_exc > n) return D_EXC_COUNT;
    const unsigned char *gaps = c->p, *exc_bits;
    uint64_t pos = UINT64_MAX;
    for (uint64_t j = 0; j < n_exc; j++) {
        uint64_t gap;
        TRY(rd_uvarint(c, &gap));
        pos += gap + 1;
        if (pos >= n) return D_EXC_POSITION;
    }
    TRY(rd_take(c, 8 * n_exc, &exc_bits));
    TRY(rd_int_stream(c, n, order, out));
    const double p = POW10[exp];
    double *v = (double *)out;
    for (uint64_t i = 0; i < n; i++) v[i] = (double)(int64_t)out[i] / p;
    cursor g = {gaps, exc_bits};
    pos = UINT64_MAX;
    for (uint64_t j = 0; j < n_exc; j++) {
        uint64_t gap = 0;
        rd_uvarint(&g, &gap); /* read successfully above */
        pos += gap + 1;
        out[pos] = load_u64(exc_bits + 8 * j);
    }
    return OK;
}

static int decode_xor(cursor *c, uint64_t n, uint64_t *out) {
    const unsigned char *first, *planes;
    unsigned lo, hi;
    TRY(rd_take(c, 8, &first));
    TRY(rd_u8(c, &lo));
    TRY(rd_u8(c, &hi));
    if (!(lo <= hi && hi <= 8)) return D_XOR_RANGE;
    TRY(rd_rest(c, (uint64_t)(hi - lo) * (n - 1), &planes));
    gather_planes(planes, (Py_ssize_t)(n - 1), (int)lo, (int)hi, out + 1);
    uint64_t x = load_u64(first);
    out[0] = x;
    for (uint64_t i = 1; i < n; i++) {
        x ^= out[i];
        out[i] = x;
    }
    return OK;
}

static int decode_vals(cursor *c, uint64_t want, uint64_t *out) {
    unsigned codec;
    uint64_t n;
    const unsigned char *body;
    TRY(rd_head(c, want, &codec, &n));
    if (codec == 0x00) {
        TRY(rd_rest(c, 8 * n, &body));
        memcpy(out, body, 8 * n);
        return OK;
    }
    if (n == 0) return D_ZERO_SAMPLES;
    switch (codec) {
    case 0x01: { /* const */
        TRY(rd_rest(c, 8, &body));
        uint64_t bits = load_u64(body);
        for (uint64_t i = 0; i < n; i++) out[i] = bits;
        return OK;
    }
    case 0x02:
        return decode_decimal(c, n, 1, out);
    case 0x03:
        return decode_decimal(c, n, 2, out);
    case 0x04:
        return decode_xor(c, n, out);
    case 0x05:
        return rd_int_stream(c, n, 1, out);
    case 0x06:
        return rd_int_stream(c, n, 2, out);
    default:
        return D_CODEC;
    }
}

static int in_page(int64_t off, int64_t len, Py_ssize_t page_len, cursor *c,
                   const unsigned char *page) {
    if (off < 0 || len < 0 || off > page_len || len > page_len - off) return D_RANGE;
    c->p = page + off;
    c->end = page + off + len;
    return OK;
}

PyObject *py_decode_columns(PyObject *self, PyObject *args) {
    Py_buffer page, idx[5], ts_out, val_out, offs = {0};
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*w*|y*", &page, &idx[0], &idx[1], &idx[2], &idx[3],
                          &idx[4], &ts_out, &val_out, &offs))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t k = idx[0].len / 8;
    int bad_args = ts_out.len != val_out.len || ts_out.len % 8 != 0;
    for (int j = 0; j < 5; j++) bad_args |= idx[j].len != k * 8;
    /* optional out_offsets: column i goes to [out_offsets[i], +counts[i]) instead of packed */
    const int64_t *out_at = offs.buf;
    bad_args |= out_at != NULL && offs.len != k * 8;
    if (bad_args) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to decode_columns");
        goto done;
    }
    const int64_t *ts_off = idx[0].buf, *ts_len = idx[1].buf, *val_off = idx[2].buf,
                  *val_len = idx[3].buf, *counts = idx[4].buf;
    const unsigned char *p = page.buf;
    uint64_t *ts = ts_out.buf, *vals = val_out.buf;
    const uint64_t room = (uint64_t)ts_out.len / 8;
    int code = OK, part = 0;
    Py_ssize_t column = 0;
    Py_BEGIN_ALLOW_THREADS;
    uint64_t at = 0;
    for (; column < k; column++) {
        const int64_t n = counts[column];
        if (out_at != NULL) at = (uint64_t)out_at[column];
        if (n < 0 || at > room || (uint64_t)n > room - at) {
            code = -1; /* the caller sized the outputs from these counts */
            break;
        }
        cursor c;
        part = 0;
        code = in_page(ts_off[column], ts_len[column], page.len, &c, p);
        if (!code) code = decode_ts(&c, (uint64_t)n, ts + at);
        if (code) break;
        part = 1;
        code = in_page(val_off[column], val_len[column], page.len, &c, p);
        if (!code) code = decode_vals(&c, (uint64_t)n, vals + at);
        if (code) break;
        at += (uint64_t)n;
    }
    Py_END_ALLOW_THREADS;
    if (code < 0) {
        PyErr_SetString(PyExc_ValueError, "decode_columns: counts do not fit the outputs");
        goto done;
    }
    ret = Py_BuildValue("(inn)", code, code ? column : (Py_ssize_t)-1, (Py_ssize_t)part);
done:
    PyBuffer_Release(&page);
    for (int j = 0; j < 5; j++) PyBuffer_Release(&idx[j]);
    PyBuffer_Release(&ts_out);
    PyBuffer_Release(&val_out);
    if (offs.obj != NULL) PyBuffer_Release(&offs);
    return ret;
}

/* decode_pages_columns(pages, starts, ts_off, ts_len, val_off, val_len, counts, ts_out, val_out,
 * out_offsets): decode_columns for several pages in one call, page p holding the columns
 * [starts[p], starts[p+1]) of the index arrays, each column i placed at out_offsets[i] of the
 * outputs. Pages are decoded on a few threads when the job is big (each writes its own places).
 * Returns (code, column, part) for the first damaged column in index order, as decode_columns. */
#include "promql_kernels.h"

typedef struct {
    const unsigned char **page;
    const Py_ssize_t *page_len;
    const int64_t *starts, *ts_off, *ts_len, *val_off, *val_len, *counts, *out_at;
    uint64_t *ts, *vals;
    uint64_t room;
    int *code;          /* per page */
    Py_ssize_t *column; /* per page: the failing column */
    int *part;          /* per page */
} pages_job;

static void decode_page_range(void *arg, Py_ssize_t p0, Py_ssize_t p1) {
    const pages_job *j = (const pages_job *)arg;
    for (Py_ssize_t p = p0; p < p1; p++) {
        int code = OK, part = 0;
        Py_ssize_t column = j->starts[p];
        for (; column < j->starts[p + 1]; column++) {
            const int64_t n = j->counts[column];
            const uint64_t at = (uint64_t)j->out_at[column];
            if (n < 0 || at > j->room || (uint64_t)n > j->room - at) {
                code = -1;
                break;
            }
            cursor c;
            part = 0;
            code = in_page(j->ts_off[column], j->ts_len[column], j->page_len[p], &c, j->page[p]);
            if (!code) code = decode_ts(&c, (uint64_t)n, j->ts + at);
            if (code) break;
            part = 1;
            code = in_page(j->val_off[column], j->val_len[column], j->page_len[p], &c, j->page[p]);
            if (!code) code = decode_vals(&c, (uint64_t)n, j->vals + at);
            if (code) break;
        }
        j->code[p] = code;
        j->column[p] = column;
        j->part[p] = part;
    }
}

/* Below this many samples one thread decodes every page (waking threads costs ~50-100 us). */
#define PAGES_MIN_PARALLEL_SAMPLES (1 << 18)

PyObject *py_decode_pages_columns(PyObject *self, PyObject *args) {
    PyObject *pages_obj;
    Py_buffer st, idx[5], ts_out, val_out, offs;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*y*y*w*w*y*", &pages_obj, &st, &idx[0], &idx[1],
                          &idx[2], &idx[3], &idx[4], &ts_out, &val_out, &offs))
        return NULL;
    PyObject *ret = NULL, *seq = NULL;
    Py_buffer *bufs = NULL;
    Py_ssize_t got = 0, n_pages = 0;
    const unsigned char **page = NULL;
    Py_ssize_t *page_len = NULL, *column = NULL;
    int *code = NULL, *part = NULL;
    seq = PySequence_Fast(pages_obj, "decode_pages_columns: pages must be a sequence");
    if (seq == NULL) goto done;
    n_pages = PySequence_Fast_GET_SIZE(seq);
    Py_ssize_t k = idx[0].len / 8;
    int bad = st.len != (n_pages + 1) * 8 || ts_out.len != val_out.len || ts_out.len % 8 != 0 ||
              offs.len != k * 8;
    for (int j = 0; j < 5; j++) bad |= idx[j].len != k * 8;
    const int64_t *starts = st.buf;
    if (!bad) {
        bad = starts[0] != 0 || starts[n_pages] != k;
        for (Py_ssize_t p = 0; p < n_pages && !bad; p++) bad = starts[p + 1] < starts[p];
    }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to decode_pages_columns");
        goto done;
    }
    Py_ssize_t m = n_pages > 0 ? n_pages : 1;
    bufs = PyMem_Calloc((size_t)m, sizeof(Py_buffer));
    page = PyMem_Calloc((size_t)m, sizeof(*page));
    page_len = PyMem_Calloc((size_t)m, sizeof(*page_len));
    column = PyMem_Calloc((size_t)m, sizeof(*column));
    code = PyMem_Calloc((size_t)m, sizeof(*code));
    part = PyMem_Calloc((size_t)m, sizeof(*part));
    if (!bufs || !page || !page_len || !column || !code || !part) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n_pages; got++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &bufs[got], PyBUF_SIMPLE) < 0)
            goto done;
        page[got] = bufs[got].buf;
        page_len[got] = bufs[got].len;
    }
    const int64_t *counts = idx[4].buf;
    int64_t samples = 0;
    for (Py_ssize_t i = 0; i < k; i++) samples += counts[i] > 0 ? counts[i] : 0;
    pages_job job = {page, page_len, starts, idx[0].buf, idx[1].buf, idx[2].buf, idx[3].buf,
                     counts, offs.buf, ts_out.buf, val_out.buf, (uint64_t)ts_out.len / 8,
                     code, column, part};
    Py_BEGIN_ALLOW_THREADS;
    if (samples >= PAGES_MIN_PARALLEL_SAMPLES)
        pq_parallel(decode_page_range, &job, n_pages, 2);
    else
        decode_page_range(&job, 0, n_pages);
    Py_END_ALLOW_THREADS;
    Py_ssize_t bad_page = -1;
    for (Py_ssize_t p = 0; p < n_pages && bad_page < 0; p++)
        if (code[p]) bad_page = p;
    if (bad_page >= 0 && code[bad_page] < 0) {
        PyErr_SetString(PyExc_ValueError, "decode_pages_columns: counts do not fit the outputs");
        goto done;
    }
    if (bad_page < 0)
        ret = Py_BuildValue("(inn)", 0, (Py_ssize_t)-1, (Py_ssize_t)0);
    else
        ret = Py_BuildValue("(inn)", code[bad_page], column[bad_page], (Py_ssize_t)part[bad_page]);
done:
    for (Py_ssize_t p = 0; p < got; p++) PyBuffer_Release(&bufs[p]);
    PyMem_Free(bufs);
    PyMem_Free(page);
    PyMem_Free(page_len);
    PyMem_Free(column);
    PyMem_Free(code);
    PyMem_Free(part);
    Py_XDECREF(seq);
    PyBuffer_Release(&st);
    for (int j = 0; j < 5; j++) PyBuffer_Release(&idx[j]);
    PyBuffer_Release(&ts_out);
    PyBuffer_Release(&val_out);
    PyBuffer_Release(&offs);
    return ret;
}
