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
 * Returns (code, column, part, stale): the first damaged column in index order, as
 * decode_columns, and whether a decoded value is a staleness marker (0 proves none is; columns
 * whose codec cannot hold a NaN are not looked at).
 *
 * sample_pages_columns(pages, starts, ts_off, ts_len, val_off, val_len, counts, rows, ends,
 * lookback_ms, v_out, t_out): the same pages read for an instant selector. Column i is a sorted
 * run of series rows[i]; for each step k it offers its last sample with ts <= ends[k] (ends
 * ascending) and that sample replaces (t_out, v_out)[rows[i], k] when its ts is >= the one there.
 * Callers start t_out at INT64_MIN and feed their sources in priority order, so the survivor is
 * the last sample <= ends[k] of the merged series (a later source winning a tie), as decoding
 * every source and merging them would give. Only the steps a column can hold the sample of
 * (its first ts <= ends[k] < its last ts + lookback) are visited; the columns decode into a
 * small per-thread scratch, so a big select writes its S x steps outputs only. The rows of one
 * call must differ from each other (pages on different threads write different rows). */
#include <stdlib.h>

#include "promql_kernels.h"

typedef struct {
    const unsigned char **page;
    const Py_ssize_t *page_len;
    const int64_t *starts, *ts_off, *ts_len, *val_off, *val_len, *counts;
    /* decode: column i at out_at[i] of ts/vals (room samples each) */
    const int64_t *out_at;
    uint64_t *ts, *vals;
    uint64_t room;
    /* sample: column i offers samples to row rows[i] of t_out/v_out (n_rows x steps) */
    const int64_t *rows, *ends;
    Py_ssize_t n_rows, steps;
    int64_t lookback, max_count;
    int64_t *t_out;
    double *v_out;
    int *code;          /* per page */
    Py_ssize_t *column; /* per page: the failing column */
    int *part;          /* per page */
    unsigned char *stale; /* per page (decode): a value column holds a staleness marker */
} pages_job;

#define STALE_BITS 0x7FF0000000000002ull

/* Whether the value column at c can hold a NaN at all: a decimal column only in its
 * exceptions, every other codec (raw, const, xor, float bits as integers) anywhere. Errors
 * mean "can" (the decode reports them). */
static int may_hold_nan(cursor c) {
    unsigned codec, exp;
    uint64_t n, n_exc;
    if (rd_u8(&c, &codec) || rd_uvarint(&c, &n)) return 1;
    if (codec == 0x02 || codec == 0x03)
        return rd_u8(&c, &exp) || rd_uvarint(&c, &n_exc) || n_exc > 0;
    return 1;
}

static int holds_stale(const uint64_t *v, int64_t n) {
    int found = 0;
    for (int64_t i = 0; i < n; i++) found |= v[i] == STALE_BITS;
    return found;
}

/* A column's timestamps: decoded (t), or first + i * step (a const-step column read in place). */
typedef struct {
    const int64_t *t;
    int64_t first, step;
} ts_col;

/* A column's values: decoded (v), raw float64 in the page (raw), or one constant (bits). */
typedef struct {
    const double *v;
    const unsigned char *raw;
    uint64_t bits;
} val_col;

static inline int64_t ts_at(const ts_col *c, int64_t i) {
    return c->t ? c->t[i] : c->first + i * c->step;
}

static inline double val_at(const val_col *c, int64_t i) {
    if (c->v) return c->v[i];
    const uint64_t bits = c->raw ? load_u64(c->raw + 8 * i) : c->bits;
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* d / step for 0 <= d < (n - 1) * step (a 64-bit division costs ~40 cycles per step). */
static inline int64_t const_step_index(uint64_t d, int64_t step, double inv_step) {
    int64_t q = (int64_t)((double)d * inv_step);
    while (q > 0 && (uint64_t)q * (uint64_t)step > d) q--;
    while ((uint64_t)(q + 1) * (uint64_t)step <= d) q++;
    return q;
}

/* Offer the samples of one sorted column of n samples to one output row (see above). */
static void sample_column(const ts_col *tc, const val_col *vc, int64_t n, const int64_t *ends,
                          Py_ssize_t steps, int64_t lookback, int64_t *t_row, double *v_row) {
    if (n <= 0) return;
    const int64_t first = ts_at(tc, 0), last = ts_at(tc, n - 1);
    Py_ssize_t k = 0, hi = steps;
    while (k < hi) { /* first step with ends[k] >= first */
        Py_ssize_t mid = k + (hi - k) / 2;
        if (ends[mid] < first)
            k = mid + 1;
        else
            hi = mid;
    }
    int64_t h = 0; /* samples <= ends[k] */
    const double inv_step = tc->t == NULL ? 1.0 / (double)tc->step : 0;
    for (; k < steps; k++) {
        const int64_t e = ends[k];
        /* e - last >= lookback, computed without overflow (e >= last first) */
        if (e >= last && (uint64_t)e - (uint64_t)last >= (uint64_t)lookback) break;
        if (e >= last)
            h = n;
        else if (tc->t == NULL) /* first <= e < last: h - 1 = (e - first) / step < n - 1 */
            h = const_step_index((uint64_t)e - (uint64_t)first, tc->step, inv_step) + 1;
        else
            while (h < n && tc->t[h] <= e) h++;
        const int64_t ti = ts_at(tc, h - 1);
        if (ti >= t_row[k]) {
            t_row[k] = ti;
            v_row[k] = val_at(vc, h - 1);
        }
    }
}

static int page_column(const pages_job *j, Py_ssize_t p, Py_ssize_t column, uint64_t *ts,
                       uint64_t *vals, int *part) {
    const int64_t n = j->counts[column];
    cursor c;
    *part = 0;
    int code = in_page(j->ts_off[column], j->ts_len[column], j->page_len[p], &c, j->page[p]);
    if (!code) code = decode_ts(&c, (uint64_t)n, ts);
    if (code) return code;
    *part = 1;
    code = in_page(j->val_off[column], j->val_len[column], j->page_len[p], &c, j->page[p]);
    if (!code) code = decode_vals(&c, (uint64_t)n, vals);
    return code;
}

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
            code = page_column(j, p, column, j->ts + at, j->vals + at, &part);
            if (code) break;
            if (!j->stale[p]) {
                cursor c = {NULL, NULL};
                if (in_page(j->val_off[column], j->val_len[column], j->page_len[p], &c,
                            j->page[p]) ||
                    may_hold_nan(c))
                    j->stale[p] = (unsigned char)holds_stale(j->vals + at, n);
            }
        }
        j->code[p] = code;
        j->column[p] = column;
        j->part[p] = part;
    }
}

/* Column `column` of page p read for sampling: const-step timestamps and raw or const values
 * in place, other codecs decoded into the scratch (ts, vals). */
static int sample_page_column(const pages_job *j, Py_ssize_t p, Py_ssize_t column, uint64_t *ts,
                              uint64_t *vals, int *part) {
    const int64_t n = j->counts[column];
    cursor c, head;
    unsigned codec;
    uint64_t count;
    ts_col tc = {(const int64_t *)ts, 0, 0};
    val_col vc = {(const double *)vals, NULL, 0};
    *part = 0;
    int code = in_page(j->ts_off[column], j->ts_len[column], j->page_len[p], &c, j->page[p]);
    head = c;
    if (!code && !rd_head(&head, (uint64_t)n, &codec, &count) && codec == 0x11 && n > 0) {
        uint64_t first, step;
        const unsigned char *body;
        code = rd_svarint(&head, &first);
        if (!code) code = rd_svarint(&head, &step);
        if (!code) code = rd_rest(&head, 0, &body);
        int64_t span, last;
        if (!code && (int64_t)step > 0 &&
            !__builtin_mul_overflow((int64_t)step, n - 1, &span) &&
            !__builtin_add_overflow((int64_t)first, span, &last)) {
            tc.t = NULL; /* timestamps first + i * step, none overflowing */
            tc.first = (int64_t)first;
            tc.step = (int64_t)step;
        }
        code = OK; /* anything unusual: decode_ts below says what */
    }
    if (!code && tc.t != NULL) code = decode_ts(&c, (uint64_t)n, ts);
    if (code) return code;
    *part = 1;
    code = in_page(j->val_off[column], j->val_len[column], j->page_len[p], &c, j->page[p]);
    head = c;
    if (!code && !rd_head(&head, (uint64_t)n, &codec, &count) && (codec == 0x00 || codec == 0x01)) {
        const unsigned char *body;
        if (codec == 0x00 && !rd_rest(&head, 8 * (uint64_t)n, &body)) {
            vc.v = NULL;
            vc.raw = body;
        } else if (codec == 0x01 && n > 0 && !rd_rest(&head, 8, &body)) {
            vc.v = NULL;
            vc.bits = load_u64(body);
        }
    }
    if (!code && vc.v != NULL) code = decode_vals(&c, (uint64_t)n, vals);
    if (code) return code;
    const int64_t row = j->rows[column];
    sample_column(&tc, &vc, n, j->ends, j->steps, j->lookback, j->t_out + row * j->steps,
                  j->v_out + row * j->steps);
    return OK;
}

static void sample_page_range(void *arg, Py_ssize_t p0, Py_ssize_t p1) {
    const pages_job *j = (const pages_job *)arg;
    uint64_t *scratch = malloc(2 * (size_t)(j->max_count > 0 ? j->max_count : 1) * 8);
    for (Py_ssize_t p = p0; p < p1; p++) {
        int code = OK, part = 0;
        Py_ssize_t column = j->starts[p];
        if (scratch == NULL) code = -2;
        for (; !code && column < j->starts[p + 1]; column++) {
            const int64_t n = j->counts[column], row = j->rows[column];
            if (n < 0 || n > j->max_count || row < 0 || row >= j->n_rows) {
                code = -1;
                break;
            }
            code = sample_page_column(j, p, column, scratch, scratch + j->max_count, &part);
            if (code) break;
        }
        j->code[p] = code;
        j->column[p] = column;
        j->part[p] = part;
    }
    free(scratch);
}

/* Below this many samples (~0.5 ms of decoding) one thread decodes every page: waking threads
 * costs ~50-100 us. The small blocks a fast backfill leaves (~100 K samples a select) gain. */
#define PAGES_MIN_PARALLEL_SAMPLES (1 << 16)

/* Run decode_page_range or sample_page_range over the pages of a prepared job; returns the
 * (code, column, part, stale) tuple, or NULL with an exception. */
static PyObject *run_pages(PyObject *pages_obj, pages_job *job, Py_ssize_t n_pages,
                           Py_ssize_t k, pq_range_fn fn) {
    PyObject *ret = NULL, *seq = NULL;
    Py_buffer *bufs = NULL;
    Py_ssize_t got = 0;
    seq = PySequence_Fast(pages_obj, "pages must be a sequence");
    if (seq == NULL) return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != n_pages) {
        PyErr_SetString(PyExc_ValueError, "bad arguments: pages and starts differ in length");
        goto done;
    }
    const int64_t *starts = job->starts;
    int bad = starts[0] != 0 || starts[n_pages] != k;
    for (Py_ssize_t p = 0; p < n_pages && !bad; p++) bad = starts[p + 1] < starts[p];
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "bad arguments: starts do not split the columns");
        goto done;
    }
    Py_ssize_t m = n_pages > 0 ? n_pages : 1;
    bufs = PyMem_Calloc((size_t)m, sizeof(Py_buffer));
    const unsigned char **page = PyMem_Calloc((size_t)m, sizeof(*page));
    Py_ssize_t *page_len = PyMem_Calloc((size_t)m, sizeof(*page_len));
    job->page = page;
    job->page_len = page_len;
    job->column = PyMem_Calloc((size_t)m, sizeof(*job->column));
    job->code = PyMem_Calloc((size_t)m, sizeof(*job->code));
    job->part = PyMem_Calloc((size_t)m, sizeof(*job->part));
    job->stale = PyMem_Calloc((size_t)m, 1);
    if (!bufs || !job->page || !job->page_len || !job->column || !job->code || !job->part ||
        !job->stale) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n_pages; got++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &bufs[got], PyBUF_SIMPLE) < 0)
            goto done;
        page[got] = bufs[got].buf;
        page_len[got] = bufs[got].len;
    }
    int64_t samples = 0;
    for (Py_ssize_t i = 0; i < k; i++) samples += job->counts[i] > 0 ? job->counts[i] : 0;
    Py_BEGIN_ALLOW_THREADS;
    if (samples >= PAGES_MIN_PARALLEL_SAMPLES)
        pq_parallel(fn, job, n_pages, 2);
    else
        fn(job, 0, n_pages);
    Py_END_ALLOW_THREADS;
    Py_ssize_t bad_page = -1;
    for (Py_ssize_t p = 0; p < n_pages && bad_page < 0; p++)
        if (job->code[p]) bad_page = p;
    if (bad_page >= 0 && job->code[bad_page] == -2) {
        PyErr_NoMemory();
        goto done;
    }
    if (bad_page >= 0 && job->code[bad_page] < 0) {
        PyErr_SetString(PyExc_ValueError, "columns do not fit the outputs");
        goto done;
    }
    int stale = 0;
    for (Py_ssize_t p = 0; p < n_pages; p++) stale |= job->stale[p];
    if (bad_page < 0)
        ret = Py_BuildValue("(inni)", 0, (Py_ssize_t)-1, (Py_ssize_t)0, stale);
    else
        ret = Py_BuildValue("(inni)", job->code[bad_page], job->column[bad_page],
                            (Py_ssize_t)job->part[bad_page], stale);
done:
    for (Py_ssize_t p = 0; p < got; p++) PyBuffer_Release(&bufs[p]);
    PyMem_Free(bufs);
    PyMem_Free((void *)job->page);
    PyMem_Free((void *)job->page_len);
    PyMem_Free(job->column);
    PyMem_Free(job->code);
    PyMem_Free(job->part);
    PyMem_Free(job->stale);
    Py_XDECREF(seq);
    return ret;
}

/* A job over the pages split by starts, with the five index columns (checked by the caller). */
static pages_job pages_index(const Py_buffer *st, const Py_buffer idx[5]) {
    pages_job job = {0};
    job.starts = st->buf;
    job.ts_off = idx[0].buf;
    job.ts_len = idx[1].buf;
    job.val_off = idx[2].buf;
    job.val_len = idx[3].buf;
    job.counts = idx[4].buf;
    return job;
}

PyObject *py_decode_pages_columns(PyObject *self, PyObject *args) {
    PyObject *pages_obj, *ret = NULL;
    Py_buffer st, idx[5], ts_out, val_out, offs;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*y*y*w*w*y*", &pages_obj, &st, &idx[0], &idx[1],
                          &idx[2], &idx[3], &idx[4], &ts_out, &val_out, &offs))
        return NULL;
    Py_ssize_t k = idx[0].len / 8, n_pages = st.len / 8 - 1;
    int bad = st.len % 8 || n_pages < 0 || ts_out.len != val_out.len || ts_out.len % 8 != 0 ||
              offs.len != k * 8;
    for (int j = 0; j < 5; j++) bad |= idx[j].len != k * 8;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to decode_pages_columns");
        goto done;
    }
    pages_job job = pages_index(&st, idx);
    job.out_at = offs.buf;
    job.ts = ts_out.buf;
    job.vals = val_out.buf;
    job.room = (uint64_t)ts_out.len / 8;
    ret = run_pages(pages_obj, &job, n_pages, k, decode_page_range);
done:
    PyBuffer_Release(&st);
    for (int j = 0; j < 5; j++) PyBuffer_Release(&idx[j]);
    PyBuffer_Release(&ts_out);
    PyBuffer_Release(&val_out);
    PyBuffer_Release(&offs);
    return ret;
}

static int ascending(const int64_t *e, Py_ssize_t n) {
    for (Py_ssize_t i = 1; i < n; i++)
        if (e[i] < e[i - 1]) return 0;
    return 1;
}

PyObject *py_sample_pages_columns(PyObject *self, PyObject *args) {
    PyObject *pages_obj, *ret = NULL;
    Py_buffer st, idx[5], rows, ends, v_out, t_out;
    long long lookback;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*y*y*y*y*Lw*w*", &pages_obj, &st, &idx[0], &idx[1],
                          &idx[2], &idx[3], &idx[4], &rows, &ends, &lookback, &v_out, &t_out))
        return NULL;
    Py_ssize_t k = idx[0].len / 8, n_pages = st.len / 8 - 1, steps = ends.len / 8;
    int bad = st.len % 8 || n_pages < 0 || rows.len != k * 8 || ends.len % 8 || steps == 0 ||
              v_out.len != t_out.len || t_out.len % (8 * (steps ? steps : 1)) || lookback < 0 ||
              !ascending(ends.buf, steps);
    for (int j = 0; j < 5; j++) bad |= idx[j].len != k * 8;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to sample_pages_columns");
        goto done;
    }
    pages_job job = pages_index(&st, idx);
    job.rows = rows.buf;
    job.ends = ends.buf;
    job.steps = steps;
    job.n_rows = t_out.len / 8 / steps;
    job.lookback = (int64_t)lookback;
    job.t_out = t_out.buf;
    job.v_out = v_out.buf;
    for (Py_ssize_t i = 0; i < k; i++)
        if (job.counts[i] > job.max_count) job.max_count = job.counts[i];
    ret = run_pages(pages_obj, &job, n_pages, k, sample_page_range);
done:
    PyBuffer_Release(&st);
    for (int j = 0; j < 5; j++) PyBuffer_Release(&idx[j]);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&v_out);
    PyBuffer_Release(&t_out);
    return ret;
}

/* sample_columns(ts, vals, offsets, rows, ends, lookback_ms, v_out, t_out): what
 * sample_pages_columns does for decoded runs: run s = [offsets[s], offsets[s+1]) of the flat
 * columns is offered to row rows[s]. */
typedef struct {
    const int64_t *t, *o, *rows, *ends;
    const double *v;
    Py_ssize_t steps;
    int64_t lookback;
    int64_t *t_out;
    double *v_out;
} flat_job;

static void sample_flat_range(void *arg, Py_ssize_t s0, Py_ssize_t s1) {
    const flat_job *j = (const flat_job *)arg;
    for (Py_ssize_t s = s0; s < s1; s++) {
        const ts_col tc = {j->t + j->o[s], 0, 0};
        const val_col vc = {j->v + j->o[s], NULL, 0};
        sample_column(&tc, &vc, j->o[s + 1] - j->o[s], j->ends, j->steps, j->lookback,
                      j->t_out + j->rows[s] * j->steps, j->v_out + j->rows[s] * j->steps);
    }
}

PyObject *py_sample_columns(PyObject *self, PyObject *args) {
    Py_buffer ts, vals, off, rows, ends, v_out, t_out;
    long long lookback;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*Lw*w*", &ts, &vals, &off, &rows, &ends, &lookback,
                          &v_out, &t_out))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = ts.len / 8, s_count = off.len / 8 - 1, steps = ends.len / 8;
    int bad = ts.len % 8 || vals.len != ts.len || off.len % 8 || s_count < 0 ||
              rows.len != s_count * 8 || ends.len % 8 || steps == 0 || v_out.len != t_out.len ||
              t_out.len % (8 * (steps ? steps : 1)) || lookback < 0 ||
              !ascending(ends.buf, steps);
    const int64_t *o = off.buf, *r = rows.buf;
    const Py_ssize_t n_rows = steps ? t_out.len / 8 / steps : 0;
    for (Py_ssize_t s = 0; s < s_count && !bad; s++)
        bad = o[s] < 0 || o[s + 1] < o[s] || o[s + 1] > n || r[s] < 0 || r[s] >= n_rows;
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to sample_columns");
        goto done;
    }
    flat_job job = {ts.buf, o, r, ends.buf, vals.buf, steps, (int64_t)lookback, t_out.buf,
                    v_out.buf};
    Py_BEGIN_ALLOW_THREADS;
    sample_flat_range(&job, 0, s_count);
    Py_END_ALLOW_THREADS;
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&ts);
    PyBuffer_Release(&vals);
    PyBuffer_Release(&off);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&v_out);
    PyBuffer_Release(&t_out);
    return ret;
}
