#include <stdint.h>
#include <string.h>
/* inverse of the temporal predictor: e[t] = r[t] + P_t, P_t = floor(mean of last k e), history = c */
void ma_decode(const int64_t *r, int64_t *e, int64_t n, int k, int64_t c) {
    if (k == 0) { for (int64_t t = 0; t < n; t++) e[t] = (int64_t)((uint64_t)r[t] + (uint64_t)c); return; }
    int sh = __builtin_ctz(k); int64_t s = c * k;
    for (int64_t t = 0; t < n; t++) {
        int64_t p = s >> sh;
        e[t] = r[t] + p;
        int64_t old = t - k >= 0 ? e[t - k] : c;
        s += e[t] - old;
    }
}
/* float cross predictor: bits(v[t]) = bits(v[t-1] + a*(x[t]-x[t-1])) + e[t-1] */
void fscaled_decode(const int64_t *e, const double *x, double *v, int64_t n, double a, int64_t first) {
    memcpy(&v[0], &first, 8);
    for (int64_t t = 1; t < n; t++) {
        double p = v[t - 1] + a * (x[t] - x[t - 1]);
        int64_t pb; memcpy(&pb, &p, 8);
        int64_t b = (int64_t)((uint64_t)pb + (uint64_t)e[t - 1]);
        memcpy(&v[t], &b, 8);
    }
}
