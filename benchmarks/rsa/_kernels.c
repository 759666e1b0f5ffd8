/*
 * CPU kernels of the RSA metrics (compiled on first use by benchmarks/rsa/_native.py): pairwise decoding and
 * the weighted ranks of the image bootstrap.
 *
 * Both kernels take one subject's data as float32 (n_images, n_repetitions, n_times, n_features), a decoding plan
 * (pairs, trial_order, fold_of: see benchmarks/rsa/decoding_plan.py) and write the mean test accuracy over repeats
 * and folds into accuracy (n_pairs, n_times), float64. n_threads OpenMP threads share the pairs.
 *
 * svm_pair_accuracies: libsvm's linear C-SVC dual,
 *     minimise a'Qa/2 - sum(a)  subject to  0 <= a <= C,  y'a = 0,  Q = (y y') .* (X X'),
 * by FISTA (accelerated projected gradient with adaptive restart) for a fixed number of iterations. The projection
 * onto {box, y'a = 0} is exact: a safeguarded Newton search on the multiplier lam of y'a = 0, whose value times the
 * step constant L is the intercept (KKT: w.x_i + lam L = y_i on free support vectors). L = tr(M) tr((M/trM)^4)^(1/4)
 * with M = X'X bounds lambda_max(Q) from above. LANES fits are solved together, the fit index being the innermost
 * (SIMD) axis of every array.
 *
 * lda_pair_accuracies: nearest class mean with equal priors, i.e. shrinkage LDA on data the caller has already
 * whitened with its covariance estimate: decision(x) = (mu_a - mu_b).x - (|mu_a|^2 - |mu_b|^2) / 2.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16

static void *zalloc(size_t count, size_t size) {
    size_t bytes = count * size;
    bytes = (bytes + 63) / 64 * 64;
    void *memory = aligned_alloc(64, bytes ? bytes : 64);
    if (memory) memset(memory, 0, bytes ? bytes : 64);
    return memory;
}

/* pseudo[r][row][t][q]: mean of navg repetitions, centred over the 2 * n_pseudo rows of each (r, t).
 * Each repetition is read once and added to its pseudo-trial of every repeat (slot: scratch of 2 * n_reps ints). */
static void build_pseudo_trials(const float *restrict data, int64_t n_reps, int64_t n_times, int64_t n_features,
                                const int64_t *pair, const int32_t *restrict order, int64_t n_repeats,
                                int64_t n_pseudo, int64_t navg, float *restrict pseudo, int32_t *restrict slot) {
    const int64_t rows = 2 * n_pseudo, per_class = n_pseudo * navg, span = n_times * n_features;
    memset(pseudo, 0, sizeof(float) * n_repeats * rows * span);
    const float scale = 1.0f / (float)navg;
    for (int64_t c = 0; c < 2; c++) {
        const float *image = data + pair[c] * n_reps * span;
        for (int64_t r = 0; r < n_repeats; r++) {
            for (int64_t rep = 0; rep < n_reps; rep++) slot[r * n_reps + rep] = -1;
            for (int64_t e = 0; e < per_class; e++) slot[r * n_reps + order[(r * 2 + c) * per_class + e]] = (int32_t)(e / navg);
        }
        for (int64_t rep = 0; rep < n_reps; rep++) {
            const float *restrict src = image + rep * span;
            for (int64_t r = 0; r < n_repeats; r++) {
                const int32_t k = slot[r * n_reps + rep];
                if (k < 0) continue;
                float *restrict dst = pseudo + (r * rows + c * n_pseudo + k) * span;
                for (int64_t e = 0; e < span; e++) dst[e] += src[e];
            }
        }
    }
    for (int64_t r = 0; r < n_repeats; r++) {
        float *restrict out = pseudo + r * rows * span;
        for (int64_t e = 0; e < span; e++) {
            float mean = 0.0f;
            for (int64_t row = 0; row < rows; row++) {
                out[row * span + e] *= scale;
                mean += out[row * span + e];
            }
            mean /= (float)rows;
            for (int64_t row = 0; row < rows; row++) out[row * span + e] -= mean;
        }
    }
}

/* LANES floats processed as one value (GCC/Clang vector extension; narrower hardware splits it). */
typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vm __attribute__((vector_size(4 * LANES)));

static inline vf splat(float value) { return (vf){0} + value; }
static inline vf select(vm mask, vf yes, vf no) { return (vf)(((vm)yes & mask) | ((vm)no & ~mask)); }
static inline vf vmax(vf a, vf b) { return select(a > b, a, b); }
static inline vf vmin(vf a, vf b) { return select(a < b, a, b); }
static inline int any(vm mask) {
    int32_t result = 0;
    for (int l = 0; l < LANES; l++) result |= mask[l];
    return result != 0;
}

typedef struct {
    int64_t rows, features;
    vf *x, *y, *upper;              /* [rows][features], [rows], [rows] */
    vf *gram, *m;                   /* [rows][rows], [features][features] */
    vf *alpha, *z, *zs, *v, *next;  /* [rows] */
    vf lam, lipschitz, inv_l;
} Lanes;

static int lanes_alloc(Lanes *s, int64_t rows, int64_t features) {
    s->rows = rows;
    s->features = features;
    s->x = zalloc(rows * features, sizeof(vf));
    s->y = zalloc(rows, sizeof(vf));
    s->upper = zalloc(rows, sizeof(vf));
    s->gram = zalloc(rows * rows, sizeof(vf));
    s->m = zalloc(features * features, sizeof(vf));
    s->alpha = zalloc(rows, sizeof(vf));
    s->z = zalloc(rows, sizeof(vf));
    s->zs = zalloc(rows > features ? rows : features, sizeof(vf));
    s->v = zalloc(rows, sizeof(vf));
    s->next = zalloc(rows, sizeof(vf));
    return s->x && s->y && s->upper && s->gram && s->m && s->alpha && s->z && s->zs && s->v && s->next;
}

static void lanes_free(Lanes *s) {
    free(s->x); free(s->y); free(s->upper); free(s->gram); free(s->m);
    free(s->alpha); free(s->z); free(s->zs); free(s->v); free(s->next);
}

/* Per lane: lam with g(lam) = sum_i y_i clip(v_i - lam y_i, 0, upper_i) = 0, g non-increasing and piecewise linear.
 * Safeguarded Newton inside a bracket [lo, hi] with g(lo) >= 0 >= g(hi), warm-started at lam. Writes the clip. */
static void project(const vf *restrict v, const vf *restrict y, const vf *restrict upper, vf *lam_io, int64_t rows,
                    float tol, vf *restrict out) {
    const vf zero = splat(0.0f);
    vf lo = splat(3.0e38f), hi = splat(-3.0e38f);
    for (int64_t i = 0; i < rows; i++) {
        const vm positive = y[i] > zero, used = upper[i] > zero;
        const vf low_i = select(positive, v[i] - upper[i], -v[i]);
        const vf high_i = select(positive, v[i], upper[i] - v[i]);
        lo = select(used, vmin(lo, low_i), lo);
        hi = select(used, vmax(hi, high_i), hi);
    }
    const vm empty = lo > hi; /* no training row in this lane: any lam works */
    lo = select(empty, zero, lo);
    hi = select(empty, zero, hi);
    vf lam = vmin(vmax(*lam_io, lo), hi);
    vm active = ~empty;
    for (int step = 0; step < 100 && any(active); step++) {
        vf g0 = zero, g1 = zero, n0 = zero, n1 = zero;
        int64_t i = 0;
        for (; i + 2 <= rows; i += 2) {
            const vf value0 = vmin(vmax(v[i] - lam * y[i], zero), upper[i]);
            const vf value1 = vmin(vmax(v[i + 1] - lam * y[i + 1], zero), upper[i + 1]);
            g0 += y[i] * value0;
            g1 += y[i + 1] * value1;
            n0 += select((value0 > zero) & (value0 < upper[i]), splat(1.0f), zero);
            n1 += select((value1 > zero) & (value1 < upper[i + 1]), splat(1.0f), zero);
        }
        for (; i < rows; i++) {
            const vf value = vmin(vmax(v[i] - lam * y[i], zero), upper[i]);
            g0 += y[i] * value;
            n0 += select((value > zero) & (value < upper[i]), splat(1.0f), zero);
        }
        const vf g = g0 + g1, n_free = n0 + n1;
        const vf magnitude = select(g < zero, -g, g);
        active &= magnitude > splat(tol);
        lo = select(active & (g > zero), lam, lo);
        hi = select(active & (g <= zero), lam, hi);
        const vf safe_free = select(n_free > zero, n_free, splat(1.0f));
        const vf newton = lam + g / safe_free;
        const vm use_newton = (n_free > zero) & (newton > lo) & (newton < hi);
        const vf next_lam = select(use_newton, newton, splat(0.5f) * (lo + hi));
        lam = select(active, next_lam, lam);
    }
    for (int64_t i = 0; i < rows; i++) out[i] = vmin(vmax(v[i] - lam * y[i], zero), upper[i]);
    *lam_io = lam;
}

/* Solve the LANES problems in s: alpha = s->next, intercept = s->lam * s->lipschitz. */
static void solve(Lanes *s, float c_value, int64_t n_iter) {
    const int64_t n = s->rows, d = s->features;
    const vf *restrict x = s->x, *restrict y = s->y;
    vf *restrict gram = s->gram, *restrict m = s->m;
    /* four independent accumulators per loop hide the FMA latency */
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        for (; j + 4 <= n; j += 4) {
            vf a0 = splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t q = 0; q < d; q++) {
                const vf xi = x[i * d + q];
                a0 += xi * x[j * d + q];
                a1 += xi * x[(j + 1) * d + q];
                a2 += xi * x[(j + 2) * d + q];
                a3 += xi * x[(j + 3) * d + q];
            }
            const vf acc[4] = {a0, a1, a2, a3};
            for (int k = 0; k < 4; k++) {
                const vf value = acc[k] * y[i] * y[j + k];
                gram[i * n + j + k] = value;
                gram[(j + k) * n + i] = value;
            }
        }
        for (; j < n; j++) {
            vf acc = splat(0.0f);
            for (int64_t q = 0; q < d; q++) acc += x[i * d + q] * x[j * d + q];
            acc *= y[i] * y[j];
            gram[i * n + j] = acc;
            gram[j * n + i] = acc;
        }
    }
    /* L = tr(M) * (sum of squares of (M/trM)^2)^(1/4) >= lambda_max(X X') with M = X'X */
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = 0; b < d; b++) m[a * d + b] = splat(0.0f);
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < d; a++) {
            const vf xa = x[i * d + a];
            for (int64_t b = a; b < d; b++) m[a * d + b] += xa * x[i * d + b];
        }
    for (int64_t a = 0; a < d; a++)
        for (int64_t b = a + 1; b < d; b++) m[b * d + a] = m[a * d + b];
    vf trace = splat(0.0f), fourth = splat(0.0f);
    for (int64_t a = 0; a < d; a++) trace += m[a * d + a];
    trace = vmax(trace, splat(1e-30f));
    const vf inv_trace_sq = splat(1.0f) / (trace * trace);
    vf *restrict square = s->zs; /* scratch row of length d (zs has rows >= 1 entries; see lanes_alloc) */
    for (int64_t a = 0; a < d; a++) {
        for (int64_t b = 0; b < d; b++) square[b] = splat(0.0f);
        for (int64_t k = 0; k < d; k++) {
            const vf mak = m[a * d + k];
            for (int64_t b = 0; b < d; b++) square[b] += mak * m[k * d + b];
        }
        for (int64_t b = 0; b < d; b++) {
            const vf scaled = square[b] * inv_trace_sq;
            fourth += scaled * scaled;
        }
    }
    vf bound;
    for (int l = 0; l < LANES; l++) bound[l] = trace[l] * sqrtf(sqrtf(fourth[l])) * 1.001f;
    s->lipschitz = vmax(bound, splat(1e-30f));
    s->inv_l = splat(1.0f) / s->lipschitz;
    s->lam = splat(0.0f);
    const vf inv_l = s->inv_l;
    vf momentum = splat(1.0f);
    vf *restrict alpha = s->alpha, *restrict z = s->z, *restrict zs = s->zs, *restrict v = s->v;
    vf *restrict next = s->next;
    for (int64_t i = 0; i < n; i++) { alpha[i] = splat(0.0f); z[i] = splat(0.0f); }
    const float tol = 1e-5f * c_value;
    for (int64_t iteration = 0; iteration <= n_iter; iteration++) {
        /* v = z - (Q z - 1) / L */
        for (int64_t i = 0; i < n; i++) zs[i] = z[i] * inv_l;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
            vf a0 = z[i] + inv_l, a1 = z[i + 1] + inv_l, a2 = z[i + 2] + inv_l, a3 = z[i + 3] + inv_l;
            const vf *restrict r0 = gram + i * n, *restrict r1 = r0 + n, *restrict r2 = r1 + n, *restrict r3 = r2 + n;
            for (int64_t j = 0; j < n; j++) {
                const vf zj = zs[j];
                a0 -= r0[j] * zj;
                a1 -= r1[j] * zj;
                a2 -= r2[j] * zj;
                a3 -= r3[j] * zj;
            }
            v[i] = a0; v[i + 1] = a1; v[i + 2] = a2; v[i + 3] = a3;
        }
        for (; i < n; i++) {
            vf acc = z[i] + inv_l;
            const vf *restrict row = gram + i * n;
            for (int64_t j = 0; j < n; j++) acc -= row[j] * zs[j];
            v[i] = acc;
        }
        project(v, y, s->upper, &s->lam, n, tol, next);
        if (iteration == n_iter) break;
        vf restart = splat(0.0f);
        for (int64_t i = 0; i < n; i++) restart += (z[i] - next[i]) * (next[i] - alpha[i]);
        vf following, beta;
        for (int l = 0; l < LANES; l++) following[l] = 0.5f * (1.0f + sqrtf(1.0f + 4.0f * momentum[l] * momentum[l]));
        beta = (momentum - splat(1.0f)) / following;
        const vm reset = (restart > splat(0.0f)) | ((vm){0} - (iteration == n_iter - 1));
        beta = select(reset, splat(0.0f), beta);
        momentum = select(reset, splat(1.0f), following);
        for (int64_t i = 0; i < n; i++) {
            z[i] = next[i] + beta * (next[i] - alpha[i]);
            alpha[i] = next[i];
        }
    }
    /* the last pass was a plain projected-gradient step from alpha, so next and lam are consistent */
}

static int64_t plan_sizes(int64_t n_pseudo, int64_t n_folds, int64_t *train_max, int64_t *test_max) {
    const int64_t min_test = n_pseudo / n_folds;
    *train_max = 2 * n_pseudo - 2 * min_test;
    *test_max = 2 * (n_pseudo - (n_folds - 1) * min_test);
    return 0;
}

int svm_pair_accuracies(const float *data, int64_t n_reps, int64_t n_times, int64_t n_features,
                        const int64_t *pairs, int64_t n_pairs, const int32_t *trial_order, int64_t n_repeats,
                        const int8_t *fold_of, int64_t n_fold_times, int64_t n_pseudo, int64_t navg,
                        int64_t n_folds, double c_value, int64_t n_iter, int64_t n_threads, double *accuracy) {
    int64_t train_max, test_max;
    plan_sizes(n_pseudo, n_folds, &train_max, &test_max);
    const int64_t rows_all = 2 * n_pseudo, n_fits = n_repeats * n_times * n_folds;
    const float c32 = (float)c_value;
    int failed = 0;
#pragma omp parallel num_threads(n_threads)
    {
        float *pseudo = zalloc(n_repeats * n_times * rows_all * n_features, sizeof(float));
        int32_t *slot = zalloc(n_repeats * n_reps, sizeof(int32_t));
        vf *x_test = zalloc(test_max * n_features, sizeof(vf));
        vf *y_test = zalloc(test_max, sizeof(vf));
        vf *w = zalloc(n_features, sizeof(vf));
        Lanes s;
        int ok = pseudo && slot && x_test && y_test && w && lanes_alloc(&s, train_max, n_features);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t p = 0; p < n_pairs; p++) {
            if (!ok) continue;
            const int32_t *order = trial_order + p * n_repeats * 2 * n_pseudo * navg;
            const int8_t *folds = fold_of + p * n_repeats * n_fold_times * 2 * n_pseudo;
            double *out = accuracy + p * n_times;
            build_pseudo_trials(data, n_reps, n_times, n_features, pairs + 2 * p, order, n_repeats, n_pseudo, navg,
                                pseudo, slot);
            for (int64_t t = 0; t < n_times; t++) out[t] = 0.0;
            for (int64_t start = 0; start < n_fits; start += LANES) {
                int64_t n_test[LANES], lane_time[LANES];
                memset(s.x, 0, sizeof(vf) * train_max * n_features);
                memset(s.upper, 0, sizeof(vf) * train_max);
                for (int64_t i = 0; i < train_max; i++) s.y[i] = splat(1.0f);
                for (int l = 0; l < LANES; l++) {
                    const int64_t fit = start + l;
                    n_test[l] = 0;
                    lane_time[l] = 0;
                    if (fit >= n_fits) continue;
                    const int64_t fold = fit % n_folds, t = (fit / n_folds) % n_times, r = fit / (n_folds * n_times);
                    const int64_t t_fold = n_fold_times > 1 ? t : 0;
                    const int8_t *fold_row = folds + (r * n_fold_times + t_fold) * 2 * n_pseudo;
                    const float *set = pseudo + r * rows_all * n_times * n_features + t * n_features;
                    int64_t n_tr = 0, n_te = 0;
                    for (int64_t row = 0; row < rows_all; row++) {
                        const float label = row < n_pseudo ? 1.0f : -1.0f;
                        const float *xr = set + row * n_times * n_features;
                        if (fold_row[row] == fold) {
                            for (int64_t q = 0; q < n_features; q++) x_test[n_te * n_features + q][l] = xr[q];
                            y_test[n_te][l] = label;
                            n_te++;
                        } else {
                            for (int64_t q = 0; q < n_features; q++) s.x[n_tr * n_features + q][l] = xr[q];
                            s.y[n_tr][l] = label;
                            s.upper[n_tr][l] = c32;
                            n_tr++;
                        }
                    }
                    n_test[l] = n_te;
                    lane_time[l] = t;
                }
                solve(&s, c32, n_iter);
                for (int64_t q = 0; q < n_features; q++) w[q] = splat(0.0f);
                for (int64_t i = 0; i < train_max; i++) {
                    const vf weight = s.next[i] * s.y[i];
                    for (int64_t q = 0; q < n_features; q++) w[q] += weight * s.x[i * n_features + q];
                }
                const vf intercept = s.lam * s.lipschitz;
                for (int l = 0; l < LANES; l++) {
                    if (n_test[l] == 0) continue;
                    int64_t correct = 0;
                    for (int64_t j = 0; j < n_test[l]; j++) {
                        float decision = intercept[l];
                        for (int64_t q = 0; q < n_features; q++) decision += w[q][l] * x_test[j * n_features + q][l];
                        correct += decision * y_test[j][l] > 0.0f;
                    }
                    out[lane_time[l]] += (double)correct / (double)n_test[l];
                }
            }
            for (int64_t t = 0; t < n_times; t++) out[t] /= (double)(n_repeats * n_folds);
        }
        free(pseudo); free(slot); free(x_test); free(y_test); free(w);
        if (ok) lanes_free(&s);
    }
    return failed ? -1 : 0;
}

int lda_pair_accuracies(const float *data, int64_t n_reps, int64_t n_times, int64_t n_features,
                        const int64_t *pairs, int64_t n_pairs, const int32_t *trial_order, int64_t n_repeats,
                        const int8_t *fold_of, int64_t n_fold_times, int64_t n_pseudo, int64_t navg,
                        int64_t n_folds, int64_t n_threads, double *accuracy) {
    const int64_t rows_all = 2 * n_pseudo;
    int failed = 0;
#pragma omp parallel num_threads(n_threads)
    {
        float *pseudo = zalloc(n_repeats * n_times * rows_all * n_features, sizeof(float));
        int32_t *slot = zalloc(n_repeats * n_reps, sizeof(int32_t));
        double *sums = zalloc(2 * n_folds * n_features, sizeof(double));
        double *total = zalloc(2 * n_features, sizeof(double));
        double *mean = zalloc(2 * n_features, sizeof(double));
        int64_t *count = zalloc(2 * n_folds, sizeof(int64_t));
        int ok = pseudo && slot && sums && total && mean && count;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t p = 0; p < n_pairs; p++) {
            if (!ok) continue;
            const int32_t *order = trial_order + p * n_repeats * 2 * n_pseudo * navg;
            const int8_t *folds = fold_of + p * n_repeats * n_fold_times * 2 * n_pseudo;
            double *out = accuracy + p * n_times;
            build_pseudo_trials(data, n_reps, n_times, n_features, pairs + 2 * p, order, n_repeats, n_pseudo, navg,
                                pseudo, slot);
            for (int64_t t = 0; t < n_times; t++) out[t] = 0.0;
            for (int64_t r = 0; r < n_repeats; r++)
                for (int64_t t = 0; t < n_times; t++) {
                    const int64_t t_fold = n_fold_times > 1 ? t : 0;
                    const int8_t *fold_row = folds + (r * n_fold_times + t_fold) * 2 * n_pseudo;
                    const float *set = pseudo + r * rows_all * n_times * n_features + t * n_features;
                    const int64_t stride = n_times * n_features;
                    memset(sums, 0, sizeof(double) * 2 * n_folds * n_features);
                    memset(total, 0, sizeof(double) * 2 * n_features);
                    memset(count, 0, sizeof(int64_t) * 2 * n_folds);
                    for (int64_t row = 0; row < rows_all; row++) {
                        const int64_t c = row < n_pseudo ? 0 : 1, f = fold_row[row];
                        count[c * n_folds + f]++;
                        for (int64_t q = 0; q < n_features; q++) {
                            sums[(c * n_folds + f) * n_features + q] += set[row * stride + q];
                            total[c * n_features + q] += set[row * stride + q];
                        }
                    }
                    for (int64_t f = 0; f < n_folds; f++) {
                        double offset = 0.0;
                        for (int64_t c = 0; c < 2; c++) {
                            const double n_train = (double)(n_pseudo - count[c * n_folds + f]);
                            for (int64_t q = 0; q < n_features; q++)
                                mean[c * n_features + q] = (total[c * n_features + q] - sums[(c * n_folds + f) * n_features + q]) / n_train;
                        }
                        for (int64_t q = 0; q < n_features; q++)
                            offset += 0.5 * (mean[q] * mean[q] - mean[n_features + q] * mean[n_features + q]);
                        int64_t correct = 0, n_test = 0;
                        for (int64_t row = 0; row < rows_all; row++) {
                            if (fold_row[row] != f) continue;
                            double decision = -offset;
                            for (int64_t q = 0; q < n_features; q++)
                                decision += (mean[q] - mean[n_features + q]) * set[row * stride + q];
                            correct += (row < n_pseudo) ? decision > 0.0 : decision < 0.0;
                            n_test++;
                        }
                        out[t] += (double)correct / (double)n_test;
                    }
                }
            for (int64_t t = 0; t < n_times; t++) out[t] /= (double)(n_repeats * n_folds);
        }
        free(pseudo); free(slot); free(sums); free(total); free(mean); free(count);
    }
    return failed ? -1 : 0;
}

/*
 * Weighted rank correlation for the image bootstrap. A bootstrap sample of images repeats pair p of the original
 * RDM w_p = c_i c_j times (c = how often each image was drawn); its average ranks are then
 *     R_g = (weight of all values below group g) + (W_g + 1) / 2
 * for each group g of equal values with total weight W_g. orders holds, per RDM, the argsort of its values with
 * bit 31 set on the last index of every group of equal values.
 *
 * weighted_ranks: ranks (n_rdms, n_pairs) and tie sums (n_rdms,) = sum_g (W_g^3 - W_g).
 * weighted_rank_products: per RDM, sum_p R_p * table[set[rdm]][p][:] for an 8-wide table row [w_p, w_p * ranks of up
 *     to 7 partner RDMs] (one cache line per random access), and the tie sums as above.
 */
#define GROUP_END 0x80000000u

int weighted_ranks(const uint32_t *orders, int64_t n_rdms, int64_t n_pairs, const double *weights, double *ranks,
                   double *tie_sums, int64_t n_threads) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int64_t r = 0; r < n_rdms; r++) {
        const uint32_t *order = orders + r * n_pairs;
        double *out = ranks + r * n_pairs;
        double below = 0.0, ties = 0.0;
        int64_t start = 0;
        while (start < n_pairs) {
            int64_t end = start;
            double group = 0.0;
            for (;; end++) {
                group += weights[order[end] & ~GROUP_END];
                if (order[end] & GROUP_END) break;
            }
            const double rank = below + 0.5 * (group + 1.0);
            for (int64_t k = start; k <= end; k++) out[order[k] & ~GROUP_END] = rank;
            ties += group * group * group - group;
            below += group;
            start = end + 1;
        }
        tie_sums[r] = ties;
    }
    return 0;
}

typedef double vd __attribute__((vector_size(64), aligned(8))); /* numpy buffers: 8-byte aligned only */

int weighted_rank_products(const uint32_t *orders, int64_t n_rdms, int64_t n_pairs, const int64_t *set_of_rdm,
                           const double *table, double *cross, double *tie_sums, int64_t n_threads) {
    /* table (n_sets, n_pairs, 8): [w_p, w_p R^1_p, ..., w_p R^7_p]; cross (n_rdms, 8): sum_g R_g (group sums of
     * the table rows), so cross[r][0] = sum_p w_p R_p and cross[r][1 + m] the products with model m. */
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_threads)
    for (int64_t r = 0; r < n_rdms; r++) {
        const uint32_t *order = orders + r * n_pairs;
        const vd *rows = (const vd *)(table + set_of_rdm[r] * n_pairs * 8);
        vd acc = {0};
        double below = 0.0, ties = 0.0;
        int64_t k = 0;
        while (k < n_pairs) {
            vd group = {0};
            for (;; k++) {
                const uint32_t entry = order[k];
                group += rows[entry & ~GROUP_END];
                if (entry & GROUP_END) break;
            }
            k++;
            const double weight = group[0];
            const double rank = below + 0.5 * (weight + 1.0);
            acc += rank * group;
            ties += weight * weight * weight - weight;
            below += weight;
        }
        vd *out = (vd *)(cross + r * 8);
        *out = acc;
        tie_sums[r] = ties;
    }
    return 0;
}

/*
 * Stratified fold assignments of a decoding plan, drawn from a counter-based generator so that any pair's draws can
 * be produced alone, in parallel, and identically by the numpy fallback (decoding_plan._draw_folds_numpy):
 *   key   = ((pair * n_repeats + r) * n_fold_times + t) * 2 + c
 *   state = seed ^ (key * 0xD1B54A32D192ED03), then splitmix64 steps;
 *   row k starts as k % n_folds and is shuffled by Fisher-Yates, i from n_pseudo - 1 down to 1, with
 *   j = (u * (i + 1)) >> 32, u taking in turn the high and the low 32 bits of each splitmix64 output.
 * out: (n_pairs, n_repeats, n_fold_times, 2, n_pseudo) int8 for pairs first_pair ... first_pair + n_pairs - 1.
 */
static inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int draw_folds(uint64_t seed, int64_t first_pair, int64_t n_pairs, int64_t n_repeats, int64_t n_fold_times,
               int64_t n_pseudo, int64_t n_folds, int8_t *out, int64_t n_threads) {
    const int64_t rows_per_pair = n_repeats * n_fold_times * 2;
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t p = 0; p < n_pairs; p++) {
        for (int64_t row = 0; row < rows_per_pair; row++) {
            const uint64_t key = (uint64_t)(first_pair + p) * (uint64_t)rows_per_pair + (uint64_t)row;
            uint64_t state = seed ^ (key * 0xD1B54A32D192ED03ull);
            int8_t *values = out + (p * rows_per_pair + row) * n_pseudo;
            for (int64_t k = 0; k < n_pseudo; k++) values[k] = (int8_t)(k % n_folds);
            uint64_t x = 0;
            for (int64_t i = n_pseudo - 1; i > 0; i--) {
                const int high = ((n_pseudo - 1 - i) % 2) == 0;
                if (high) x = splitmix64(&state);
                const uint64_t u = high ? (x >> 32) : (x & 0xFFFFFFFFull);
                const int64_t j = (int64_t)((u * (uint64_t)(i + 1)) >> 32);
                const int8_t swap = values[i];
                values[i] = values[j];
                values[j] = swap;
            }
        }
    }
    return 0;
}
