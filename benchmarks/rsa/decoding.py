"""Time-resolved pairwise-decoding RDMs: accuracy of telling two images apart from their EEG, per time point.

Both methods follow the ReAlnet paper's protocol (NeuroRA ``tbyt_decoding_kfold`` per time point, see
:mod:`benchmarks.rsa.decoding_plan`): pseudo-trials of ``navg`` repetitions, stratified ``n_folds``-fold
cross-validation repeated ``n_repeats`` times, accuracy (chance 0.5) as the dissimilarity, then a
``smooth_window``-point moving average over time.

- ``decoding-svm``: linear C-SVC (libsvm ``SVC(kernel='linear', C=1)`` as NeuroRA uses), solved by a batched FISTA
  dual solver with a fixed iteration count ``n_iter``. Tolerance of the default ``n_iter=40`` against sklearn's
  ``SVC`` on the same pseudo-trials and folds (measured on THINGS-EEG2-shaped data): mean |delta accuracy| 0.0007,
  max 0.0125 per pair and time point; at ``n_iter=200`` the accuracies were identical. ``n_iter`` is an option
  (``method_params={'n_iter': 200}`` on ``things-eeg-rsa``, CLI ``--option 'method_params={"n_iter":200}'``), the
  cost grows linearly with it, and a given value is part of the EEG RDM cache key.
- ``decoding-lda``: LDA with a shrinkage covariance estimated once per time point from all trials' residuals around
  their image means (Ledoit-Wolf by default), equal priors; equivalent to nearest class mean after whitening.

Backends: ``'numba'`` (our CPU kernels, :mod:`benchmarks.rsa._native`, compiled by numba on first use and cached;
threads over pairs; the CPU default) and ``'torch'`` (batched tensors; the default when CUDA is available).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.rsa import _native
from benchmarks.rsa._validation import check_choice, check_eeg_data, check_positive_int, check_seed, ensure_finite
from benchmarks.rsa.decoding_plan import (
    DecodingPlan,
    accuracy_denominator,
    check_protocol,
    draw_plan,
    smooth_over_time,
)

BACKENDS = ("auto", "numba", "torch")
_F32_TINY = float(np.finfo(np.float32).tiny) / 1e-5  # C's tolerance 1e-5 C stays a normal float32
_F32_HUGE = float(np.finfo(np.float32).max) / 1e5


def _resolve_backend(backend: str, device) -> tuple[str, object]:
    import torch

    check_choice(backend, "backend", BACKENDS)
    if device is not None:
        device = torch.device(device)
    if backend == "auto":
        if device is not None and device.type != "cpu":
            return "torch", device
        if device is None and torch.cuda.is_available():
            return "torch", torch.device("cuda")
        return "numba", None
    if backend == "numba":
        if device is not None and device.type != "cpu":
            raise ValueError(f"backend='numba' runs on the CPU; got device={device}")
        return "numba", None
    return "torch", device or (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))


def resolved_backend(backend: str = "auto", device=None) -> str:
    """The backend the decoding methods run with for these arguments: ``'numba'`` or ``'torch-<device type>'``.

    The two backends' accuracies differ (up to ~0.02), so caches of decoding RDMs key on this name.
    Raises as the decoding methods do for an unknown or unavailable backend.
    """
    chosen, torch_device = _resolve_backend(backend, device)
    return chosen if chosen == "numba" else f"torch-{torch_device.type}"


def _kernel_layout(data: np.ndarray) -> np.ndarray:
    """``(images, repetitions, channels, times)`` -> float32 ``(images, repetitions, times, channels)``."""
    return np.ascontiguousarray(data.transpose(0, 1, 3, 2), dtype=np.float32)


class _ChunkSizer:
    """Pairs per chunk for the torch backend. On the CPU a fixed small chunk; on CUDA the first chunk is small and
    measures the bytes one pair needs at peak, and later chunks fill about half the memory then free on the device
    (at most ``CUDA_MAX_CHUNK`` pairs): a kernel launch and a host sync per solver step cost the same for 256 pairs
    as for 4,096, so few large chunks are what makes the GPU fast."""

    CUDA_FIRST_CHUNK = 64
    CUDA_MAX_CHUNK = 8192

    def __init__(self, device, cpu_chunk: int):
        self.device = device
        self.cuda = device.type == "cuda"
        self.size = self.CUDA_FIRST_CHUNK if self.cuda else cpu_chunk
        self.measured = False

    def __call__(self) -> int:
        return self.size

    def run(self, function: Callable[[DecodingPlan], np.ndarray]) -> Callable[[DecodingPlan], np.ndarray]:
        if not self.cuda:
            return function

        def measured(part: DecodingPlan) -> np.ndarray:
            import torch

            cuda = torch.cuda
            if self.measured:
                return function(part)
            cuda.synchronize(self.device)
            before = cuda.memory_allocated(self.device)
            cuda.reset_peak_memory_stats(self.device)
            result = function(part)
            per_pair = max(1, (cuda.max_memory_allocated(self.device) - before) // max(1, len(part.pairs)))
            free, _ = cuda.mem_get_info(self.device)
            self.size = int(min(self.CUDA_MAX_CHUNK, max(self.CUDA_FIRST_CHUNK, free // 2 // per_pair)))
            self.measured = True
            return result

        return measured


def _run_chunks(
    layout: np.ndarray,
    plan: DecodingPlan | None,
    draw: Callable[[slice], DecodingPlan],
    n_pairs: int,
    chunk: int | Callable[[], int],
    run: Callable[[DecodingPlan], np.ndarray],
) -> np.ndarray:
    """Accuracies ``(n_pairs, n_times)`` computed chunk by chunk of pairs; ``chunk`` is a size or a callable asked
    before each chunk (plans are drawn per pair, so results never depend on the chunking)."""
    size = chunk if callable(chunk) else (lambda: chunk)
    total = len(plan.pairs) if plan is not None else n_pairs
    accuracy = np.empty((total, layout.shape[2]))
    start = 0
    while start < total:
        part = slice(start, min(start + size(), total))
        if plan is not None:
            piece = DecodingPlan(plan.pairs[part], plan.trial_order[part], plan.fold_of[part], plan.n_folds)
        else:
            piece = draw(part)
        accuracy[part] = run(piece)
        start = part.stop
    return accuracy


def _prepare(data, navg, n_folds, n_repeats, smooth_window, plan):
    data = check_eeg_data(data, finite=False)
    n_images, n_reps, n_channels, n_times = data.shape
    if plan is None:
        check_protocol(n_reps, navg, n_folds, n_repeats)
    else:
        plan.validate(n_images, n_reps, n_times)
    check_positive_int(smooth_window, "smooth_window")
    return data


def _check_float32_range(layout: np.ndarray, n_reps: int) -> None:
    """``ValueError`` unless the SVM's float32 sums stay finite: with |x| <= s, centred pseudo-trials are within 2s,
    M = X'X over at most 2 x n_reps rows within 2 n_reps (2s)^2, and the bound's M^2 within n_features times the
    square of that; beyond ~1e38 they overflow and the accuracies come out as 0 instead of an error."""
    peak = max(float(layout.max(initial=0.0)), -float(layout.min(initial=0.0)))
    n_features = layout.shape[-1]
    limit = (1e38 / (n_features * (2 * n_reps * 4) ** 2)) ** 0.25
    if peak > limit:
        raise ValueError(f"data: largest |value| {peak:.3g} exceeds {limit:.3g}, beyond which the SVM's float32 "
                         "sums overflow; rescale the data (e.g. noise-normalise it, as THINGS-EEG2's preprocessed "
                         "files are)")


def svm_decoding_rdms(
    data: np.ndarray,
    *,
    navg: int = 5,
    n_folds: int = 4,
    n_repeats: int = 5,
    c: float = 1.0,
    n_iter: int = 40,
    smooth_window: int = 5,
    seed: int = 0,
    folds_per_time: bool = True,
    plan: DecodingPlan | None = None,
    backend: str = "auto",
    device=None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Pairwise linear-SVM decoding accuracy per time point (the ReAlnet paper's EEG RDMs).

    data: one subject ``(n_images, n_repetitions, n_channels, n_times)``; the SVM's C acts on the data's scale
    (THINGS-EEG2 is noise-normalised, as the paper assumes). ``plan`` replays fixed pseudo-trial groups and folds
    (then only ``plan.pairs`` are decoded); otherwise they are drawn from ``seed``. ``device`` / ``backend`` pick
    where it runs; ``n_threads`` bounds the numba backend's threads (default: all allowed cores).

    Returns ``(n_times, n_pairs)`` accuracies in condensed-RDM pair order (``plan.pairs`` order with a plan),
    smoothed over time by ``smooth_window`` points (1 = no smoothing). A test trial whose decision value is exactly 0
    counts as the first image, as sklearn's ``SVC.predict`` has it. Raises ``ValueError`` for non-finite data and
    for values so large that the solver's float32 sums would overflow (see ``_check_float32_range``).
    """
    data = _prepare(data, navg, n_folds, n_repeats, smooth_window, plan)
    # the kernels take C as float32 (its box bound and the projection's tolerance 1e-5 C): inf, NaN, or a value that
    # rounds to 0 or overflows there would decode with no error and wrong accuracies
    if (isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating))
            or not _F32_TINY <= c <= _F32_HUGE):
        raise ValueError(f"c must be a finite positive number in [{_F32_TINY:.3g}, {_F32_HUGE:.3g}] (the float32 range "
                         f"of the solver), got {c!r}")
    check_seed(seed)
    n_iter = check_positive_int(n_iter, "n_iter")
    n_images, n_reps, _, n_times = data.shape
    layout = _kernel_layout(data)
    ensure_finite(layout.sum(axis=(1, 3)), data, "data")
    _check_float32_range(layout, n_reps)
    chosen, torch_device = _resolve_backend(backend, device)

    def draw(part: slice) -> DecodingPlan:
        return draw_plan(n_images, n_reps, n_times, navg=navg, n_folds=n_folds, n_repeats=n_repeats, seed=seed,
                         folds_per_time=folds_per_time, pair_slice=part)

    if chosen == "numba":
        def run(part: DecodingPlan) -> np.ndarray:
            return _native.run_svm(layout, part.pairs, part.trial_order, part.fold_of, part.n_folds,
                                   float(c), n_iter, n_threads)

        chunk = 1024
    else:
        import torch

        from benchmarks.rsa import _decoding_torch

        tensor = torch.as_tensor(layout, device=torch_device)

        def run(part: DecodingPlan) -> np.ndarray:
            with torch.no_grad():
                return _decoding_torch.svm_accuracies(tensor, part, float(c), n_iter).cpu().numpy()

        chunk = _ChunkSizer(torch_device, 16)
        run = chunk.run(run)
    accuracy = _run_chunks(layout, plan, draw, n_images * (n_images - 1) // 2, chunk, run)
    return smooth_over_time(accuracy, smooth_window, _denominator(plan, n_reps, navg, n_folds, n_repeats)).T.copy()


def _denominator(plan: DecodingPlan | None, n_reps: int, navg: int, n_folds: int, n_repeats: int) -> int:
    """The D of :func:`~benchmarks.rsa.decoding_plan.accuracy_denominator` for the protocol or the given plan."""
    if plan is not None:
        return accuracy_denominator(plan.n_pseudo, plan.n_folds, plan.n_repeats, plan.fold_of)
    return accuracy_denominator(n_reps // navg, n_folds, n_repeats)


def noise_covariances(data: np.ndarray, shrinkage: str | float = "ledoit-wolf") -> np.ndarray:
    """Per time point, the shrunk covariance of single-trial residuals around their image means.

    data: ``(n_images, n_repetitions, n_channels, n_times)``. shrinkage: ``'ledoit-wolf'`` (sklearn
    ``ledoit_wolf`` on the residuals) or a number s in [0, 1]: ``(1 - s) S + s tr(S)/n_channels I``.
    Returns ``(n_times, n_channels, n_channels)``.
    """
    from sklearn.covariance import ledoit_wolf

    data = check_eeg_data(data, min_repetitions=2)
    if isinstance(shrinkage, str):
        check_choice(shrinkage, "shrinkage", ("ledoit-wolf",))
    elif isinstance(shrinkage, bool) or not isinstance(shrinkage, (int, float)) or not 0 <= shrinkage <= 1:
        raise ValueError(f"shrinkage must be 'ledoit-wolf' or a number in [0, 1], got {shrinkage!r}")
    n_images, n_reps, n_channels, n_times = data.shape
    residuals = data - data.mean(axis=1, keepdims=True)
    residuals = residuals.transpose(3, 0, 1, 2).reshape(n_times, n_images * n_reps, n_channels).astype(np.float64)
    covariances = np.empty((n_times, n_channels, n_channels))
    for t in range(n_times):
        if shrinkage == "ledoit-wolf":
            covariances[t] = ledoit_wolf(residuals[t], assume_centered=True)[0]
        else:
            sample = residuals[t].T @ residuals[t] / residuals.shape[1]
            target = np.trace(sample) / n_channels * np.eye(n_channels)
            covariances[t] = (1 - shrinkage) * sample + shrinkage * target
    return covariances


def whitening_matrices(covariances: np.ndarray) -> np.ndarray:
    """Symmetric inverse square roots ``(n_times, n_channels, n_channels)`` of positive-definite covariances."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariances)
    if eigenvalues.min() <= 0:
        t = int(np.argwhere(eigenvalues <= 0)[0][0])
        raise ValueError(
            f"the noise covariance at time index {t} is singular (smallest eigenvalue {eigenvalues[t].min():.3g}); "
            "use shrinkage > 0"
        )
    return (eigenvectors / np.sqrt(eigenvalues)[:, None, :]) @ eigenvectors.transpose(0, 2, 1)


def lda_decoding_rdms(
    data: np.ndarray,
    *,
    navg: int = 5,
    n_folds: int = 4,
    n_repeats: int = 5,
    shrinkage: str | float = "ledoit-wolf",
    smooth_window: int = 5,
    seed: int = 0,
    folds_per_time: bool = True,
    plan: DecodingPlan | None = None,
    backend: str = "auto",
    device=None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Pairwise shrinkage-LDA decoding accuracy per time point (same protocol and output as
    :func:`svm_decoding_rdms`).

    The covariance is :func:`noise_covariances` (one per time point, from all trials), so each fold's classifier is
    ``w = S^-1 (m_a - m_b)`` with the fold's training class means and a threshold halfway between them. Returns
    ``(n_times, n_pairs)``.
    """
    data = _prepare(data, navg, n_folds, n_repeats, smooth_window, plan)
    check_seed(seed)
    n_images, n_reps, _, n_times = data.shape
    whitening = whitening_matrices(noise_covariances(data, shrinkage))  # checks finiteness of data
    whitened = np.einsum("irct,tdc->irtd", data, whitening, optimize=True).astype(np.float32)
    chosen, torch_device = _resolve_backend(backend, device)

    def draw(part: slice) -> DecodingPlan:
        return draw_plan(n_images, n_reps, n_times, navg=navg, n_folds=n_folds, n_repeats=n_repeats, seed=seed,
                         folds_per_time=folds_per_time, pair_slice=part)

    if chosen == "numba":
        def run(part: DecodingPlan) -> np.ndarray:
            return _native.run_lda(whitened, part.pairs, part.trial_order, part.fold_of, part.n_folds,
                                   n_threads)

        chunk = 1024
    else:
        import torch

        from benchmarks.rsa import _decoding_torch

        tensor = torch.as_tensor(whitened, device=torch_device)

        def run(part: DecodingPlan) -> np.ndarray:
            with torch.no_grad():
                return _decoding_torch.lda_accuracies(tensor, part).cpu().numpy()

        chunk = _ChunkSizer(torch_device, 32)
        run = chunk.run(run)
    accuracy = _run_chunks(whitened, plan, draw, n_images * (n_images - 1) // 2, chunk, run)
    return smooth_over_time(accuracy, smooth_window, _denominator(plan, n_reps, navg, n_folds, n_repeats)).T.copy()
