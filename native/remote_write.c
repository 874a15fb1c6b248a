/*
 * remote_write.c: Prometheus remote-write 1.0 WriteRequest -> numpy columns, and the series-ref
 * cache keyed by the raw bytes of a TimeSeries' label list. C twin of
 * src/obskit/kernels/_remote_write.py (same results, error codes and cache policy; the parity
 * test compares them). Label semantics and limits are Python's job (obskit.ingest.remote_write).
 *
 * rw_count walks the WriteRequest and TimeSeries levels and counts; rw_decode fills buffers sized
 * from those counts and checks every write against them, so a body that changed between the two
 * calls or lying counts give an error, never an overrun. Both run without the GIL; the cache is
 * guarded by a busy flag (a concurrent use raises RuntimeError instead of racing).
 */
#include "column_kernels.h"

#include <stdlib.h>

enum {
    RW_OK = 0,
    RW_ERR_TRUNCATED = 1,
    RW_ERR_VARINT = 2,
    RW_ERR_WIRETYPE = 3,
    RW_ERR_WRONG_WIRETYPE = 4,
    RW_ERR_FIELD_NUMBER = 5,
    RW_ERR_COUNTS = 100, /* buffers smaller than the body needs: a caller bug */
};

#define MAX_FIELD ((1u << 29) - 1)

typedef struct {
    uint64_t number;
    int wire;
    Py_ssize_t a, b; /* payload (LEN) or encoded scalar */
} Field;

static inline int read_varint(const unsigned char *buf, Py_ssize_t *pos, Py_ssize_t end,
                              uint64_t *out) {
    uint64_t result = 0;
    Py_ssize_t p = *pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return RW_ERR_TRUNCATED;
        unsigned char b = buf[p++];
        result |= (uint64_t)(b & 0x7F) << shift; /* shift 63 keeps only the low bit, as in Python */
        if (b < 0x80) {
            *out = result;
            *pos = p;
            return RW_OK;
        }
    }
    return RW_ERR_VARINT;
}

/* One field at pos (< end); the error offset is pos, the field's tag. */
static inline int read_field(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end, Field *f) {
    uint64_t tag, v;
    Py_ssize_t p = pos;
    int rc = read_varint(buf, &p, end, &tag);
    if (rc) return rc;
    f->number = tag >> 3;
    f->wire = (int)(tag & 7);
    if (f->number == 0 || f->number > MAX_FIELD) return RW_ERR_FIELD_NUMBER;
    switch (f->wire) {
    case 0:
        f->a = p;
        if ((rc = read_varint(buf, &p, end, &v))) return rc;
        f->b = p;
        return RW_OK;
    case 1:
    case 5: {
        Py_ssize_t w = f->wire == 1 ? 8 : 4;
        if (end - p < w) return RW_ERR_TRUNCATED;
        f->a = p;
        f->b = p + w;
        return RW_OK;
    }
    case 2:
        if ((rc = read_varint(buf, &p, end, &v))) return rc;
        if (v > (uint64_t)(end - p)) return RW_ERR_TRUNCATED;
        f->a = p;
        f->b = p + (Py_ssize_t)v;
        return RW_OK;
    default:
        return RW_ERR_WIRETYPE;
    }
}

/* ---- series-ref cache: two generations, each an entry array in insertion order, a hash index
 * over it and a key arena ------------------------------------------------------------------
 *
 * Senders send the same series in the same order request after request, so each entry also
 * remembers which entry was looked up right after it last time (``next``): a look-up first
 * compares its key with that predicted entry (one memcmp over memory that is read in order),
 * and only on a mismatch hashes the key and probes the index. Results are those of a plain
 * look-up either way: a prediction is used only when its key is byte-for-byte the one sought. */

typedef struct {
    uint64_t hash;
    int64_t ref;
    size_t off, len; /* key bytes in the generation's arena */
    uint32_t next;   /* entry index + 1 of the key looked up after this one (0: none) */
} Entry;

typedef struct {
    Entry *entries;
    size_t count, cap;
    uint64_t *index; /* (hash >> 32) << 32 | (entry index + 1); 0: empty */
    size_t mask;
    unsigned char *arena;
    size_t used, acap;
} Gen;

typedef struct {
    Gen cur, prev;
    size_t gen_entries, gen_bytes;
    uint64_t seed;
    uint64_t gen_no; /* bumped when cur becomes prev: predictions into cur are void then */
    int busy;
} RefCache;

/* Where the previous look-up of one decode call landed in cur, for the next prediction. */
typedef struct {
    uint64_t gen_no;
    uint32_t last; /* entry index + 1 in cur; 0: none */
} Hint;

static const char CACHE_NAME[] = "obskit.remote_write.RefCache";

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t fmix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* Seeded word-at-a-time hash (murmur-style rounds); the seed is random per cache, and keys are
 * compared in full, so collisions cost time only. */
static uint64_t hash_key(const unsigned char *p, size_t n, uint64_t seed) {
    uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        h ^= load_u64(p) * 0x87c37b91114253d5ULL;
        h = rotl64(h, 31) * 0x4cf5ad432745937fULL;
        p += 8;
        n -= 8;
    }
    uint64_t t = 0;
    memcpy(&t, p, n);
    h ^= t * 0x87c37b91114253d5ULL;
    h = fmix64(h);
    return h ? h : 1;
}

static void gen_free(Gen *g) {
    free(g->entries);
    free(g->index);
    free(g->arena);
    memset(g, 0, sizeof *g);
}

static inline int entry_is(const Gen *g, const Entry *e, const unsigned char *key, size_t len) {
    return e->len == len && memcmp(g->arena + e->off, key, len) == 0;
}

/* Entry index + 1 of key in g, or 0. */
static uint32_t gen_find(const Gen *g, const unsigned char *key, size_t len, uint64_t h) {
    if (!g->index) return 0;
    uint64_t tag = h >> 32 << 32;
    for (size_t i = h & g->mask;; i = (i + 1) & g->mask) {
        uint64_t slot = g->index[i];
        if (!slot) return 0;
        if ((slot >> 32 << 32) != tag) continue;
        uint32_t k = (uint32_t)slot;
        const Entry *e = &g->entries[k - 1];
        if (e->hash == h && entry_is(g, e, key, len)) return k;
    }
}

static void index_put(uint64_t *index, size_t mask, uint64_t h, uint32_t k) {
    size_t i = h & mask;
    while (index[i]) i = (i + 1) & mask;
    index[i] = (h >> 32 << 32) | k;
}

static int gen_grow_index(Gen *g) {
    size_t cap = g->index ? (g->mask + 1) * 2 : 1024;
    uint64_t *index = calloc(cap, sizeof(uint64_t));
    if (!index) return -1;
    for (size_t k = 0; k < g->count; k++) index_put(index, cap - 1, g->entries[k].hash, k + 1);
    free(g->index);
    g->index = index;
    g->mask = cap - 1;
    return 0;
}

/* Append key -> ref; returns the new entry's index + 1, or 0 when out of memory. */
static uint32_t gen_add(Gen *g, const unsigned char *key, size_t len, uint64_t h, int64_t ref) {
    if (!g->index || (g->count + 1) * 2 > g->mask + 1) {
        if (gen_grow_index(g) < 0) return 0;
    }
    if (g->count == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        Entry *entries = realloc(g->entries, cap * sizeof(Entry));
        if (!entries) return 0;
        g->entries = entries;
        g->cap = cap;
    }
    if (g->used + len > g->acap) {
        size_t cap = g->acap ? g->acap : 65536;
        while (cap < g->used + len) cap *= 2;
        unsigned char *arena = realloc(g->arena, cap);
        if (!arena) return 0;
        g->arena = arena;
        g->acap = cap;
    }
    if (len) memcpy(g->arena + g->used, key, len);
    g->entries[g->count] = (Entry){h, ref, g->used, len, 0};
    g->used += len;
    uint32_t k = (uint32_t)++g->count;
    index_put(g->index, g->mask, h, k);
    return k;
}

/* Same policy as PyRefCache._put. Returns the entry index + 1 of key in cur (0 when the key is
 * not kept: too large, or out of memory; *oom tells the two apart). */
static uint32_t cache_put(RefCache *c, const unsigned char *key, size_t len, uint64_t h,
                          int64_t ref, int *oom) {
    uint32_t k = gen_find(&c->cur, key, len, h);
    if (k) {
        c->cur.entries[k - 1].ref = ref;
        return k;
    }
    if (len > c->gen_bytes) return 0;
    if (c->cur.count >= c->gen_entries || c->cur.used + len > c->gen_bytes) {
        gen_free(&c->prev);
        c->prev = c->cur;
        memset(&c->cur, 0, sizeof c->cur);
        c->gen_no++;
    }
    k = gen_add(&c->cur, key, len, h, ref);
    if (!k) *oom = 1;
    return k;
}

/* Record that entry k of cur followed the hint's entry, and move the hint to k. */
static inline void hint_follow(RefCache *c, Hint *hint, uint32_t k) {
    if (hint->last && hint->gen_no == c->gen_no) c->cur.entries[hint->last - 1].next = k;
    hint->last = k;
    hint->gen_no = c->gen_no;
}

static int64_t cache_lookup(RefCache *c, const unsigned char *key, size_t len, Hint *hint) {
    if (hint->last && hint->gen_no == c->gen_no) {
        uint32_t k = c->cur.entries[hint->last - 1].next;
        if (k && entry_is(&c->cur, &c->cur.entries[k - 1], key, len)) {
            hint->last = k;
            return c->cur.entries[k - 1].ref;
        }
    }
    uint64_t h = hash_key(key, len, c->seed);
    uint32_t k = gen_find(&c->cur, key, len, h);
    if (k) {
        hint_follow(c, hint, k);
        return c->cur.entries[k - 1].ref;
    }
    k = gen_find(&c->prev, key, len, h);
    if (!k) {
        hint->last = 0;
        return -1;
    }
    int64_t ref = c->prev.entries[k - 1].ref; /* cache_put may free prev */
    int oom = 0;
    k = cache_put(c, key, len, h, ref, &oom); /* out of memory: simply not copied forward */
    if (k) hint_follow(c, hint, k);
    else hint->last = 0;
    return ref;
}

static void cache_destroy(PyObject *capsule) {
    RefCache *c = PyCapsule_GetPointer(capsule, CACHE_NAME);
    if (!c) return;
    gen_free(&c->cur);
    gen_free(&c->prev);
    free(c);
}

/* Borrow the cache out of a capsule and mark it busy; NULL with an exception set on failure. */
static RefCache *cache_acquire(PyObject *capsule) {
    RefCache *c = PyCapsule_GetPointer(capsule, CACHE_NAME);
    if (!c) return NULL;
    if (c->busy) {
        PyErr_SetString(PyExc_RuntimeError, "remote-write ref cache used by two threads at once");
        return NULL;
    }
    c->busy = 1;
    return c;
}

PyObject *py_rw_cache_new(PyObject *self, PyObject *args) {
    Py_ssize_t max_entries, max_bytes;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "nnK", &max_entries, &max_bytes, &seed)) return NULL;
    RefCache *c = calloc(1, sizeof(RefCache));
    if (!c) return PyErr_NoMemory();
    c->gen_entries = max_entries / 2 > 1 ? (size_t)(max_entries / 2) : 1;
    c->gen_bytes = max_bytes / 2 > 1 ? (size_t)(max_bytes / 2) : 1;
    c->seed = (uint64_t)seed;
    PyObject *capsule = PyCapsule_New(c, CACHE_NAME, cache_destroy);
    if (!capsule) free(c);
    return capsule;
}

PyObject *py_rw_cache_len(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    RefCache *c = PyCapsule_GetPointer(capsule, CACHE_NAME);
    if (!c) return NULL;
    return PyLong_FromSize_t(c->cur.count + c->prev.count);
}

PyObject *py_rw_cache_clear(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    RefCache *c = cache_acquire(capsule);
    if (!c) return NULL;
    gen_free(&c->cur);
    gen_free(&c->prev);
    c->busy = 0;
    return Py_NewRef(Py_None);
}

PyObject *py_rw_cache_lookup(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer key;
    if (!PyArg_ParseTuple(args, "Oy*", &capsule, &key)) return NULL;
    RefCache *c = cache_acquire(capsule);
    PyObject *ret = NULL;
    if (c) {
        Hint hint = {0, 0};
        ret = PyLong_FromLongLong(cache_lookup(c, key.buf, (size_t)key.len, &hint));
        c->busy = 0;
    }
    PyBuffer_Release(&key);
    return ret;
}

/* rw_cache_insert(cache, data, key_off, key_len, refs): cache data[off:off+len] -> ref. */
PyObject *py_rw_cache_insert(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer data, off, len, refs;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*", &capsule, &data, &off, &len, &refs)) return NULL;
    PyObject *ret = NULL;
    RefCache *c = NULL;
    Py_ssize_t n = off.len / 8;
    if (off.len % 8 || len.len != off.len || refs.len != off.len) {
        PyErr_SetString(PyExc_ValueError, "rw_cache_insert: columns differ in size");
        goto done;
    }
    const int64_t *o = off.buf, *l = len.buf, *r = refs.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (l[i] >= 0 && (o[i] < 0 || o[i] > data.len || l[i] > data.len - o[i])) {
            PyErr_SetString(PyExc_ValueError, "rw_cache_insert: key outside the data");
            goto done;
        }
    }
    if (!(c = cache_acquire(capsule))) goto done;
    int oom = 0;
    const unsigned char *d = data.buf;
    Py_BEGIN_ALLOW_THREADS;
    /* Keys inserted together were sent together: link each to the next as its prediction. */
    Hint hint = {0, 0};
    for (Py_ssize_t i = 0; i < n && !oom; i++) {
        if (l[i] < 0) continue;
        uint64_t h = hash_key(d + o[i], (size_t)l[i], c->seed);
        uint32_t k = cache_put(c, d + o[i], (size_t)l[i], h, r[i], &oom);
        if (k) hint_follow(c, &hint, k);
        else hint.last = 0;
    }
    Py_END_ALLOW_THREADS;
    c->busy = 0;
    if (oom) {
        PyErr_NoMemory();
        goto done;
    }
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    PyBuffer_Release(&len);
    PyBuffer_Release(&refs);
    return ret;
}

/* ---- decoding ------------------------------------------------------------------------------ */

typedef struct {
    Py_ssize_t series, samples, labels, histograms;
} Counts;

static int count_request(const unsigned char *buf, Py_ssize_t end, Counts *n, Py_ssize_t *err) {
    Field f, g;
    int rc;
    memset(n, 0, sizeof *n);
    for (Py_ssize_t pos = 0; pos < end; pos = f.b) {
        if ((rc = read_field(buf, pos, end, &f))) return *err = pos, rc;
        if (f.number != 1) continue;
        if (f.wire != 2) return *err = pos, RW_ERR_WRONG_WIRETYPE;
        n->series++;
        for (Py_ssize_t p = f.a; p < f.b; p = g.b) {
            if ((rc = read_field(buf, p, f.b, &g))) return *err = p, rc;
            if (g.number == 1 || g.number == 2 || g.number == 4) {
                if (g.wire != 2) return *err = p, RW_ERR_WRONG_WIRETYPE;
                if (g.number == 1) n->labels++;
                else if (g.number == 2) n->samples++;
                else n->histograms++;
            }
        }
    }
    return RW_OK;
}

PyObject *py_rw_count(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    Counts n;
    Py_ssize_t err = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = count_request(data.buf, data.len, &n, &err);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&data);
    return Py_BuildValue("innnnn", rc, rc ? err : (Py_ssize_t)0, n.series, n.samples, n.labels,
                         n.histograms);
}

typedef struct {
    int64_t *series_ref, *key_off, *key_len, *label_start, *labels;
    int32_t *sample_series;
    int64_t *ts;
    unsigned char *values; /* unaligned-safe copy of the fixed64 bytes */
    Py_ssize_t n_series, n_samples, label_rows;
} Out;

static int decode_label(const unsigned char *buf, Py_ssize_t a, Py_ssize_t b, int64_t *row,
                        Py_ssize_t *err) {
    Field f;
    int rc;
    row[0] = row[1] = row[2] = row[3] = 0;
    for (Py_ssize_t p = a; p < b; p = f.b) {
        if ((rc = read_field(buf, p, b, &f))) return *err = p, rc;
        if (f.number != 1 && f.number != 2) continue;
        if (f.wire != 2) return *err = p, RW_ERR_WRONG_WIRETYPE;
        int64_t *dst = f.number == 1 ? row : row + 2;
        dst[0] = f.a;
        dst[1] = f.b - f.a;
    }
    return RW_OK;
}

static int decode_sample(const unsigned char *buf, Py_ssize_t a, Py_ssize_t b, int64_t *ts,
                         unsigned char *value, Py_ssize_t *err) {
    Field f;
    int rc;
    *ts = 0;
    memset(value, 0, 8);
    for (Py_ssize_t p = a; p < b; p = f.b) {
        if ((rc = read_field(buf, p, b, &f))) return *err = p, rc;
        if (f.number == 1) {
            if (f.wire != 1) return *err = p, RW_ERR_WRONG_WIRETYPE;
            memcpy(value, buf + f.a, 8);
        } else if (f.number == 2) {
            if (f.wire != 0) return *err = p, RW_ERR_WRONG_WIRETYPE;
            uint64_t u;
            Py_ssize_t q = f.a;
            if ((rc = read_varint(buf, &q, b, &u))) return *err = p, rc;
            *ts = (int64_t)u;
        }
    }
    return RW_OK;
}

static int decode_request(const unsigned char *buf, Py_ssize_t end, RefCache *cache, Out *o,
                          Py_ssize_t *err) {
    Field f, g;
    int rc;
    Py_ssize_t i = 0, j = 0, rows = 0;
    Hint hint = {0, 0};
    o->label_start[0] = 0;
    for (Py_ssize_t pos = 0; pos < end; pos = f.b) {
        if ((rc = read_field(buf, pos, end, &f))) return *err = pos, rc;
        if (f.number != 1) continue;
        if (f.wire != 2) return *err = pos, RW_ERR_WRONG_WIRETYPE;
        if (i >= o->n_series) return RW_ERR_COUNTS;
        Py_ssize_t first = -1, last = -1;
        int contiguous = 1;
        for (Py_ssize_t p = f.a; p < f.b; p = g.b) {
            if ((rc = read_field(buf, p, f.b, &g))) return *err = p, rc;
            if (g.number == 1) {
                if (g.wire != 2) return *err = p, RW_ERR_WRONG_WIRETYPE;
                if (first < 0) first = p;
                else if (p != last) contiguous = 0;
                last = g.b;
            } else if (g.number == 2) {
                if (g.wire != 2) return *err = p, RW_ERR_WRONG_WIRETYPE;
                if (j >= o->n_samples) return RW_ERR_COUNTS;
                rc = decode_sample(buf, g.a, g.b, &o->ts[j], o->values + 8 * j, err);
                if (rc) return rc;
                o->sample_series[j++] = (int32_t)i;
            }
        }
        if (first < 0) first = last = f.a;
        int64_t ref = -1;
        o->key_off[i] = first;
        if (contiguous) {
            o->key_len[i] = last - first;
            if (cache) ref = cache_lookup(cache, buf + first, (size_t)(last - first), &hint);
        } else {
            o->key_len[i] = -1;
        }
        o->series_ref[i] = ref;
        if (ref < 0) {
            for (Py_ssize_t p = f.a; p < f.b; p = g.b) {
                if ((rc = read_field(buf, p, f.b, &g))) return *err = p, rc;
                if (g.number != 1) continue;
                if (rows >= o->label_rows) return RW_ERR_COUNTS;
                if ((rc = decode_label(buf, g.a, g.b, o->labels + 4 * rows, err))) return rc;
                rows++;
            }
        }
        o->label_start[++i] = rows;
    }
    if (i != o->n_series || j != o->n_samples) return RW_ERR_COUNTS;
    o->label_rows = rows;
    return RW_OK;
}

/* rw_decode(data, cache, series_ref, key_off, key_len, label_start, labels, sample_series, ts,
 *           values) -> (code, offset, label rows used) */
PyObject *py_rw_decode(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer data, b[8];
    if (!PyArg_ParseTuple(args, "y*Ow*w*w*w*w*w*w*w*", &data, &capsule, &b[0], &b[1], &b[2],
                          &b[3], &b[4], &b[5], &b[6], &b[7]))
        return NULL;
    PyObject *ret = NULL;
    RefCache *cache = NULL;
    Py_ssize_t ns = b[0].len / 8, nj = b[6].len / 8;
    if (b[0].len % 8 || b[1].len != b[0].len || b[2].len != b[0].len ||
        b[3].len != b[0].len + 8 || b[4].len % 32 || b[5].len != nj * 4 || b[6].len % 8 ||
        b[7].len != b[6].len) {
        PyErr_SetString(PyExc_ValueError, "rw_decode: output buffers of inconsistent sizes");
        goto done;
    }
    if (capsule != Py_None && !(cache = cache_acquire(capsule))) goto done;
    Out o = {b[0].buf, b[1].buf, b[2].buf, b[3].buf, b[4].buf, b[5].buf, b[6].buf, b[7].buf,
             ns, nj, b[4].len / 32};
    Py_ssize_t err = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = decode_request(data.buf, data.len, cache, &o, &err);
    Py_END_ALLOW_THREADS;
    if (cache) cache->busy = 0;
    if (rc == RW_ERR_COUNTS) {
        PyErr_SetString(PyExc_ValueError, "rw_decode: buffers smaller than the request needs");
        goto done;
    }
    ret = Py_BuildValue("inn", rc, rc ? err : (Py_ssize_t)0, rc ? (Py_ssize_t)0 : o.label_rows);
done:
    PyBuffer_Release(&data);
    for (int k = 0; k < 8; k++) PyBuffer_Release(&b[k]);
    return ret;
}

/* ---- snappy block format ------------------------------------------------------------------
 *
 * The body of a remote-write request: a varint of the uncompressed length, then elements, each
 * a literal (bytes copied from the input) or a copy (bytes repeated from earlier output at some
 * offset). The output buffer is the caller's, of exactly the declared length (so the caller
 * checks that length against its limits before allocating, and may reuse buffers); a body whose
 * elements overrun it, copy from before its start or leave it short is corrupt. Runs without
 * the GIL, so two requests decompress on two cores. */

enum { SNAPPY_OK = 0, SNAPPY_ERR_HEADER = 1, SNAPPY_ERR_LENGTH = 2, SNAPPY_ERR_CORRUPT = 3 };

static int snappy_decompress(const unsigned char *ip, size_t in_len, unsigned char *out,
                             size_t out_len) {
    const unsigned char *in_end = ip + in_len;
    uint64_t declared = 0;
    int shift = 0;
    for (;;) {
        if (ip >= in_end || shift > 28) return SNAPPY_ERR_HEADER;
        unsigned char b = *ip++;
        declared |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) break;
        shift += 7;
    }
    if (declared >= (1ULL << 32)) return SNAPPY_ERR_HEADER;
    if (declared != out_len) return SNAPPY_ERR_LENGTH;
    unsigned char *op = out, *out_end = out + out_len;
    while (ip < in_end) {
        unsigned char tag = *ip++;
        size_t len, offset;
        if ((tag & 3) == 0) { /* literal */
            len = (size_t)(tag >> 2) + 1;
            if (len > 60) {
                size_t extra = len - 60; /* 1..4 little-endian bytes of length - 1 */
                if ((size_t)(in_end - ip) < extra) return SNAPPY_ERR_CORRUPT;
                len = 0;
                for (size_t k = 0; k < extra; k++) len |= (size_t)ip[k] << (8 * k);
                len += 1;
                ip += extra;
            }
            if ((size_t)(in_end - ip) < len || (size_t)(out_end - op) < len)
                return SNAPPY_ERR_CORRUPT;
            if (len <= 16 && in_end - ip >= 16 && out_end - op >= 16) {
                memcpy(op, ip, 16); /* fixed size: one vector move; the rest is overwritten */
            } else {
                memcpy(op, ip, len);
            }
            op += len;
            ip += len;
            continue;
        }
        if ((tag & 3) == 1) { /* copy, 11-bit offset */
            if (ip >= in_end) return SNAPPY_ERR_CORRUPT;
            len = 4 + ((tag >> 2) & 7);
            offset = ((size_t)(tag >> 5) << 8) | *ip++;
        } else if ((tag & 3) == 2) { /* copy, 16-bit offset */
            if (in_end - ip < 2) return SNAPPY_ERR_CORRUPT;
            len = (size_t)(tag >> 2) + 1;
            offset = (size_t)ip[0] | (size_t)ip[1] << 8;
            ip += 2;
        } else { /* copy, 32-bit offset */
            if (in_end - ip < 4) return SNAPPY_ERR_CORRUPT;
            len = (size_t)(tag >> 2) + 1;
            offset = (size_t)ip[0] | (size_t)ip[1] << 8 | (size_t)ip[2] << 16 |
                     (size_t)ip[3] << 24;
            ip += 4;
        }
        if (offset == 0 || offset > (size_t)(op - out) || (size_t)(out_end - op) < len)
            return SNAPPY_ERR_CORRUPT;
        const unsigned char *src = op - offset;
        if (offset >= 16 && out_end - op >= 64 && len <= 64) {
            /* non-overlapping 16-byte chunks; bytes past len are overwritten later */
            for (size_t k = 0; k < len; k += 16) memcpy(op + k, src + k, 16);
        } else if (offset >= len) {
            memcpy(op, src, len);
        } else {
            for (size_t k = 0; k < len; k++) op[k] = src[k]; /* overlapping: a repeated pattern */
        }
        op += len;
    }
    return op == out_end ? SNAPPY_OK : SNAPPY_ERR_CORRUPT;
}

/* rw_snappy_decompress(body, out) -> code (0: out holds the whole uncompressed body) */
PyObject *py_rw_snappy_decompress(PyObject *self, PyObject *args) {
    Py_buffer body, out;
    if (!PyArg_ParseTuple(args, "y*w*", &body, &out)) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = snappy_decompress(body.buf, (size_t)body.len, out.buf, (size_t)out.len);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&body);
    PyBuffer_Release(&out);
    return PyLong_FromLong(rc);
}
