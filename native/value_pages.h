/*
 * v2 value pages, shared by the decoder (value_pages.c) and its meta parser (value_meta.c): the
 * constants of the format (drawn in src/obskit/encoding/{valuepages,rans}.py) and the parsed,
 * validated header of one page.
 */
#ifndef OBSKIT_VALUE_PAGES_H
#define OBSKIT_VALUE_PAGES_H

#include "column_kernels.h"

#define N_CTX 17
#define N_TOK 136
#define PROB_BITS 11
#define PROB_SCALE (1u << PROB_BITS)
#define RANS_LOW (1u << 16)
#define MA_MAX_K 32 /* longest moving-average window (residuals.MA_KS) */

enum { K_CONST = 1, K_DEC = 7, K_FLT = 8 };
enum { X_NONE, X_DIFF, X_SCALED, X_LIN2, X_NEGSUM, X_FSCALED };
/* Return codes of the decoder, in the order of kernels._VALUE_PAGE_DAMAGE. */
enum {
    VP_OK,
    VP_WORDS_SHORT,
    VP_RAW_SHORT,
    VP_WORDS_LONG,
    VP_FIELD_LONG,
    VP_BAD_META,    /* a header field contradicts the others: Python names which */
    VP_BAD_STREAMS, /* words + raw bits do not fill the body */
    VP_BAD_LENGTH,  /* the decoded page would not be raw_len bytes */
    VP_NO_MEMORY,
};

/* One segment (a column's run of <= seg_len samples), fields as in residuals.ColumnParams. */
typedef struct {
    int64_t first, gcd, lat, c, a1, a2;
    int64_t out;       /* byte offset of its first value in the decoded page */
    int64_t lane;      /* its lane (live segments only) */
    uint32_t count, n_exc;
    uint8_t kind, exp, xpred, ref1, ref2, sh1, sh2, ma;
} vp_seg_t;

/* A validated meta blob: pointers into it (little-endian, unaligned) and the segment table. */
typedef struct {
    uint32_t n_cols, seg_len, k, n_lanes, n_words, raw_bytes, ts_len, ctx_mask, n_exc;
    const uint8_t *ts, *col_counts, *exc_pos, *exc_bits, *states, *lane_words, *lane_bytes;
    uint16_t freq[N_CTX][N_TOK]; /* 0 rows for unused contexts */
    int64_t max_len;             /* longest lane */
    int64_t reach;               /* farthest lane a lane's predictor reads (0: none) */
    vp_seg_t *seg;               /* k segments, malloc'd (vp_meta_free) */
} vp_meta_t;

static inline uint16_t rd_u16(const uint8_t *p, size_t i) {
    uint16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
}
static inline uint32_t rd_u32(const uint8_t *p, size_t i) {
    uint32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
}
static inline uint64_t rd_u64(const uint8_t *p, size_t i) {
    uint64_t v;
    memcpy(&v, p + 8 * i, 8);
    return v;
}

/* Parses and validates a page's meta (every check of valuepages._parse_meta/_validate) for a
 * decoded page of raw_len bytes; VP_OK, VP_BAD_META, VP_BAD_LENGTH or VP_NO_MEMORY. Needs no
 * GIL. */
int vp_meta_parse(const uint8_t *meta, size_t len, int64_t raw_len, vp_meta_t *m);
void vp_meta_free(vp_meta_t *m);

#endif
