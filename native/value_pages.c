/*
 * v2 value pages: the rANS lane encoder and the whole value decoder of one page (meta checks in
 * value_meta.c, then entropy decode, temporal and cross-series inverse predictors, decimal
 * scaling, written straight into the decoded page). C twins of the numpy reference in
 * src/obskit/encoding/{rans,residuals,valuepages}.py; the format is drawn there. Damage found
 * while decoding (a word or raw-bit stream that runs short or long) is an error code.
 * Integer arithmetic is unsigned 64-bit (wraps like numpy's int64 arrays); the fscaled predictor
 * uses IEEE double add/multiply only, compiled with -ffp-contract=off like the rest.
 */
#include "value_pages.h"

#include <math.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- encoder */

/* Each lane l = [starts[l], +lens[l]) of per-symbol (freq, cum) into its own word stream (in the
 * order the decoder reads it), appended to words; returns the total word count. scratch holds
 * as many words as the longest lane. */
static Py_ssize_t encode_lanes(const int64_t *freq, const int64_t *cum, const int64_t *starts,
                               const int64_t *lens, Py_ssize_t n_lanes, uint16_t *words,
                               uint16_t *scratch, int64_t scratch_len, int64_t *lane_words,
                               uint32_t *states) {
    Py_ssize_t out = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        uint16_t *w = scratch + scratch_len;
        uint64_t x = RANS_LOW;
        const int64_t *f = freq + starts[l], *c = cum + starts[l];
        for (int64_t t = lens[l] - 1; t >= 0; t--) {
            uint64_t ft = (uint64_t)f[t];
            if (x >= ((uint64_t)(RANS_LOW >> PROB_BITS) << 16) * ft) {
                *--w = (uint16_t)x;
                x >>= 16;
            }
            x = ((x / ft) << PROB_BITS) + (x % ft) + (uint64_t)c[t];
        }
        Py_ssize_t n = (scratch + scratch_len) - w;
        memcpy(words + out, w, (size_t)n * 2);
        out += n;
        lane_words[l] = n;
        states[l] = (uint32_t)x;
    }
    return out;
}

PyObject *py_rans_encode_lanes(PyObject *self, PyObject *args) {
    Py_buffer bf, bc, bs, bl, bw, blw, bst;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*w*w*", &bf, &bc, &bs, &bl, &bw, &blw, &bst))
        return NULL;
    PyObject *ret = NULL;
    uint16_t *scratch = NULL;
    Py_ssize_t n = bf.len / 8, n_lanes = bs.len / 8;
    if (bc.len != bf.len || bl.len != bs.len || bw.len < n * 2 || bst.len != n_lanes * 4 ||
        blw.len != n_lanes * 8) {
        PyErr_SetString(PyExc_ValueError, "bad arguments to rans_encode_lanes");
        goto done;
    }
    const int64_t *starts = bs.buf, *lens = bl.buf, *freq = bf.buf;
    int64_t longest = 0;
    for (Py_ssize_t l = 0; l < n_lanes; l++) {
        if (starts[l] < 0 || lens[l] < 0 || starts[l] + lens[l] > n) {
            PyErr_SetString(PyExc_ValueError, "rans_encode_lanes: lane outside the symbols");
            goto done;
        }
        if (lens[l] > longest) longest = lens[l];
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (freq[i] < 1 || freq[i] > (int64_t)PROB_SCALE) {
            PyErr_SetString(PyExc_ValueError, "rans_encode_lanes: frequency out of range");
            goto done;
        }
    }
    scratch = malloc((size_t)longest * 2 + 2);
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t got;
    Py_BEGIN_ALLOW_THREADS;
    got = encode_lanes(freq, bc.buf, starts, lens, n_lanes, bw.buf, scratch, longest, blw.buf,
                       bst.buf);
    Py_END_ALLOW_THREADS;
    ret = PyLong_FromSsize_t(got);
done:
    free(scratch);
    PyBuffer_Release(&bf);
    PyBuffer_Release(&bc);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bl);
    PyBuffer_Release(&bw);
    PyBuffer_Release(&blw);
    PyBuffer_Release(&bst);
    return ret;
}

/* ---------------------------------------------------------------- decoder */

/* Decode table: one word per (context, slot) holding all a step needs after one load:
 * f - 1 (11 bits) | slot - cum (11) | nq (6) | lead (4). A token's q is lead << nq | nq raw bits
 * (lead = the token below 16, else its two leading bits), so the sample is lead << nb | raw
 * with nb = nq + the context's shift. Slots of unused contexts get nq = 63: the field is too
 * long and the lane is damaged (a valid encoder never codes a symbol there). */
#define T_F(e) (((e) & 2047u) + 1)
#define T_BIAS(e) (((e) >> 11) & 2047u)
#define T_NQ(e) (((e) >> 22) & 63u)
#define T_LEAD(e) ((uint64_t)((e) >> 28))
/* Steps between the checks that a lane's next reads stay inside the body (so the hot loop reads
 * without bounds checks); a lane's own stream ends are checked once, after its last step. */
#define CHUNK 64
#ifndef GROUP
#define GROUP 2 /* lanes decoded together: 2 measured faster than 3 or 4 (register spills) */
#endif
/* The hot loop's helpers are inlined into both builds of run_lanes (see run_lanes_bmi2). */
#define HOT static inline __attribute__((always_inline))

#define TABLE_WORDS (N_CTX * PROB_SCALE)
/* One 139 KiB table measured faster than a byte table of tokens + an entry per token (two
 * dependent L1 loads). */
HOT uint32_t lookup(const uint32_t *tab, uint32_t ctxoff, uint32_t slot) {
    return tab[ctxoff + slot];
}
#define BIAS(en, slot) T_BIAS(en)
static void build_table(const vp_meta_t *m, uint32_t *tab) {
    for (uint32_t c = 0; c < N_CTX; c++) {
        uint32_t *row = tab + c * PROB_SCALE;
        if (!(m->ctx_mask >> c & 1)) {
            for (uint32_t s = 0; s < PROB_SCALE; s++) row[s] = s << 11 | 63u << 22;
            continue;
        }
        uint32_t cum = 0;
        for (uint32_t t = 0; t < N_TOK; t++) {
            uint32_t f = m->freq[c][t];
            uint32_t nq = t < 16 ? 0 : (t - 16) / 2 + 3;
            uint32_t lead = t < 16 ? t : 2 + ((t - 16) & 1);
            uint32_t hi = (f - 1) | nq << 22 | lead << 28;
            for (uint32_t s = 0; s < f; s++) row[cum + s] = hi | s << 11;
            cum += f;
        }
    }
}

/* One lane's decoding state. Word and raw-bit positions are absolute (from the body's words
 * and raw bits); e receives the lane's u, then (rebuild) its e, and has MA_MAX_K
 * words of history before e[0]. */
typedef struct {
    const uint8_t *wp, *wend;
    uint64_t bpos, bend;
    uint64_t *e;
    uint64_t u1;
    int64_t len;
    uint32_t x, ctxoff, bad;
    int xsh;
} lane_t;

/* Context of the next sample. */
HOT void lane_finish(lane_t *L, uint64_t u, int64_t t) {
    uint64_t u1 = L->u1;
    uint64_t m = (u & u1) + ((u ^ u1) >> 1); /* (u >> 1) + (u1 >> 1) + (u & u1 & 1) */
    int cb = (63 ^ __builtin_clzll(m | 1)) + (m != 0); /* bit length, no branch */
    int cx = cb < N_CTX - 1 ? cb : N_CTX - 1;
    L->ctxoff = (uint32_t)cx << PROB_BITS;
    L->xsh = cb - cx;
    L->u1 = u;
    L->e[t] = u;
}

/* Sample t of a lane whose reads the caller checked stay inside the body: no branch. */
HOT void lane_step(lane_t *L, const uint32_t *tab, const uint8_t *raw, int64_t t) {
    uint32_t x = L->x;
    uint32_t slot = x & (PROB_SCALE - 1);
    uint32_t en = lookup(tab, L->ctxoff, slot);
    x = T_F(en) * (x >> PROB_BITS) + BIAS(en, slot);
    uint16_t w;
    memcpy(&w, L->wp, 2);
    uint32_t need = x < RANS_LOW; /* arithmetic, not a branch: taken about every other step */
    L->x = x << (need << 4) | (w & (0 - need));
    L->wp += 2 * need;
    /* the next step's entry if its context stays this one (it mostly does): in L1 by then */
    __builtin_prefetch(tab + L->ctxoff + (L->x & (PROB_SCALE - 1)));
    uint32_t nb = T_NQ(en) + (uint32_t)L->xsh;
    L->bad |= nb + 1; /* bit 6 set: a field of more than 62 bits */
    nb &= 63;
    uint64_t bpos = L->bpos;
    const uint8_t *p = raw + (bpos >> 3);
    unsigned bsh = (unsigned)(bpos & 7);
    uint64_t val = load_u64(p) >> bsh;
    if (__builtin_expect(nb + bsh > 64, 0)) val |= (uint64_t)p[8] << (64 - bsh); /* > 56 bits */
    L->bpos = bpos + nb;
    lane_finish(L, T_LEAD(en) << nb | (val & ((1ull << nb) - 1)), t);
}

/* The same, checking every read against the lane's own streams (the tail of the body). */
static int lane_step_checked(lane_t *L, const uint32_t *tab, const uint8_t *raw, int64_t t) {
    uint32_t x = L->x;
    uint32_t slot = x & (PROB_SCALE - 1);
    uint32_t en = lookup(tab, L->ctxoff, slot);
    x = T_F(en) * (x >> PROB_BITS) + BIAS(en, slot);
    if (x < RANS_LOW) {
        if (L->wp >= L->wend) return VP_WORDS_SHORT;
        uint16_t w;
        memcpy(&w, L->wp, 2);
        x = x << 16 | w;
        L->wp += 2;
    }
    L->x = x;
    uint32_t nb = T_NQ(en) + (uint32_t)L->xsh;
    if (nb > 62) return VP_FIELD_LONG;
    uint64_t bpos = L->bpos;
    if (bpos + nb > L->bend) return VP_RAW_SHORT;
    uint8_t b[16] = {0};
    uint64_t avail = (L->bend >> 3) - (bpos >> 3);
    memcpy(b, raw + (bpos >> 3), avail < 9 ? avail : 9);
    unsigned bsh = (unsigned)(bpos & 7);
    uint64_t val = (load_u64(b) >> bsh | ((uint64_t)b[8] << 1) << (63 - bsh)) & ((1ull << nb) - 1);
    L->bpos = bpos + nb;
    lane_finish(L, T_LEAD(en) << nb | val, t);
    return VP_OK;
}

/* Whether n unchecked steps of L read inside [.., end). */
HOT int lane_fits(const lane_t *L, int64_t n, const uint8_t *raw, const uint8_t *end) {
    return (uintptr_t)L->wp + 2 * (uint64_t)n + 2 <= (uintptr_t)end &&
           (uintptr_t)raw + ((L->bpos + 63 * (uint64_t)n) >> 3) + 9 <= (uintptr_t)end;
}

static int lane_end(const lane_t *L) {
    if (L->bad >> 6) return VP_FIELD_LONG;
    if (L->wp > L->wend) return VP_WORDS_SHORT;
    if (L->bpos > L->bend) return VP_RAW_SHORT;
    return L->wp == L->wend ? VP_OK : VP_WORDS_LONG;
}

/* Samples t.. of one lane. */
HOT int run_lane(lane_t *lane, int64_t t, const uint32_t *tab, const uint8_t *raw,
             const uint8_t *end) {
    lane_t A = *lane;
    while (t < A.len) {
        int64_t stop = t + CHUNK < A.len ? t + CHUNK : A.len;
        if (!lane_fits(&A, stop - t, raw, end)) break;
        for (; t < stop; t++) lane_step(&A, tab, raw, t);
    }
    for (; t < A.len; t++) {
        int rc = lane_step_checked(&A, tab, raw, t);
        if (rc != VP_OK) return rc;
    }
    *lane = A;
    return lane_end(&A);
}

/* n <= GROUP lanes, stepped together while all run: their dependency chains (state -> table
 * -> token -> context) are independent, so the CPU overlaps them. */
#if GROUP == 4
#define EACH(X) X(A) X(B) X(C) X(D)
#elif GROUP == 3
#define EACH(X) X(A) X(B) X(C)
#else
#define EACH(X) X(A) X(B)
#endif
#define LOAD_LANE(L) lane_t L = ls[j++];
#define FITS(L) &&lane_fits(&L, s, raw, end)
#define STEP(L) lane_step(&L, tab, raw, t);
#define STORE_LANE(L) ls[j++] = L;
HOT int run_lanes(lane_t *ls, int n, const uint32_t *tab, const uint8_t *raw,
              const uint8_t *end) {
    int64_t t = 0;
    if (n == GROUP) {
        int j = 0;
        EACH(LOAD_LANE)
        int64_t all = ls[0].len;
        for (j = 1; j < GROUP; j++) all = ls[j].len < all ? ls[j].len : all;
        while (t < all) {
            int64_t stop = t + CHUNK < all ? t + CHUNK : all;
            int64_t s = stop - t;
            if (!(1 EACH(FITS))) break;
            for (; t < stop; t++) {
                EACH(STEP)
            }
        }
        j = 0;
        EACH(STORE_LANE)
    }
    int rc = VP_OK;
    for (int j = 0; j < n && rc == VP_OK; j++) rc = run_lane(&ls[j], t, tab, raw, end);
    return rc;
}

static int run_lanes_base(lane_t *ls, int n, const uint32_t *tab, const uint8_t *raw,
                          const uint8_t *end) {
    return run_lanes(ls, n, tab, raw, end);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same compiled for CPUs with BMI2 and LZCNT (x86-64 since 2013): shifts by a register
 * without the cl dance, bzhi masks, one lzcnt; the build stays portable (no -march). */
__attribute__((target("bmi,bmi2,lzcnt"))) static int run_lanes_bmi2(lane_t *ls, int n,
                                                                     const uint32_t *tab,
                                                                     const uint8_t *raw,
                                                                     const uint8_t *end) {
    return run_lanes(ls, n, tab, raw, end);
}

typedef int (*run_lanes_fn)(lane_t *, int, const uint32_t *, const uint8_t *, const uint8_t *);

static run_lanes_fn pick_run_lanes(void) {
    __builtin_cpu_init();
    int fast = __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("lzcnt");
    return fast ? run_lanes_bmi2 : run_lanes_base;
}
#else
typedef int (*run_lanes_fn)(lane_t *, int, const uint32_t *, const uint8_t *, const uint8_t *);

static run_lanes_fn pick_run_lanes(void) { return run_lanes_base; }
#endif

static inline void st_u64(uint8_t *p, int64_t i, uint64_t v) { memcpy(p + 8 * i, &v, 8); }
static inline double ld_f64(const uint8_t *p, int64_t i) {
    double v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

static inline uint64_t fixed_scale(uint64_t d, int64_t m, int s) {
    uint64_t hi = (uint64_t)((int64_t)d >> 32);
    uint64_t lo = (d & 0xFFFFFFFFull) * (uint64_t)m;
    if (s) lo += 1ull << (s - 1);
    return ((hi * (uint64_t)m) << (32 - s)) + (uint64_t)((int64_t)lo >> s);
}

static inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b) != 0 && a < 0) q -= 1;
    return q;
}

static inline uint64_t lattice(uint64_t q, int64_t g) {
    if (g == 1) return q;
    int64_t a = (int64_t)(q + (uint64_t)(g >> 1));
    return (uint64_t)floor_div(a, g) * (uint64_t)g;
}

/* The lanes' e streams live in a ring of slots (lane l in slot l % n_slots), big enough for the
 * lanes being decoded and every older lane a predictor still reads. */
typedef struct {
    uint64_t *base;
    int64_t n_slots, stride;
} ring_t;

static inline uint64_t *slot_of(const ring_t *r, int64_t lane) {
    return r->base + (lane % r->n_slots) * r->stride + MA_MAX_K;
}

/* A lane's u -> e in place: e = unzigzag(u) + the mean of the last k e (history: c), k = 2**(ma
 * - 1), or + c when ma = 0 (ma_inverse in residuals.py). With to (a decimal segment without
 * cross predictor or divisor: most of them) it also writes the segment's values, in the same
 * pass. */
HOT void temporal_inverse(uint64_t *e, int64_t n, uint64_t c, int ma, const vp_seg_t *to,
                          uint8_t *v) {
    uint64_t acc = to ? (uint64_t)to->first : 0;
    const double p10 = to ? POW10[to->exp] : 1.0;
    if (to) {
        double f = (double)(int64_t)acc / p10;
        memcpy(v, &f, 8);
    }
#define VALUE(ev)                                                                               \
    if (to) {                                                                                   \
        acc += ev;                                                                              \
        double f = (double)(int64_t)acc / p10;                                                  \
        memcpy(v + 8 * (t + 1), &f, 8);                                                         \
    }
    if (!ma) {
        for (int64_t t = 0; t < n; t++) {
            uint64_t ev = unzigzag(e[t]) + c;
            e[t] = ev;
            VALUE(ev)
        }
        return;
    }
    int64_t k = 1 << (ma - 1);
    int shk = ma - 1;
    for (int64_t j = 1; j <= k; j++) e[-j] = c;
    uint64_t s = c * (uint64_t)k;
    for (int64_t t = 0; t < n; t++) {
        uint64_t ev = unzigzag(e[t]) + (uint64_t)((int64_t)s >> shk);
        e[t] = ev;
        s += ev - e[t - k];
        VALUE(ev)
    }
#undef VALUE
}

static void temporal_only(uint64_t *e, int64_t n, uint64_t c, int ma) {
    temporal_inverse(e, n, c, ma, NULL, NULL);
}

static void temporal_values(uint64_t *e, int64_t n, uint64_t c, int ma, const vp_seg_t *to,
                            uint8_t *v) {
    temporal_inverse(e, n, c, ma, to, v);
}

/* Segment i's values from its lane's e (turned into its d in place for decimal segments, which
 * later segments' cross predictors read). */
static void rebuild(const vp_meta_t *m, int64_t i, const ring_t *ring, uint8_t *out,
                    int64_t *exc_at) {
    const vp_seg_t *sg = m->seg, *p = m->seg + i;
    int64_t n = p->count;
    uint8_t *v = out + p->out;
    if (p->kind == K_CONST) {
        for (int64_t t = 0; t < n; t++) st_u64(v, t, (uint64_t)p->first);
        return;
    }
    uint64_t *d = slot_of(ring, p->lane);
    int xp = p->xpred;
    if (p->kind == K_DEC && xp == X_NONE && p->gcd == 1) {
        temporal_values(d, n - 1, (uint64_t)p->c, p->ma, p, v);
        for (uint32_t q = 0; q < p->n_exc; q++, (*exc_at)++)
            st_u64(v, rd_u32(m->exc_pos, (size_t)*exc_at), rd_u64(m->exc_bits, (size_t)*exc_at));
        return;
    }
    temporal_only(d, n - 1, (uint64_t)p->c, p->ma);
    if (xp == X_FSCALED) {
        const uint8_t *x = out + sg[i - p->ref1].out;
        double a, prev;
        memcpy(&a, &p->a1, 8);
        st_u64(v, 0, (uint64_t)p->first);
        memcpy(&prev, &p->first, 8);
        for (int64_t t = 1; t < n; t++) {
            double pr = prev + a * (ld_f64(x, t) - ld_f64(x, t - 1));
            if (!isfinite(pr)) pr = prev;
            uint64_t pb;
            memcpy(&pb, &pr, 8);
            pb += d[t - 1];
            st_u64(v, t, pb);
            memcpy(&prev, &pb, 8);
        }
        return;
    }
    uint64_t g = (uint64_t)p->gcd;
    if (g != 1)
        for (int64_t t = 0; t < n - 1; t++) d[t] *= g;
    if (xp == X_DIFF || xp == X_SCALED || xp == X_LIN2) {
        const uint64_t *r1 = slot_of(ring, sg[i - p->ref1].lane);
        if (xp == X_DIFF) {
            for (int64_t t = 0; t < n - 1; t++) d[t] += r1[t];
        } else {
            const uint64_t *r2 = xp == X_LIN2 ? slot_of(ring, sg[i - p->ref2].lane) : NULL;
            int64_t m1 = p->a1, m2 = p->a2, lat = p->lat;
            int s1 = p->sh1, s2 = p->sh2;
            for (int64_t t = 0; t < n - 1; t++) {
                uint64_t q = fixed_scale(r1[t], m1, s1);
                if (r2) q += fixed_scale(r2[t], m2, s2);
                d[t] += lattice(q, lat);
            }
        }
    } else if (xp == X_NEGSUM) {
        for (int64_t b = 1; b <= p->ref1; b++) {
            const uint64_t *r = slot_of(ring, sg[i - b].lane);
            for (int64_t t = 0; t < n - 1; t++) d[t] -= r[t];
        }
    }
    uint64_t acc = (uint64_t)p->first;
    if (p->kind == K_DEC) {
        const double p10 = POW10[p->exp];
        double f = (double)(int64_t)acc / p10;
        memcpy(v, &f, 8);
        for (int64_t t = 1; t < n; t++) {
            acc += d[t - 1];
            f = (double)(int64_t)acc / p10;
            memcpy(v + 8 * t, &f, 8);
        }
        for (uint32_t q = 0; q < p->n_exc; q++, (*exc_at)++)
            st_u64(v, rd_u32(m->exc_pos, (size_t)*exc_at), rd_u64(m->exc_bits, (size_t)*exc_at));
    } else {
        st_u64(v, 0, acc);
        for (int64_t t = 1; t < n; t++) {
            acc += d[t - 1];
            st_u64(v, t, acc);
        }
    }
}

/* The decoded page: ts columns, then each value column as codec 0x00 | uvarint count | f64s. */
static void write_heads(const vp_meta_t *m, uint8_t *out) {
    memcpy(out, m->ts, m->ts_len);
    size_t at = m->ts_len;
    for (uint32_t c = 0; c < m->n_cols; c++) {
        uint64_t n = rd_u32(m->col_counts, c);
        out[at++] = 0x00;
        for (uint64_t x = n; ; x >>= 7) {
            out[at++] = (uint8_t)(x < 0x80 ? x : (x & 0x7F) | 0x80);
            if (x < 0x80) break;
        }
        at += 8 * n;
    }
}

/* Lanes in groups of four, each group rebuilt (with the const segments before it) once
 * decoded: the ring then only holds the lanes still referenced, and stays in cache. */
static int decode_page(const vp_meta_t *m, const uint8_t *words, const uint8_t *end,
                       uint8_t *out, int portable) {
    const uint8_t *raw = words + 2 * (size_t)m->n_words;
    ring_t ring = {NULL, m->reach + GROUP, MA_MAX_K + m->max_len};
    if (ring.n_slots > (int64_t)m->n_lanes) ring.n_slots = m->n_lanes ? m->n_lanes : 1;
    uint32_t *tab = malloc(TABLE_WORDS * 4);
    ring.base = malloc((size_t)(ring.n_slots * ring.stride) * 8);
    if (!tab || !ring.base) {
        free(tab);
        free(ring.base);
        return VP_NO_MEMORY;
    }
    write_heads(m, out);
    build_table(m, tab);
    run_lanes_fn run = portable ? run_lanes_base : pick_run_lanes();
    lane_t grp[GROUP];
    int g = 0, rc = VP_OK;
    int64_t done = 0, exc_at = 0;
    uint64_t w_at = 0, r_at = 0;
    for (int64_t i = 0; i < m->k && rc == VP_OK; i++) {
        const vp_seg_t *p = m->seg + i;
        if (p->kind == K_CONST) continue;
        size_t l = (size_t)p->lane;
        uint32_t lw = rd_u32(m->lane_words, l), lb = rd_u32(m->lane_bytes, l);
        lane_t *L = grp + g++;
        *L = (lane_t){
            .wp = words + 2 * w_at, .wend = words + 2 * (w_at + lw), .bpos = 8 * r_at,
            .bend = 8 * (r_at + lb), .e = slot_of(&ring, p->lane), .len = (int64_t)p->count - 1,
            .x = rd_u32(m->states, l),
        };
        w_at += lw;
        r_at += lb;
        if (g == GROUP) {
            rc = run(grp, g, tab, raw, end);
            for (; rc == VP_OK && done <= i; done++) rebuild(m, done, &ring, out, &exc_at);
            g = 0;
        }
    }
    if (rc == VP_OK && g) rc = run(grp, g, tab, raw, end);
    for (; rc == VP_OK && done < m->k; done++) rebuild(m, done, &ring, out, &exc_at);
    free(tab);
    free(ring.base);
    return rc;
}

PyObject *py_decode_value_page(PyObject *self, PyObject *args) {
    Py_buffer bm, bb;
    Py_ssize_t at, raw_len;
    int portable = 0; /* tests: the build for any x86-64 / other CPUs, even where BMI2 is */
    if (!PyArg_ParseTuple(args, "y*y*nn|p", &bm, &bb, &at, &raw_len, &portable)) return NULL;
    PyObject *out = NULL;
    vp_meta_t m;
    int rc;
    Py_BEGIN_ALLOW_THREADS;
    rc = vp_meta_parse(bm.buf, (size_t)bm.len, raw_len, &m);
    Py_END_ALLOW_THREADS;
    if (rc == VP_OK && (at < 0 || at > bb.len ||
                        (uint64_t)(bb.len - at) != 2 * (uint64_t)m.n_words + m.raw_bytes))
        rc = VP_BAD_STREAMS;
    if (rc == VP_OK) {
        out = PyBytes_FromStringAndSize(NULL, raw_len);
        if (!out) goto done;
        uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);
        const uint8_t *body = bb.buf;
        Py_BEGIN_ALLOW_THREADS;
        rc = decode_page(&m, body + at, body + bb.len, dst, portable);
        Py_END_ALLOW_THREADS;
        if (rc != VP_OK) Py_CLEAR(out);
    }
    if (rc == VP_NO_MEMORY) {
        PyErr_NoMemory();
        goto done;
    }
    if (!out) out = Py_NewRef(Py_None);
    PyObject *ret = Py_BuildValue("iN", rc, out);
    out = ret;
done:
    vp_meta_free(&m);
    PyBuffer_Release(&bm);
    PyBuffer_Release(&bb);
    return out;
}
