"""CPU kernels of the RSA metrics, compiled by numba: pairwise decoding and the weighted ranks of the image bootstrap.

Imported lazily by :mod:`benchmarks.rsa._native` (which holds the typed wrappers): importing numba costs ~0.5 s and
each kernel is compiled on its first call (seconds), then cached on disk (``cache=True``: numba's ``__pycache__``
beside this file, or its user-wide cache directory when that is read-only, or ``$NUMBA_CACHE_DIR``). No fast-math:
IEEE arithmetic in the order written here, so results do not depend on the machine's instruction set.

The two decoding kernels take one subject's data as float32 ``(n_images, n_repetitions, n_times, n_features)``, a
decoding plan (pairs, trial_order, fold_of: see :mod:`benchmarks.rsa.decoding_plan`) and write the mean test
accuracy over repeats and folds into ``accuracy (n_pairs, n_times)`` float64; pairs run in parallel (``prange``).

``svm_pair_accuracies``: libsvm's linear C-SVC dual,
    minimise a'Qa/2 - sum(a)  subject to  0 <= a <= C,  y'a = 0,  Q = (y y') .* (X X'),
by FISTA (accelerated projected gradient with adaptive restart) for a fixed number of iterations. The projection onto
{box, y'a = 0} is exact: a safeguarded Newton search on the multiplier lam of y'a = 0, whose value times the step
constant L is the intercept (KKT: w.x_i + lam L = y_i on free support vectors). L = tr(M) tr((M/trM)^4)^(1/4) with
M = X'X bounds lambda_max(Q) from above. LANES fits are solved together, the fit index being the innermost axis of
every work array (so the lane loops vectorise without reordering any sum).

Where the SVM kernel's time goes (one THINGS-EEG2 subject, 40 million fits of 24 training rows x 17 features, 2 cores;
measured 2026-11-30 by switching stages off): the FISTA products Q z ~39 s with the generic loop (~0.26 cycles per
product, the same with a 32 KB Gram: bound by loads and the accumulator's trips through memory, not by the cache
level), ~30 s with the 24-row fast path (``_v_row_24``); the projection ~20 s (2.6 Newton passes per step for a
block of LANES fits); the Gram matrix and the bound ~17 s; pseudo-trials, lane copies and test decisions ~11 s.
Tried and measured no faster: fast-math, FMA contraction, a symmetric product, 8-term groups, two rows per pass,
fewer or more LANES (64: 1.2x slower; 8-32: 1.5-4x slower, short lane loops do not vectorise), splitting the
projection into 64- or 32-lane blocks, constant-count fast paths for the Gram matrix, M and M^2. First-order
alternatives need as many steps for the same agreement with libsvm (projected Barzilai-Borwein with exact line
search; starting from alpha = C), and an active-set polish after k steps found the right active set for only 90% of
fits at k = 40.

``lda_pair_accuracies``: nearest class mean with equal priors, i.e. shrinkage LDA on data the caller has already
whitened with its covariance estimate: decision(x) = (mu_a - mu_b).x - (|mu_a|^2 - |mu_b|^2) / 2.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

LANES = 128
# THINGS-EEG2's default protocol (2 x 16 pseudo-trials, 4 folds) trains on 24 rows. The FISTA product has a fast
# path with this count a compile-time constant: LLVM unrolls the sum and keeps it in a register while the lane loop
# still vectorises (the same operations in the same order as the generic loop). Tried for the Gram matrix, M and M^2
# over 17 channels too: no faster; for the projection's Newton pass: 1.6x slower (the lane loop stopped vectorising)
ROWS_24 = 24
TIME_BLOCK = 16  # time points per pseudo-trial block of the LDA kernel (5 x 32 x 16 x 17 float32: 174 KB)
GROUP_END = np.uint32(0x80000000)
_LOW_BITS = np.uint32(0x7FFFFFFF)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_HALF = np.float32(0.5)
_KERNEL = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_KERNEL)
def _build_pseudo_trials(data, first, second, order, n_pseudo, navg, begin, end, pseudo, members, mean):
    """pseudo ``(n_repeats, 2 * n_pseudo, >= end - begin)``: over the columns ``begin:end`` of data
    ``(n_images, n_reps, span)``, means of ``navg`` repetitions, centred over the rows of each repeat.
    order ``(n_repeats, 2, n_pseudo * navg)``; scratch: members int64 ``(navg,)``, mean float32 ``(>= end - begin,)``.

    Each pseudo-trial is written once: its repetitions summed in ascending repetition order from 0 (the order of
    the scatter-add this replaced, so every value is bit-identical to it), then scaled; the row mean is summed in
    row order. Called on a block of time points (``begin:end``), the block's pseudo-trials stay in cache.
    """
    n_repeats, rows = pseudo.shape[0], pseudo.shape[1]
    width = end - begin
    scale = _F1 / np.float32(navg)
    for r in range(n_repeats):
        for c in range(2):
            image = first if c == 0 else second
            for k in range(n_pseudo):
                for e in range(navg):  # insertion sort of the group's repetitions
                    value = order[r, c, k * navg + e]
                    j = e
                    while j > 0 and members[j - 1] > value:
                        members[j] = members[j - 1]
                        j -= 1
                    members[j] = value
                out = pseudo[r, c * n_pseudo + k, :width]  # views: indices from range() need no wraparound
                source = data[image, members[0], begin:end]
                for e in range(width):
                    out[e] = _F0 + source[e]
                for i in range(1, navg):
                    source = data[image, members[i], begin:end]
                    for e in range(width):
                        out[e] += source[e]
                for e in range(width):
                    out[e] *= scale
        for e in range(width):
            mean[e] = _F0
        for row in range(rows):
            for e in range(width):
                mean[e] += pseudo[r, row, e]
        for e in range(width):
            mean[e] /= np.float32(rows)
        for row in range(rows):
            for e in range(width):
                pseudo[r, row, e] -= mean[e]


@njit(**_KERNEL)
def _bracket_row(v, y, upper, i, lo, hi):
    """Widen each lane's bracket [lo, hi] of the multiplier by row i's breakpoints (rows with upper 0 are
    padding and do not count). Branch-free over the lanes."""
    for l in range(v.shape[1]):
        positive = y[i, l] > _F0
        used = upper[i, l] > _F0
        low_i = v[i, l] - upper[i, l] if positive else -v[i, l]
        high_i = v[i, l] if positive else upper[i, l] - v[i, l]
        lower = lo[l] if lo[l] < low_i else low_i
        higher = hi[l] if hi[l] > high_i else high_i
        lo[l] = lower if used else lo[l]
        hi[l] = higher if used else hi[l]


@njit(**_KERNEL)
def _project(v, y, upper, lam, tol, out, lo, hi, active, g0, g1, n0, n1):
    """Per lane: lam with g(lam) = sum_i y_i clip(v_i - lam y_i, 0, upper_i) = 0 (g non-increasing, piecewise
    linear). Safeguarded Newton inside a bracket [lo, hi] with g(lo) >= 0 >= g(hi), warm-started at ``lam`` (updated
    in place). Writes the clip into ``out``. v, y, upper, out ``(rows, lanes)``; the rest ``(lanes,)`` scratch.
    On entry lo / hi hold the bracket of all rows (``_bracket_row`` over every row, from +3e38 / -3e38), which the
    caller accumulates while it writes v. The lane loops are branch-free (selects), so they vectorise."""
    rows, lanes = v.shape
    n_active = 0
    for l in range(lanes):
        empty = lo[l] > hi[l]  # no training row in this lane: any lam works
        low = _F0 if empty else lo[l]
        high = _F0 if empty else hi[l]
        clipped = lam[l] if lam[l] > low else low
        lam[l] = clipped if clipped < high else high
        lo[l] = low
        hi[l] = high
        active[l] = not empty
        n_active += not empty
    step = 0
    while step < 100 and n_active > 0:
        for l in range(lanes):
            g0[l] = _F0
            g1[l] = _F0
            n0[l] = _F0
            n1[l] = _F0
        i = 0
        while i + 2 <= rows:  # two accumulators, even and odd rows
            for l in range(lanes):
                shifted = v[i, l] - lam[l] * y[i, l]
                shifted = shifted if shifted > _F0 else _F0
                value0 = shifted if shifted < upper[i, l] else upper[i, l]
                shifted = v[i + 1, l] - lam[l] * y[i + 1, l]
                shifted = shifted if shifted > _F0 else _F0
                value1 = shifted if shifted < upper[i + 1, l] else upper[i + 1, l]
                out[i, l] = value0
                out[i + 1, l] = value1
                g0[l] += y[i, l] * value0
                g1[l] += y[i + 1, l] * value1
                n0[l] += _F1 if (value0 > _F0) & (value0 < upper[i, l]) else _F0
                n1[l] += _F1 if (value1 > _F0) & (value1 < upper[i + 1, l]) else _F0
            i += 2
        if i < rows:
            for l in range(lanes):
                shifted = v[i, l] - lam[l] * y[i, l]
                shifted = shifted if shifted > _F0 else _F0
                value = shifted if shifted < upper[i, l] else upper[i, l]
                out[i, l] = value
                g0[l] += y[i, l] * value
                n0[l] += _F1 if (value > _F0) & (value < upper[i, l]) else _F0
        n_active = 0
        for l in range(lanes):
            g = g0[l] + g1[l]
            n_free = n0[l] + n1[l]
            magnitude = -g if g < _F0 else g
            still = active[l] & (magnitude > tol)
            low = lam[l] if still & (g > _F0) else lo[l]
            high = lam[l] if still & (g <= _F0) else hi[l]
            newton = lam[l] + g / (n_free if n_free > _F0 else _F1)
            use_newton = (n_free > _F0) & (newton > low) & (newton < high)
            following = newton if use_newton else _HALF * (low + high)
            lam[l] = following if still else lam[l]
            lo[l] = low
            hi[l] = high
            active[l] = still
            n_active += still
        step += 1
    if step > 0 and n_active == 0:
        return  # the last pass changed no lam, so it wrote the final clip
    for i in range(rows):
        for l in range(lanes):
            shifted = v[i, l] - lam[l] * y[i, l]
            shifted = shifted if shifted > _F0 else _F0
            out[i, l] = shifted if shifted < upper[i, l] else upper[i, l]


@njit(**_KERNEL)
def _v_row_24(gram, zs, z, inv_l, v, i):
    """Row i of v = z + 1/L - Q zs for ROWS_24 training rows: the subtractions of the generic loop of
    :func:`_solve`, in the same order (so bit-identical), over a compile-time row count, which LLVM unrolls: the
    running sum stays in a register instead of passing through v once per 4 terms."""
    g = gram[i]
    for l in range(v.shape[1]):
        total = z[i, l] + inv_l[l]
        for j in range(ROWS_24):
            total -= g[j, l] * zs[j, l]
        v[i, l] = total


@njit(**_KERNEL)
def _solve(x, y, upper, c_value, n_iter, gram, m, square, alpha, z, zs, v, nxt, lam, lipschitz, lane, active):
    """Solve the LANES dual problems: alpha in ``nxt``, intercept ``lam * lipschitz`` (both written in place).

    x ``(rows, features, LANES)``; y, upper, alpha, z, zs, v, nxt ``(rows, LANES)``; gram ``(rows, rows, LANES)``;
    m, square ``(features, features, LANES)``; lam, lipschitz ``(LANES,)``; scratch: lane
    ``(13, LANES)`` float32, active ``(LANES,)`` bool.
    """
    n, d, lanes = x.shape
    # every sum below runs in index order; blocks of 4 terms only save loads and stores of the accumulator
    for i in range(n):
        for j in range(i, n):
            for l in range(lanes):
                gram[i, j, l] = _F0
            q = 0
            while q + 4 <= d:
                for l in range(lanes):
                    gram[i, j, l] = (gram[i, j, l] + x[i, q, l] * x[j, q, l] + x[i, q + 1, l] * x[j, q + 1, l]
                                     + x[i, q + 2, l] * x[j, q + 2, l] + x[i, q + 3, l] * x[j, q + 3, l])
                q += 4
            while q < d:
                for l in range(lanes):
                    gram[i, j, l] += x[i, q, l] * x[j, q, l]
                q += 1
            for l in range(lanes):
                value = gram[i, j, l] * y[i, l] * y[j, l]
                gram[i, j, l] = value
                gram[j, i, l] = value
    # L = tr(M) * (sum of squares of (M/trM)^2)^(1/4) >= lambda_max(X X') with M = X'X
    m[:] = _F0
    i = 0
    while i + 4 <= n:
        for a in range(d):
            for b in range(a, d):
                for l in range(lanes):
                    m[a, b, l] = (m[a, b, l] + x[i, a, l] * x[i, b, l] + x[i + 1, a, l] * x[i + 1, b, l]
                                  + x[i + 2, a, l] * x[i + 2, b, l] + x[i + 3, a, l] * x[i + 3, b, l])
        i += 4
    while i < n:
        for a in range(d):
            for b in range(a, d):
                for l in range(lanes):
                    m[a, b, l] += x[i, a, l] * x[i, b, l]
        i += 1
    for a in range(d):
        for b in range(a + 1, d):
            for l in range(lanes):
                m[b, a, l] = m[a, b, l]
    trace, fourth, inv_trace_sq, inv_l, momentum = lane[0], lane[1], lane[2], lane[3], lane[4]
    restart = lane[5]
    for l in range(lanes):
        trace[l] = _F0
        fourth[l] = _F0
    for a in range(d):
        for l in range(lanes):
            trace[l] += m[a, a, l]
    for l in range(lanes):
        trace[l] = trace[l] if trace[l] > np.float32(1e-30) else np.float32(1e-30)
        inv_trace_sq[l] = _F1 / (trace[l] * trace[l])
    # (M^2)_ab for b >= a only: M is exactly symmetric, so (M^2)_ba = sum_k m[b,k] m[k,a] is the same products in
    # the same order, bit for bit; the sum of squares then runs over every (a, b) in row order as before
    for a in range(d):
        for b in range(a, d):
            for l in range(lanes):
                square[a, b, l] = _F0
        k = 0
        while k + 4 <= d:
            for b in range(a, d):
                for l in range(lanes):
                    square[a, b, l] = (square[a, b, l] + m[a, k, l] * m[k, b, l] + m[a, k + 1, l] * m[k + 1, b, l]
                                       + m[a, k + 2, l] * m[k + 2, b, l] + m[a, k + 3, l] * m[k + 3, b, l])
            k += 4
        while k < d:
            for b in range(a, d):
                for l in range(lanes):
                    square[a, b, l] += m[a, k, l] * m[k, b, l]
            k += 1
    for a in range(d):
        for b in range(d):
            upper_a = a if a <= b else b
            upper_b = b if a <= b else a
            for l in range(lanes):
                scaled = square[upper_a, upper_b, l] * inv_trace_sq[l]
                fourth[l] += scaled * scaled
    for l in range(lanes):
        bound = trace[l] * np.float32(np.sqrt(np.float32(np.sqrt(fourth[l])))) * np.float32(1.001)
        lipschitz[l] = bound if bound > np.float32(1e-30) else np.float32(1e-30)
        inv_l[l] = _F1 / lipschitz[l]
        lam[l] = _F0
        momentum[l] = _F1
    alpha[:] = _F0
    z[:] = _F0
    zs[:] = _F0  # z / L
    lo, hi = lane[7], lane[8]
    tol = np.float32(1e-5) * c_value
    for iteration in range(n_iter + 1):
        # v = z - (Q z - 1) / L, each row's breakpoints added to the projection's bracket as it is written
        for l in range(lanes):
            lo[l] = np.float32(3.0e38)
            hi[l] = np.float32(-3.0e38)
        for i in range(n):
            if n == ROWS_24:
                _v_row_24(gram, zs, z, inv_l, v, i)
            else:
                for l in range(lanes):
                    v[i, l] = z[i, l] + inv_l[l]
                j = 0
                while j + 4 <= n:
                    for l in range(lanes):
                        v[i, l] = (v[i, l] - gram[i, j, l] * zs[j, l] - gram[i, j + 1, l] * zs[j + 1, l]
                                   - gram[i, j + 2, l] * zs[j + 2, l] - gram[i, j + 3, l] * zs[j + 3, l])
                    j += 4
                while j < n:
                    for l in range(lanes):
                        v[i, l] -= gram[i, j, l] * zs[j, l]
                    j += 1
            _bracket_row(v, y, upper, i, lo, hi)
        _project(v, y, upper, lam, tol, nxt, lo, hi, active, lane[9], lane[10], lane[11], lane[12])
        if iteration == n_iter:
            break
        break_restart = iteration == n_iter - 1
        for l in range(lanes):
            restart[l] = _F0
        for i in range(n):
            for l in range(lanes):
                restart[l] += (z[i, l] - nxt[i, l]) * (nxt[i, l] - alpha[i, l])
        for l in range(lanes):
            following = _HALF * (_F1 + np.float32(np.sqrt(_F1 + np.float32(4.0) * momentum[l] * momentum[l])))
            reset = (restart[l] > _F0) | break_restart
            beta = (momentum[l] - _F1) / following
            lane[6, l] = _F0 if reset else beta
            momentum[l] = _F1 if reset else following
        for i in range(n):
            for l in range(lanes):
                following_z = nxt[i, l] + lane[6, l] * (nxt[i, l] - alpha[i, l])
                z[i, l] = following_z
                zs[i, l] = following_z * inv_l[l]
                alpha[i, l] = nxt[i, l]
    # the last pass was a plain projected-gradient step from alpha, so nxt and lam are consistent


@njit(**_KERNEL)
def _plan_sizes(n_pseudo, n_folds):
    """Most training and test rows any fold of a plan has."""
    min_test = n_pseudo // n_folds
    return 2 * n_pseudo - 2 * min_test, 2 * (n_pseudo - (n_folds - 1) * min_test)


@njit(parallel=True, **_KERNEL)
def svm_pair_accuracies(data, pairs, trial_order, fold_of, n_folds, c_value, n_iter, accuracy):
    """Linear C-SVC accuracies into ``accuracy (n_pairs, n_times)``; see the module docstring.

    data float32 ``(n_images, n_reps, n_times, n_features)``; pairs int64 ``(n_pairs, 2)``; trial_order int32
    ``(n_pairs, n_repeats, 2, n_pseudo * navg)``; fold_of int8 ``(n_pairs, n_repeats, n_fold_times, 2, n_pseudo)``;
    c_value float32.
    """
    n_images, n_reps, n_times, n_features = data.shape
    n_pairs, n_repeats = trial_order.shape[0], trial_order.shape[1]
    n_fold_times, n_pseudo = fold_of.shape[2], fold_of.shape[4]
    navg = trial_order.shape[3] // n_pseudo
    rows_all = 2 * n_pseudo
    train_max, test_max = _plan_sizes(n_pseudo, n_folds)
    n_fits = n_repeats * n_times * n_folds
    flat = data.reshape(n_images, n_reps, n_times * n_features)
    width = n_times * n_features
    zero_row = n_repeats * rows_all * width  # offset of a row of zeros after the pseudo-trials
    for p in prange(n_pairs):
        # the pseudo-trials, then one row of zeros that padding rows and unused lanes read
        storage = np.empty(zero_row + n_features, dtype=np.float32)
        storage[zero_row:] = _F0
        pseudo = storage[:zero_row].reshape(n_repeats, rows_all, width)
        members = np.empty(navg, dtype=np.int64)
        centre = np.empty(width, dtype=np.float32)
        x_test = np.empty((test_max, n_features, LANES), dtype=np.float32)
        y_test = np.empty((test_max, LANES), dtype=np.float32)
        decision = np.empty((test_max, LANES), dtype=np.float32)
        w = np.empty((n_features, LANES), dtype=np.float32)
        weight = np.empty(LANES, dtype=np.float32)
        x = np.empty((train_max, n_features, LANES), dtype=np.float32)
        y = np.empty((train_max, LANES), dtype=np.float32)
        upper = np.empty((train_max, LANES), dtype=np.float32)
        source = np.empty((train_max, LANES), dtype=np.int64)  # offset of each lane's row i in storage
        test_source = np.empty((test_max, LANES), dtype=np.int64)
        gram = np.empty((train_max, train_max, LANES), dtype=np.float32)
        m = np.empty((n_features, n_features, LANES), dtype=np.float32)
        square = np.empty((n_features, n_features, LANES), dtype=np.float32)
        alpha = np.empty((train_max, LANES), dtype=np.float32)
        z = np.empty((train_max, LANES), dtype=np.float32)
        zs = np.empty((train_max, LANES), dtype=np.float32)
        v = np.empty((train_max, LANES), dtype=np.float32)
        nxt = np.empty((train_max, LANES), dtype=np.float32)
        lam = np.empty(LANES, dtype=np.float32)
        lipschitz = np.empty(LANES, dtype=np.float32)
        lane = np.empty((13, LANES), dtype=np.float32)
        active = np.empty(LANES, dtype=np.bool_)
        n_test = np.zeros(LANES, dtype=np.int64)
        lane_time = np.zeros(LANES, dtype=np.int64)
        _build_pseudo_trials(flat, pairs[p, 0], pairs[p, 1], trial_order[p], n_pseudo, navg, 0, width,
                             pseudo, members, centre)
        out = accuracy[p]
        out[:] = 0.0
        for start in range(0, n_fits, LANES):
            # which pseudo-trial each lane's training / test row i is (its offset in storage); padding rows
            # (upper 0, label +1) and the lanes past the last fit read the zero row
            for l in range(LANES):
                fit = start + l
                fold = fit % n_folds
                t = (fit // n_folds) % n_times
                r = fit // (n_folds * n_times)
                t_fold = t if n_fold_times > 1 else 0
                n_tr = 0
                n_te = 0
                if fit < n_fits:
                    for row in range(rows_all):
                        label = _F1 if row < n_pseudo else -_F1
                        c = 0 if row < n_pseudo else 1
                        offset = (r * rows_all + row) * width + t * n_features
                        if fold_of[p, r, t_fold, c, row - c * n_pseudo] == fold:
                            test_source[n_te, l] = offset
                            y_test[n_te, l] = label
                            n_te += 1
                        else:
                            source[n_tr, l] = offset
                            y[n_tr, l] = label
                            upper[n_tr, l] = c_value
                            n_tr += 1
                for i in range(n_tr, train_max):
                    source[i, l] = zero_row
                    y[i, l] = _F1
                    upper[i, l] = _F0
                for j in range(n_te, test_max):
                    test_source[j, l] = zero_row
                    y_test[j, l] = _F1
                n_test[l] = n_te
                lane_time[l] = t if fit < n_fits else 0
            # the copies into the lane layout write contiguously (lanes innermost)
            for i in range(train_max):
                for q in range(n_features):
                    for l in range(LANES):
                        x[i, q, l] = storage[source[i, l] + q]
            for j in range(test_max):
                for q in range(n_features):
                    for l in range(LANES):
                        x_test[j, q, l] = storage[test_source[j, l] + q]
            _solve(x, y, upper, c_value, n_iter, gram, m, square, alpha, z, zs, v, nxt, lam, lipschitz, lane, active)
            w[:] = _F0
            for i in range(train_max):
                for l in range(LANES):
                    weight[l] = nxt[i, l] * y[i, l]
                for q in range(n_features):
                    for l in range(LANES):
                        w[q, l] += weight[l] * x[i, q, l]
            # decision = intercept + sum_q w_q x_q, summed in feature order for every lane at once
            for l in range(LANES):
                weight[l] = lam[l] * lipschitz[l]
            for j in range(test_max):
                for l in range(LANES):
                    decision[j, l] = weight[l]
                for q in range(n_features):
                    for l in range(LANES):
                        decision[j, l] += w[q, l] * x_test[j, q, l]
            for l in range(LANES):
                if n_test[l] == 0:
                    continue
                correct = 0
                for j in range(n_test[l]):
                    if (decision[j, l] >= _F0) == (y_test[j, l] > _F0):  # a tie is the first image, as in sklearn
                        correct += 1
                out[lane_time[l]] += correct / n_test[l]
        for t in range(n_times):
            out[t] /= n_repeats * n_folds


@njit(parallel=True, **_KERNEL)
def lda_pair_accuracies(data, pairs, trial_order, fold_of, n_folds, accuracy):
    """Nearest-class-mean accuracies into ``accuracy (n_pairs, n_times)`` on (already whitened) data; arguments as
    :func:`svm_pair_accuracies`. Class means and decisions in float64."""
    n_images, n_reps, n_times, n_features = data.shape
    n_pairs, n_repeats = trial_order.shape[0], trial_order.shape[1]
    n_fold_times, n_pseudo = fold_of.shape[2], fold_of.shape[4]
    navg = trial_order.shape[3] // n_pseudo
    rows_all = 2 * n_pseudo
    flat = data.reshape(n_images, n_reps, n_times * n_features)
    block = min(TIME_BLOCK, n_times)
    for p in prange(n_pairs):
        pseudo = np.empty((n_repeats, rows_all, block * n_features), dtype=np.float32)
        members = np.empty(navg, dtype=np.int64)
        centre = np.empty(block * n_features, dtype=np.float32)
        sums = np.empty((2, n_folds, n_features))
        total = np.empty((2, n_features))
        direction = np.empty(n_features)
        count = np.empty((2, n_folds), dtype=np.int64)
        out = accuracy[p]
        out[:] = 0.0
        for t0 in range(0, n_times, block):  # time blocks: the block's pseudo-trials stay in cache
            t1 = min(t0 + block, n_times)
            _build_pseudo_trials(flat, pairs[p, 0], pairs[p, 1], trial_order[p], n_pseudo, navg, t0 * n_features,
                                 t1 * n_features, pseudo, members, centre)
            for r in range(n_repeats):
                for t in range(t0, t1):
                    t_fold = t if n_fold_times > 1 else 0
                    folds = fold_of[p, r, t_fold]  # (2, n_pseudo)
                    base = (t - t0) * n_features
                    sums[:] = 0.0
                    total[:] = 0.0
                    count[:] = 0
                    for c in range(2):  # rows in order: class 0's pseudo-trials, then class 1's
                        class_total = total[c]
                        for k in range(n_pseudo):
                            f = np.intp(folds[c, k])
                            count[c, f] += 1
                            fold_sums = sums[c, f]
                            values = pseudo[r, c * n_pseudo + k, base:base + n_features]
                            for q in range(n_features):
                                value = np.float64(values[q])
                                fold_sums[q] += value
                                class_total[q] += value
                    for f in range(n_folds):
                        n_first = np.float64(n_pseudo - count[0, f])
                        n_second = np.float64(n_pseudo - count[1, f])
                        offset = 0.0
                        for q in range(n_features):
                            first_mean = (total[0, q] - sums[0, f, q]) / n_first
                            second_mean = (total[1, q] - sums[1, f, q]) / n_second
                            direction[q] = first_mean - second_mean
                            offset += 0.5 * (first_mean * first_mean - second_mean * second_mean)
                        correct = 0
                        n_test = 0
                        for c in range(2):
                            for k in range(n_pseudo):
                                if folds[c, k] != f:
                                    continue
                                values = pseudo[r, c * n_pseudo + k, base:base + n_features]
                                decision = -offset
                                for q in range(n_features):
                                    decision += direction[q] * np.float64(values[q])
                                if (decision >= 0.0) if c == 0 else (decision < 0.0):  # tie: first image
                                    correct += 1
                                n_test += 1
                        out[t] += correct / n_test
        for t in range(n_times):
            out[t] /= n_repeats * n_folds


# Weighted rank correlation for the image bootstrap. A bootstrap sample of images repeats pair p of the original RDM
# w_p = c_i c_j times (c = how often each image was drawn); its average ranks are then
#     R_g = (weight of all values below group g) + (W_g + 1) / 2
# for each group g of equal values with total weight W_g. orders holds, per RDM, the argsort of its values with
# bit 31 set on the last index of every group of equal values.

@njit(parallel=True, **_KERNEL)
def weighted_ranks(orders, weights, ranks, tie_sums):
    """Weighted average ranks into ``ranks (n_rdms, n_pairs)`` and tie sums ``sum_g (W_g^3 - W_g)`` into
    ``tie_sums (n_rdms,)``; orders uint32 ``(n_rdms, n_pairs)``, weights float64 ``(n_pairs,)``."""
    n_rdms, n_pairs = orders.shape
    for r in prange(n_rdms):
        below = 0.0
        ties = 0.0
        start = 0
        while start < n_pairs:
            end = start
            group = 0.0
            while True:
                group += weights[orders[r, end] & _LOW_BITS]
                if orders[r, end] & GROUP_END:
                    break
                end += 1
            rank = below + 0.5 * (group + 1.0)
            for k in range(start, end + 1):
                ranks[r, orders[r, k] & _LOW_BITS] = rank
            ties += group * group * group - group
            below += group
            start = end + 1
        tie_sums[r] = ties


@njit(parallel=True, **_KERNEL)
def weighted_rank_products(orders, set_of_rdm, table, cross, tie_sums):
    """Per RDM, ``sum_p R_p table[set_of_rdm[rdm], p, :]`` into ``cross (n_rdms, width)`` (R: its weighted ranks)
    and its tie sums into ``tie_sums (n_rdms,)``. table ``(n_sets, n_pairs, width)`` holds ``[w_p, w_p R^1_p,
    ...]``, so ``cross[r, 0] = sum_p w_p R_p`` and ``cross[r, 1 + m]`` the products with partner m; sums run over
    the groups of equal values (group sums of the table rows times the group's rank)."""
    n_rdms, n_pairs = orders.shape
    width = table.shape[2]
    for r in prange(n_rdms):
        rows = table[set_of_rdm[r]]
        acc = np.zeros(width)
        group = np.empty(width)
        below = 0.0
        ties = 0.0
        k = 0
        while k < n_pairs:
            group[:] = 0.0
            while True:
                entry = orders[r, k]
                index = entry & _LOW_BITS
                for column in range(width):
                    group[column] += rows[index, column]
                if entry & GROUP_END:
                    break
                k += 1
            k += 1
            weight = group[0]
            rank = below + 0.5 * (weight + 1.0)
            for column in range(width):
                acc[column] += rank * group[column]
            ties += weight * weight * weight - weight
            below += weight
        for column in range(width):
            cross[r, column] = acc[column]
        tie_sums[r] = ties


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_KEY_MIX = np.uint64(0xD1B54A32D192ED03)
_LOW32 = np.uint64(0xFFFFFFFF)


@njit(parallel=True, **_KERNEL)
def draw_folds(seed, first_pair, n_folds, out):
    """Stratified fold assignments into ``out (n_pairs, n_repeats, n_fold_times, 2, n_pseudo)`` int8 for pairs
    ``first_pair ...``, from a counter-based generator, so that any pair's draws can be produced alone, in parallel
    and identically by the numpy version (``decoding_plan.draw_folds_numpy``):
      key   = ((pair * n_repeats + r) * n_fold_times + t) * 2 + c
      state = seed ^ (key * 0xD1B54A32D192ED03), then splitmix64 steps;
      row k starts as k % n_folds and is shuffled by Fisher-Yates, i from n_pseudo - 1 down to 1, with
      j = (u * (i + 1)) >> 32, u taking in turn the high and the low 32 bits of each splitmix64 output.
    seed uint64 (all arithmetic modulo 2**64).
    """
    n_pairs, n_repeats, n_fold_times, _, n_pseudo = out.shape
    rows_per_pair = n_repeats * n_fold_times * 2
    values_of = out.reshape(n_pairs, rows_per_pair, n_pseudo)
    for p in prange(n_pairs):
        for row in range(rows_per_pair):
            key = np.uint64(first_pair + p) * np.uint64(rows_per_pair) + np.uint64(row)
            state = seed ^ (key * _KEY_MIX)
            values = values_of[p, row]
            for k in range(n_pseudo):
                values[k] = k % n_folds
            x = np.uint64(0)
            for i in range(n_pseudo - 1, 0, -1):
                high = ((n_pseudo - 1 - i) % 2) == 0
                if high:
                    state = state + _GOLDEN
                    mixed = (state ^ (state >> np.uint64(30))) * _MIX1
                    mixed = (mixed ^ (mixed >> np.uint64(27))) * _MIX2
                    x = mixed ^ (mixed >> np.uint64(31))
                u = (x >> np.uint64(32)) if high else (x & _LOW32)
                j = np.int64((u * np.uint64(i + 1)) >> np.uint64(32))
                swap = values[i]
                values[i] = values[j]
                values[j] = swap
