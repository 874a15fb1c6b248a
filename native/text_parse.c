/*
 * tokenize_exposition: the line tokenizer of the Prometheus text / OpenMetrics formats. C twin of
 * src/obskit/kernels/exposition_lines.py (scan_line is the specification; a parity test fuzzes
 * both). Per line it writes a kind, four spans (series key, then value token or metadata text or
 * the offending token of an error), the value and the timestamp; distinct series keys get ids in
 * first-seen order by exact bytes (an open-addressing table with a seeded hash, so crafted keys
 * cannot force collisions), and key_lines[id] is the line where key id first appears.
 *
 * Three passes, linear in the input: (1) without the GIL, scan every line; numbers that need more
 * than the exact fast path (more than 19 significant digits or a large exponent) mark the line
 * RETRY; (2) with the GIL, rescan RETRY lines, parsing those numbers with PyOS_string_to_double
 * (correctly rounded, like Go's ParseFloat and Python's float); (3) without the GIL, number keys.
 * Nothing here reads outside the buffer or trusts line contents.
 */
#include "column_kernels.h"

#include <math.h>
#include <stdlib.h>

enum {
    K_IGNORED = 0, K_SAMPLE = 1, K_SAMPLE_TS = 2, K_HELP = 3, K_TYPE = 4, K_UNIT = 5, K_EOF = 6,
    E_START = 16, E_LABELS, E_VALUE_MISSING, E_VALUE, E_TS, E_TRAILING, E_META, E_COMMENT,
    E_BLANK, E_EXEMPLAR,
    K_RETRY = 100, /* internal: rescan with the GIL */
};
enum { NUM_OK = 0, NUM_BAD = 1, NUM_SLOW = 2 };

static const uint64_t NORMAL_NAN_BITS = 0x7FF8000000000001ULL; /* Prometheus' value.NormalNaN */
static const double TWO63 = 9223372036854775808.0;
static const double POW10_22[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct {
    int kind;
    Py_ssize_t s[4];
    double value;
    int64_t ts;
} line_t;

static inline int is_ws(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_name_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
static inline int is_name_char(unsigned char c) { return is_name_start(c) || is_digit(c); }
static inline unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int eq_nocase(const unsigned char *s, Py_ssize_t n, const char *word) {
    Py_ssize_t m = (Py_ssize_t)strlen(word);
    if (n != m) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)word[i]) return 0;
    return 1;
}

/* Prometheus' float syntax: Go ParseFloat without p, P, _ (so decimal only). */
static int parse_number(const unsigned char *s, Py_ssize_t n, int allow_slow, double *out) {
    if (n <= 0) return NUM_BAD;
    if (eq_nocase(s, n, "nan")) {
        memcpy(out, &NORMAL_NAN_BITS, 8);
        return NUM_OK;
    }
    Py_ssize_t i = 0;
    int neg = 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (eq_nocase(s + i, n - i, "inf") || eq_nocase(s + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return NUM_OK;
    }
    uint64_t mant = 0;
    int sig = 0, digits = 0, dropped = 0;
    long long exp10 = 0;
    for (; i < n && is_digit(s[i]); i++) {
        digits++;
        if (mant == 0 && s[i] == '0') continue;
        if (sig < 19) {
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            sig++;
        } else {
            dropped = 1;
            exp10++;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            digits++;
            if (mant == 0 && s[i] == '0') {
                exp10--;
                continue;
            }
            if (sig < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                sig++;
                exp10--;
            } else {
                dropped = 1;
            }
        }
    }
    if (digits == 0) return NUM_BAD;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= n || !is_digit(s[i])) return NUM_BAD;
        long long e = 0;
        for (; i < n && is_digit(s[i]); i++)
            if (e < 100000000) e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != n) return NUM_BAD;
    if (mant == 0) { /* every digit is zero: exactly zero, whatever the exponent */
        *out = neg ? -0.0 : 0.0;
        return NUM_OK;
    }
    if (!dropped && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant; /* exact; one correctly rounded operation (Clinger) */
        v = exp10 < 0 ? v / POW10_22[-exp10] : v * POW10_22[exp10];
        *out = neg ? -v : v;
        return NUM_OK;
    }
    if (!allow_slow) return NUM_SLOW;
    /* With the GIL: Python's correctly rounded conversion on a NUL-terminated copy. */
    char *copy = malloc((size_t)n + 1);
    if (!copy) return NUM_BAD;
    memcpy(copy, s, (size_t)n);
    copy[n] = 0;
    char *end = NULL;
    double v = PyOS_string_to_double(copy, &end, NULL);
    int ok = !(v == -1.0 && PyErr_Occurred()) && end == copy + n;
    free(copy);
    if (!ok) {
        PyErr_Clear();
        return NUM_BAD;
    }
    if (isinf(v)) return NUM_BAD; /* overflow: Go's ParseFloat reports ErrRange */
    *out = v;
    return NUM_OK;
}

static int om_timestamp(const unsigned char *s, Py_ssize_t n, int allow_slow, int64_t *out) {
    double secs;
    int rc = parse_number(s, n, allow_slow, &secs);
    if (rc != NUM_OK) return rc;
    if (isnan(secs) || isinf(secs)) return NUM_BAD;
    double ms = secs * 1000.0;
    if (!(ms >= -TWO63 && ms < TWO63)) return NUM_BAD;
    *out = (int64_t)ms;
    return NUM_OK;
}

static int text_timestamp(const unsigned char *s, Py_ssize_t n, int64_t *out) {
    Py_ssize_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    while (i < n && s[i] == '0') i++;
    if (n - i > 19) return NUM_BAD;
    uint64_t v = 0;
    for (; i < n; i++) v = v * 10 + (uint64_t)(s[i] - '0');
    if (neg ? v > (1ULL << 63) : v > (uint64_t)INT64_MAX) return NUM_BAD;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NUM_OK;
}

/* End (after '}') of the label set opening at b[j] == '{', or -1 if not closed before hi. */
static Py_ssize_t braces(const unsigned char *b, Py_ssize_t j, Py_ssize_t hi) {
    Py_ssize_t k = j + 1;
    while (k < hi) {
        unsigned char c = b[k];
        if (c == '"') {
            k++;
            for (;;) {
                if (k >= hi) return -1;
                c = b[k];
                if (c == '\\') {
                    if (k + 1 >= hi) return -1;
                    k += 2;
                } else if (c == '"') {
                    k++;
                    break;
                } else {
                    k++;
                }
            }
        } else if (c == '}') {
            return k + 1;
        } else {
            k++;
        }
    }
    return -1;
}

static void set_err(line_t *r, int code, Py_ssize_t a, Py_ssize_t b) {
    r->kind = code;
    r->s[0] = r->s[1] = 0;
    r->s[2] = a;
    r->s[3] = b;
    r->value = 0.0;
    r->ts = 0;
}

static void set_kind(line_t *r, int kind) {
    r->kind = kind;
    r->s[0] = r->s[1] = r->s[2] = r->s[3] = 0;
    r->value = 0.0;
    r->ts = 0;
}

static void scan_comment(const unsigned char *b, Py_ssize_t i, Py_ssize_t hi, int om, line_t *r) {
    Py_ssize_t lo = i;
    int kind;
    i++; /* '#' */
    if (om) {
        if (i >= hi || b[i] != ' ') return set_err(r, E_COMMENT, lo, hi);
        i++;
        if (hi - i == 3 && memcmp(b + i, "EOF", 3) == 0) return set_kind(r, K_EOF);
        if (hi - i >= 5 && memcmp(b + i, "HELP ", 5) == 0) kind = K_HELP;
        else if (hi - i >= 5 && memcmp(b + i, "TYPE ", 5) == 0) kind = K_TYPE;
        else if (hi - i >= 5 && memcmp(b + i, "UNIT ", 5) == 0) kind = K_UNIT;
        else return set_err(r, E_COMMENT, lo, hi);
        i += 5;
    } else {
        if (i >= hi || !is_ws(b[i])) return set_kind(r, K_IGNORED);
        while (i < hi && is_ws(b[i])) i++;
        if (hi - i < 5 || !is_ws(b[i + 4])) return set_kind(r, K_IGNORED);
        if (memcmp(b + i, "HELP", 4) == 0) kind = K_HELP;
        else if (memcmp(b + i, "TYPE", 4) == 0) kind = K_TYPE;
        else return set_kind(r, K_IGNORED);
        i += 4;
        while (i < hi && is_ws(b[i])) i++;
    }
    Py_ssize_t ns = -1, ne = 0, k = 0;
    if (i < hi && b[i] == '"') {
        for (k = i + 1; k < hi;) {
            if (b[k] == '\\') {
                k += 2;
            } else if (b[k] == '"') {
                ns = i + 1;
                ne = k;
                k++;
                break;
            } else {
                k++;
            }
        }
    } else if (i < hi && is_name_start(b[i])) {
        for (k = i + 1; k < hi && is_name_char(b[k]); k++) {
        }
        ns = i;
        ne = k;
    }
    if (ns < 0) return set_err(r, E_META, i, hi);
    r->kind = kind;
    r->s[0] = ns;
    r->s[1] = ne;
    r->value = 0.0;
    r->ts = 0;
    if (k == hi) {
        r->s[2] = r->s[3] = hi;
    } else if (b[k] == ' ' || (!om && b[k] == '\t')) {
        r->s[2] = k + 1;
        r->s[3] = hi;
    } else {
        set_err(r, E_META, i, hi);
    }
}

/* `{labels} value[ timestamp]` from i to hi; returns NUM_OK, NUM_BAD or NUM_SLOW. */
static int exemplar(const unsigned char *b, Py_ssize_t i, Py_ssize_t hi, int allow_slow) {
    if (i >= hi || b[i] != '{') return NUM_BAD;
    Py_ssize_t k = braces(b, i, hi);
    if (k < 0 || k >= hi || b[k] != ' ') return NUM_BAD;
    Py_ssize_t vs = k + 1, ve = vs;
    while (ve < hi && b[ve] != ' ') ve++;
    double v;
    int rc = parse_number(b + vs, ve - vs, allow_slow, &v);
    if (rc != NUM_OK || ve == hi) return rc;
    Py_ssize_t ts_s = ve + 1, ts_e = ts_s;
    while (ts_e < hi && b[ts_e] != ' ') ts_e++;
    if (ts_e != hi) return NUM_BAD;
    int64_t t;
    return om_timestamp(b + ts_s, ts_e - ts_s, allow_slow, &t);
}

#define NUMBER(expr, code, a, e)                          \
    do {                                                  \
        int rc_ = (expr);                                 \
        if (rc_ == NUM_SLOW) return set_kind(r, K_RETRY); \
        if (rc_ != NUM_OK) return set_err(r, code, a, e); \
    } while (0)

static void scan_line(const unsigned char *b, Py_ssize_t lo, Py_ssize_t hi, int om, int allow_slow,
                      line_t *r) {
    Py_ssize_t i = lo;
    if (!om)
        while (i < hi && is_ws(b[i])) i++;
    if (i == hi) return om ? set_err(r, E_BLANK, lo, hi) : set_kind(r, K_IGNORED);
    unsigned char c = b[i];
    if (c == '#') return scan_comment(b, i, hi, om, r);
    Py_ssize_t ks = i;
    if (is_name_start(c)) {
        for (i++; i < hi && is_name_char(b[i]); i++) {
        }
        Py_ssize_t j = i;
        if (!om)
            while (j < hi && is_ws(b[j])) j++;
        if (j < hi && b[j] == '{') {
            i = braces(b, j, hi);
            if (i < 0) return set_err(r, E_LABELS, j, hi);
        }
    } else if (c == '{') {
        i = braces(b, i, hi);
        if (i < 0) return set_err(r, E_LABELS, ks, hi);
    } else {
        return set_err(r, E_START, i, i + 1);
    }
    Py_ssize_t ke = i, vs, ve;
    if (om) {
        if (i >= hi || b[i] != ' ') return set_err(r, E_VALUE_MISSING, i, i < hi ? i + 1 : hi);
        vs = ++i;
        while (i < hi && b[i] != ' ') i++;
    } else {
        while (i < hi && is_ws(b[i])) i++;
        vs = i;
        while (i < hi && b[i] != ' ' && b[i] != '\t' && b[i] != '{') i++;
    }
    ve = i;
    if (vs == ve) return set_err(r, E_VALUE_MISSING, vs, vs < hi ? vs + 1 : hi);
    double value = 0.0;
    NUMBER(parse_number(b + vs, ve - vs, allow_slow, &value), E_VALUE, vs, ve);
    r->s[0] = ks;
    r->s[1] = ke;
    r->s[2] = vs;
    r->s[3] = ve;
    r->value = value;
    r->ts = 0;
    if (om) {
        if (i == hi) {
            r->kind = K_SAMPLE;
            return;
        }
        i++; /* the space that ended the value */
        if (hi - i >= 2 && b[i] == '#' && b[i + 1] == ' ') {
            NUMBER(exemplar(b, i + 2, hi, allow_slow), E_EXEMPLAR, i, hi);
            r->kind = K_SAMPLE;
            return;
        }
        Py_ssize_t ts_s = i;
        while (i < hi && b[i] != ' ') i++;
        int64_t ts = 0;
        NUMBER(i > ts_s ? om_timestamp(b + ts_s, i - ts_s, allow_slow, &ts) : NUM_BAD, E_TS, ts_s,
               i);
        if (i < hi) {
            if (hi - i < 3 || memcmp(b + i, " # ", 3) != 0) return set_err(r, E_TRAILING, i, hi);
            NUMBER(exemplar(b, i + 3, hi, allow_slow), E_EXEMPLAR, i + 1, hi);
        }
        r->kind = K_SAMPLE_TS;
        r->ts = ts;
        return;
    }
    while (i < hi && is_ws(b[i])) i++;
    if (i == hi) {
        r->kind = K_SAMPLE;
        return;
    }
    Py_ssize_t ts_s = i;
    if (b[i] == '-') i++;
    while (i < hi && is_digit(b[i])) i++;
    if (i == ts_s || b[i - 1] == '-') {
        Py_ssize_t e = ts_s;
        while (e < hi && !is_ws(b[e])) e++;
        return set_err(r, E_TS, ts_s, e);
    }
    int64_t ts = 0;
    if (text_timestamp(b + ts_s, i - ts_s, &ts) != NUM_OK) return set_err(r, E_TS, ts_s, i);
    Py_ssize_t ts_e = i;
    while (i < hi && is_ws(b[i])) i++;
    if (i < hi) return set_err(r, E_TRAILING, is_ws(b[ts_e]) ? i : ts_e, hi);
    r->kind = K_SAMPLE_TS;
    r->ts = ts;
}

/* Seeded 64-bit hash, 8 bytes at a time (the mixing of wyhash/murmur finalisers). */
static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const unsigned char *p, Py_ssize_t n, uint64_t seed) {
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) h = mix(h ^ load_u64(p + i)) + 0x9E3779B97F4A7C15ULL;
    uint64_t tail = 0;
    memcpy(&tail, p + i, (size_t)(n - i));
    return mix(h ^ tail ^ ((uint64_t)(n - i) << 56));
}

typedef struct {
    uint64_t hash;
    int64_t id; /* -1: empty */
} slot_t;

/* Pass 3: ids of distinct keys in first-seen order. Returns n_keys, or -1 on allocation failure. */
static Py_ssize_t number_keys(const unsigned char *b, Py_ssize_t n, const int8_t *kinds,
                              const int64_t *spans, int64_t *key_ids, int64_t *key_lines,
                              uint64_t seed) {
    size_t cap = 1024, mask = cap - 1;
    slot_t *table = malloc(cap * sizeof(slot_t));
    if (!table) return -1;
    for (size_t s = 0; s < cap; s++) table[s].id = -1;
    Py_ssize_t n_keys = 0;
    for (Py_ssize_t line = 0; line < n; line++) {
        if (kinds[line] != K_SAMPLE && kinds[line] != K_SAMPLE_TS) continue;
        const unsigned char *key = b + spans[4 * line];
        Py_ssize_t len = (Py_ssize_t)(spans[4 * line + 1] - spans[4 * line]);
        uint64_t h = hash_bytes(key, len, seed);
        size_t s = (size_t)h & mask;
        int64_t id = -1;
        while (table[s].id >= 0) {
            if (table[s].hash == h) {
                const int64_t *o = spans + 4 * key_lines[table[s].id];
                if (o[1] - o[0] == len && memcmp(b + o[0], key, (size_t)len) == 0) {
                    id = table[s].id;
                    break;
                }
            }
            s = (s + 1) & mask;
        }
        if (id < 0) {
            id = n_keys++;
            key_lines[id] = line;
            table[s].hash = h;
            table[s].id = id;
            if ((size_t)n_keys * 2 > cap) { /* grow at half load: probes stay short */
                size_t ncap = cap * 2, nmask = ncap - 1;
                slot_t *nt = malloc(ncap * sizeof(slot_t));
                if (!nt) {
                    free(table);
                    return -1;
                }
                for (size_t t = 0; t < ncap; t++) nt[t].id = -1;
                for (size_t t = 0; t < cap; t++) {
                    if (table[t].id < 0) continue;
                    size_t u = (size_t)table[t].hash & nmask;
                    while (nt[u].id >= 0) u = (u + 1) & nmask;
                    nt[u] = table[t];
                }
                free(table);
                table = nt;
                cap = ncap;
                mask = nmask;
            }
        }
        key_ids[line] = id;
    }
    free(table);
    return n_keys;
}

static void store(const line_t *r, Py_ssize_t line, int8_t *kinds, int64_t *spans, double *values,
                  int64_t *ts) {
    kinds[line] = (int8_t)r->kind;
    for (int j = 0; j < 4; j++) spans[4 * line + j] = r->s[j];
    values[line] = r->value;
    ts[line] = r->ts;
}

PyObject *py_tokenize_exposition(PyObject *self, PyObject *args) {
    Py_buffer text, kb, sb, vb, tb, ib, lb;
    int om;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "y*iKw*w*w*w*w*w*", &text, &om, &seed, &kb, &sb, &vb, &tb, &ib,
                          &lb))
        return NULL;
    PyObject *ret = NULL;
    const unsigned char *b = (const unsigned char *)text.buf;
    const Py_ssize_t len = text.len;
    Py_ssize_t n = 0;
    for (const unsigned char *p = b; (p = memchr(p, '\n', (size_t)(b + len - p))); p++) n++;
    if (len > 0 && b[len - 1] != '\n') n++;
    if (kb.len != n || sb.len != 32 * n || vb.len != 8 * n || tb.len != 8 * n || ib.len != 8 * n ||
        lb.len != 8 * n) {
        PyErr_Format(PyExc_ValueError, "output buffers do not match %zd lines", n);
        goto done;
    }
    int8_t *kinds = (int8_t *)kb.buf;
    int64_t *spans = (int64_t *)sb.buf;
    double *values = (double *)vb.buf;
    int64_t *ts = (int64_t *)tb.buf;
    int64_t *key_ids = (int64_t *)ib.buf;
    int64_t *key_lines = (int64_t *)lb.buf;
    Py_ssize_t retries = 0;
    Py_BEGIN_ALLOW_THREADS;
    Py_ssize_t lo = 0;
    for (Py_ssize_t line = 0; line < n; line++) {
        const unsigned char *nl = memchr(b + lo, '\n', (size_t)(len - lo));
        Py_ssize_t hi = nl ? nl - b : len;
        line_t r;
        scan_line(b, lo, hi, om, 0, &r);
        if (r.kind == K_RETRY) { /* remember the line's bounds for pass 2 */
            r.s[0] = lo;
            r.s[1] = hi;
            retries++;
        }
        store(&r, line, kinds, spans, values, ts);
        key_ids[line] = -1;
        lo = hi + 1;
    }
    Py_END_ALLOW_THREADS;
    for (Py_ssize_t line = 0; retries > 0 && line < n; line++) {
        if (kinds[line] != K_RETRY) continue;
        line_t r;
        scan_line(b, spans[4 * line], spans[4 * line + 1], om, 1, &r);
        store(&r, line, kinds, spans, values, ts);
        retries--;
    }
    Py_ssize_t n_keys;
    Py_BEGIN_ALLOW_THREADS;
    n_keys = number_keys(b, n, kinds, spans, key_ids, key_lines, (uint64_t)seed);
    Py_END_ALLOW_THREADS;
    if (n_keys < 0) {
        PyErr_NoMemory();
        goto done;
    }
    ret = PyLong_FromSsize_t(n_keys);
done:
    PyBuffer_Release(&text);
    PyBuffer_Release(&kb);
    PyBuffer_Release(&sb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&ib);
    PyBuffer_Release(&lb);
    return ret;
}
