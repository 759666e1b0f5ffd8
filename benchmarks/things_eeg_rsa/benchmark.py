"""``things-eeg-rsa[-<method>]``: time-resolved RSA between model layers and THINGS-EEG2 test-set EEG.

Per subject, layer and EEG time point: Spearman (or tau-a / Pearson) between the model RDM (1 - Pearson over the
flattened layer outputs of the 200 test images) and the subject's EEG RDM at that time (default ``decoding-svm``,
the paper's protocol). Noise ceiling per time point from the subjects' EEG RDMs; cluster permutation tests of
similarity > 0 per layer. Scalar = mean over the window (default 0-500 ms) of the best layer's subject-averaged
similarity, divided by the mean lower noise ceiling over that window.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import xarray as xr
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score

from ..model_features import default_layers, layer_features
from ..rdm_cache import cached_rdms, file_fingerprint
from ..rsa import (
    EEG_RDM_METHODS,
    ModelImprovement,
    bootstrap_similarity,
    cluster_permutation_test,
    compare,
    compare_models_over_time,
    eeg_rdms,
    model_rdms,
    noise_ceiling,
)
from . import data as eeg_data

BIBTEX = """@article{lu2024realnet,
  title={Achieving more human brain-like vision via human EEG representational alignment},
  author={Lu, Zitong and Wang, Yile and Golomb, Julie D}, journal={arXiv preprint arXiv:2401.17231}, year={2024}}
@article{gifford2022large,
  title={A large and rich EEG dataset for modeling human visual object recognition},
  author={Gifford, Alessandro T and Dwivedi, Kshitij and Roig, Gemma and Cichy, Radoslaw M},
  journal={NeuroImage}, volume={264}, pages={119754}, year={2022}}"""
DEFAULT_METHOD = "decoding-svm"
REALNET_SUBJECT = re.compile(r"realnet_s(\d{2})_")


class ThingsEEGRsaBenchmark(BenchmarkBase):
    """Time-resolved EEG RSA on the THINGS-EEG2 test images (see module docstring).

    ``match_subject``: score a ``realnet_sXX_*`` model only against subject XX's EEG (as the paper does);
    ``score_subjects``: compare every model with these subjects only (the noise ceiling still uses all subjects).
    ``n_bootstrap`` > 0 adds bootstrap confidence intervals (images and subjects resampled) of the best layer's
    subject-mean similarity time course as ``ci_low`` / ``ci_high``.
    ``method_params`` go to the EEG RDM method (e.g. ``{'seed': 1}`` for decoding).
    """

    def __init__(self, method: str = DEFAULT_METHOD, *, root=None, subjects: Sequence[int] | None = None,
                 layers: Sequence[str] | None = None, window: tuple[float, float] = (0.0, 0.5),
                 comparison: str = "spearman", n_permutations: int = 1000, match_subject: bool = True,
                 method_params: dict | None = None, cache: bool = True, seed: int = 0,
                 score_subjects: Sequence[int] | None = None, n_bootstrap: int = 0):
        if method not in EEG_RDM_METHODS:
            raise ValueError(f"unknown EEG RDM method {method!r}; choose from {sorted(EEG_RDM_METHODS)}")
        identifier = "things-eeg-rsa" if method == DEFAULT_METHOD else f"things-eeg-rsa-{method}"
        super().__init__(identifier=identifier, ceiling=None, version=1, parent="neural", bibtex=BIBTEX)
        self.method, self.root, self.layers, self.window = method, root, layers, tuple(window)
        self.comparison, self.n_permutations, self.match_subject = comparison, n_permutations, match_subject
        self.method_params, self.cache, self.seed = dict(method_params or {}), cache, seed
        self._subjects = list(subjects) if subjects is not None else None
        self.score_subjects = list(score_subjects) if score_subjects is not None else None
        self.n_bootstrap = n_bootstrap
        self._eeg: tuple[list[int], np.ndarray, np.ndarray] | None = None

    # --- data -----------------------------------------------------------------------------------------------
    def eeg(self) -> tuple[list[int], np.ndarray, np.ndarray]:
        """``(subjects, rdms (n_subjects, n_times, n_pairs), times (n_times,))``, computed once and cached."""
        if self._eeg is None:
            subjects = self._subjects or eeg_data.available_subjects(self.root, "test")
            stacks, times = [], None
            for subject in subjects:
                path = eeg_data.eeg_file(subject, "test", self.root)

                def compute(subject=subject):
                    recording = eeg_data.load_subject(subject, "test", self.root)
                    return eeg_rdms(recording.data, self.method, **self.method_params)

                stacks.append(cached_rdms(file_fingerprint(path), self.method, self.method_params, compute,
                                          self.cache))
                times = eeg_data.TIMES if times is None else times
            self._eeg = (list(subjects), np.stack(stacks), np.asarray(times))
        return self._eeg

    @property
    def ceiling(self) -> Score:
        """Mean lower noise ceiling over the scoring window."""
        _, rdms, times = self.eeg()
        lower, _ = noise_ceiling(rdms, self.comparison)
        return Score(float(lower[self._window_mask(times)].mean()))

    def _window_mask(self, times: np.ndarray) -> np.ndarray:
        mask = (times >= self.window[0] - 1e-9) & (times <= self.window[1] + 1e-9)
        if not mask.any():
            raise ValueError(f"window {self.window} s holds no EEG time point (times {times[0]:.2f}..{times[-1]:.2f})")
        return mask

    # --- scoring --------------------------------------------------------------------------------------------
    def __call__(self, candidate) -> Score:
        layers = list(self.layers or default_layers(candidate))
        stimuli = eeg_data.stimuli("test", self.root)
        features = layer_features(candidate, stimuli, lambda: eeg_data.stimulus_set("test", self.root), layers)
        models = model_rdms([features[layer] for layer in layers])  # (n_layers, n_pairs)
        return self.score_rdms(models, layers, getattr(candidate, "identifier", ""))

    def score_rdms(self, models: np.ndarray, layers: Sequence[str], model_identifier: str = "") -> Score:
        """The score for precomputed model RDMs ``(n_layers, n_pairs)`` in test-image order."""
        subjects, rdms, times = self.eeg()
        lower, upper = noise_ceiling(rdms, self.comparison) if len(subjects) > 1 else (
            np.full(len(times), np.nan), np.full(len(times), np.nan))
        scored = list(range(len(subjects)))
        if self.score_subjects is not None:
            missing = [s for s in self.score_subjects if s not in subjects]
            if missing:
                raise ValueError(f"score_subjects {missing} have no EEG here (found subjects {subjects})")
            scored = [subjects.index(s) for s in self.score_subjects]
        match = REALNET_SUBJECT.match(model_identifier)
        if self.match_subject and match:
            own = int(match.group(1))
            if own not in subjects:
                raise ValueError(f"{model_identifier} is trained on subject {own}, whose EEG is not in "
                                 f"{eeg_data.resolve_root(self.root)} (found subjects {subjects})")
            scored = [subjects.index(own)]
        similarity = np.stack([compare(models, rdms[s], self.comparison) for s in scored])  # (subj, layer, time)
        window = self._window_mask(times)
        mean = similarity.mean(axis=0)  # (layer, time)
        best = int(mean[:, window].mean(axis=1).argmax())
        ceiling = float(np.nanmean(lower[window])) if np.isfinite(lower[window]).any() else np.nan
        raw = float(mean[best, window].mean())
        peak = int(np.argmax(np.where(window, mean[best], -np.inf)))
        clusters = self._clusters(similarity, layers, times)
        result = Score(raw / ceiling if np.isfinite(ceiling) and ceiling > 0 else np.nan)
        subject_ids = [subjects[s] for s in scored]
        if self.n_bootstrap and self.comparison in ("spearman", "pearson"):
            boot = bootstrap_similarity(rdms[scored], models[best][None], n_bootstrap=self.n_bootstrap,
                                        resample="both" if len(scored) > 1 else "images", method=self.comparison,
                                        seed=self.seed)
            result.attrs["ci_low"] = xr.DataArray(boot.lower[0], dims="time", coords={"time": times})
            result.attrs["ci_high"] = xr.DataArray(boot.upper[0], dims="time", coords={"time": times})
        result.attrs.update({
            "raw": Score(raw), "ceiling": Score(ceiling),
            "similarity": xr.DataArray(similarity, dims=("subject", "layer", "time"),
                                       coords={"subject": subject_ids, "layer": list(layers), "time": times}),
            "ceiling_lower": xr.DataArray(lower, dims="time", coords={"time": times}),
            "ceiling_upper": xr.DataArray(upper, dims="time", coords={"time": times}),
            "clusters": clusters, "best_layer": layers[best], "peak_layer": layers[best],
            "peak_time": float(times[peak]), "window": list(self.window), "method": self.method,
            "comparison": self.comparison, "subjects": subject_ids,
        })
        return result

    def _clusters(self, similarity: np.ndarray, layers: Sequence[str], times: np.ndarray) -> dict[str, list[dict]]:
        """Per layer, clusters of similarity > 0 over time (needs >= 2 subjects): start/end s, mass, p."""
        if similarity.shape[0] < 2 or not self.n_permutations:
            return {}
        clusters = {}
        for i, layer in enumerate(layers):
            x = similarity[:, i, :]
            if np.any(x.std(axis=0) == 0):
                clusters[layer] = []
                continue
            test = cluster_permutation_test(x, n_permutations=self.n_permutations, seed=self.seed)
            clusters[layer] = [{"start": float(times[c[0]]), "end": float(times[c[-1]]), "mass": float(m),
                                "p": float(p)} for c, m, p in zip(test.clusters, test.cluster_masses,
                                                                   test.cluster_p_values)]
        return clusters


def improvement(result_a, result_b, layer: str | None = None, **test_options) -> ModelImprovement:
    """The paper's comparison of two scored models (e.g. ReAlnet vs CORnet-S) at one layer (default: A's best):
    similarity improvement r(A) - r(B) and ratio (r(A) - r(B)) / r(B) per time point, with paired clusters over
    the subjects both were compared with. ``test_options`` go to the cluster test (``n_permutations``, ``tail``)."""
    layer = layer or result_a.attrs["best_layer"]
    a, b = result_a.attrs["similarity"], result_b.attrs["similarity"]
    shared = [s for s in a["subject"].values.tolist() if s in set(b["subject"].values.tolist())]
    if len(shared) < 2:
        raise ValueError(f"the two scores share {len(shared)} subject(s) ({shared}); the paired test needs 2 or more")
    r_a, r_b = a.sel(layer=layer, subject=shared).values, b.sel(layer=layer, subject=shared).values
    return compare_models_over_time(r_a, r_b, **test_options)


def things_eeg_rsa(identifier: str = "things-eeg-rsa", **options) -> ThingsEEGRsaBenchmark:
    """``things-eeg-rsa`` (decoding-svm) or ``things-eeg-rsa-<method>``."""
    method = identifier[len("things-eeg-rsa-"):] if identifier.startswith("things-eeg-rsa-") else DEFAULT_METHOD
    return ThingsEEGRsaBenchmark(method, **options)
