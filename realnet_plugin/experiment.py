"""``realnet experiment alignment``: a controlled experiment that isolates the EEG term of ReAlnet training.

Design (issue 12, section 3). On generated THINGS-EEG2-format data whose EEG is planted from a "brain" network
(:class:`benchmarks.datasets.things_eeg2.synth.RandomConvFeatures`, seed ``brain_seed``) that differs from the network
training starts from (a random CORnet-S, seed ``start_seed``, BatchNorm statistics calibrated on the training
images), every subject is trained twice: ``beta = 100`` (CE to the teacher's labels + 100 x EEG generation loss)
and ``beta = 0`` (the same fine-tuning without the EEG term). Everything else is identical within a subject: data,
teacher, starting weights, training seed (hence batch order), epochs, learning rate. Each model is scored on
``things-eeg-rsa`` against its own subject's EEG (``match_subject``, as the paper does), and the EEG-specific effect
per subject is ``similarity(beta 100) - similarity(beta 0)``; the group result is a paired t-test over subjects
(two-sided). A subject's similarity is the benchmark's raw score for that model: the window mean (default 0-500 ms)
of the subject's similarity time course at the model's best layer.

Subjects are independent replicates only if what differs between them is more than the EEG noise: by default
(``seed_per_subject``) subject ``s`` trains with seed ``seed + s - 1`` (both betas), so the paired test weighs the
effect against the training-seed variability the demo showed (0.11), not only against EEG noise.

The control that makes the experiment able to fail: ``signal='random'`` plants per-image patterns that are
independent of the pixels (subjects still agree, so the noise ceiling stays positive). No network can carry them
from the training images to the test images, so the expected effect is zero.

Budget: :data:`QUICK` (``--quick``) is sized for <= 20 minutes on 2 CPU cores; ``perf/experiment_alignment.py``
runs it (and the control) and prints the numbers quoted in the README.
"""
from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

EFFECT_BETAS = (0.0, 100.0)  # the contrast the effect is defined on: beta 100 minus beta 0


@dataclass(frozen=True)
class ExperimentSettings:
    """Generator, training and scoring sizes of the alignment experiment (defaults: the full run).

    Generator: ``n_subjects`` subjects, ``n_test_images`` test images x ``n_test_repetitions``,
    ``n_train_concepts`` x ``n_train_per_concept`` training images (4 repetitions), drawn at ``image_size`` px;
    EEG = time profile (``peak_time``, ``width`` s) x pattern + ``noise`` x N(0, 1); ``signal`` ``'images'``
    (patterns from the brain network's features) or ``'random'`` (the no-information control).
    Training: ``epochs``, ``lr``, ``batch_size``, BatchNorm ``'frozen'`` (the calibrated running statistics), no
    held-out split (last epoch), ``betas`` (must hold 0 and 100), ``seeds`` (several seeds: each subject's
    similarity is the mean over seeds). Scoring: ``things-eeg-rsa`` with ``method`` and ``method_params``.
    """

    n_subjects: int = 6
    n_test_images: int = 48
    n_test_repetitions: int = 20
    n_train_concepts: int = 40
    n_train_per_concept: int = 8
    image_size: int = 32
    peak_time: float = 0.15
    width: float = 0.08
    noise: float = 1.0
    signal: str = "images"
    brain_seed: int = 1
    start_seed: int = 0
    data_seed: int = 0
    epochs: int = 4
    lr: float = 3e-4
    batch_size: int = 16
    betas: tuple[float, ...] = EFFECT_BETAS
    seeds: tuple[int, ...] = (2023,)
    seed_per_subject: bool = True
    method: str = "decoding-svm"
    method_params: dict = field(default_factory=lambda: {"navg": 5, "n_folds": 4, "n_repeats": 2})
    window: tuple[float, float] = (0.0, 0.5)

    def __post_init__(self):
        for name in ("n_subjects", "n_test_images", "n_train_concepts", "n_train_per_concept", "epochs",
                     "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_subjects < 3:
            raise ValueError(f"n_subjects must be >= 3 (a paired test over subjects), got {self.n_subjects}")
        if not all(beta in self.betas for beta in EFFECT_BETAS):
            raise ValueError(f"betas must include 0 and 100 (the effect is beta 100 minus beta 0), got "
                             f"{list(self.betas)}")
        if not self.seeds:
            raise ValueError("seeds must name at least one training seed")
        if self.signal not in ("images", "random"):
            raise ValueError(f"signal must be 'images' or 'random' (the no-information control), got {self.signal!r}")

    def to_dict(self) -> dict:
        """JSON-ready form (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    def training_seed(self, seed: int, subject: int) -> int:
        """The training seed of ``subject`` (1-based) for the run seed ``seed`` (same for every beta)."""
        return seed + subject - 1 if self.seed_per_subject else seed


# sized for <= 20 minutes on 2 CPU cores (measured: perf/experiment_alignment.py, quoted in the README)
QUICK = ExperimentSettings(n_subjects=4, n_test_images=40, n_train_concepts=30, epochs=3)
FULL = ExperimentSettings()


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of ``effects`` (n,) against 0, two-sided: mean, sd, t, df, p and the 95 % CI of the mean."""

    mean: float
    sd: float
    t: float
    df: int
    p_value: float
    ci95: tuple[float, float]


def paired_test(effects: Sequence[float]) -> PairedTest:
    """Two-sided one-sample t-test of the per-subject differences ``effects`` (the paired t-test of the two
    conditions). Raises ``ValueError`` for fewer than 2 values; a zero spread gives t = +-inf and p = 0 (or NaN when
    every difference is 0)."""
    from scipy import stats

    values = np.asarray(effects, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        raise ValueError(f"a paired test needs >= 2 finite differences, got {values.tolist()}")
    n, mean, sd = len(values), float(values.mean()), float(values.std(ddof=1))
    if sd == 0:
        t = math.copysign(math.inf, mean) if mean else math.nan
        return PairedTest(mean, 0.0, t, n - 1, 0.0 if mean else math.nan, (mean, mean))
    t = mean / (sd / math.sqrt(n))
    p = float(2 * stats.t.sf(abs(t), n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return PairedTest(mean, sd, float(t), n - 1, p, (mean - half, mean + half))


@dataclass
class ExperimentResult:
    """Per-subject similarities per beta, the effect (beta 100 - beta 0) per subject and its paired test."""

    settings: ExperimentSettings
    subjects: list[int]
    similarity: dict[str, list[float]]  # f"{beta:g}" and "base" -> per subject (mean over seeds)
    by_seed: dict[str, dict[str, list[float]]]  # seed -> beta -> per subject
    layer_similarity: dict[str, dict[str, list[float]]]  # beta -> layer -> per subject (window mean)
    effects: list[float]
    test: PairedTest
    ceiling: float
    seconds: dict[str, float]
    home: str

    def to_json(self) -> dict:
        """The ``--json`` record: ``effect_mean``, ``p_value``, ``n_subjects``, per-subject values, settings."""
        return {
            "experiment": "alignment", "effect": "similarity(beta 100) - similarity(beta 0), per subject",
            "effect_mean": self.test.mean, "effect_sd": self.test.sd, "t": self.test.t, "df": self.test.df,
            "p_value": self.test.p_value, "ci95": list(self.test.ci95), "test": "paired t-test, two-sided",
            "n_subjects": len(self.subjects), "subjects": self.subjects, "effects": self.effects,
            "similarity": self.similarity, "similarity_by_seed": self.by_seed,
            "layer_similarity": self.layer_similarity, "noise_ceiling": self.ceiling,
            "similarity_definition": "raw things-eeg-rsa score against the model's own subject: window mean of "
                                     "the best layer's similarity (base: best layer per subject)",
            "settings": self.settings.to_dict(), "seconds": self.seconds, "home": self.home,
        }


def _say(progress: bool) -> Callable[..., None]:
    return print if progress else (lambda *args, **kwargs: None)


def _window_means(similarity, window: tuple[float, float]) -> np.ndarray:
    """(subject, layer, time) DataArray -> (subject, layer) window means."""
    times = similarity["time"].values
    mask = (times >= window[0] - 1e-9) & (times <= window[1] + 1e-9)
    return np.asarray(similarity.values)[:, :, mask].mean(axis=2)


def run_alignment(settings: ExperimentSettings = QUICK, home: str | os.PathLike | None = None, *,
                  progress: bool = True, threads: int | None = None) -> ExperimentResult:
    """Run the alignment experiment in ``home`` (a new temporary folder by default; it becomes ``REALNET_HOME``
    and holds the data, runs and caches). Returns the per-subject similarities, effects and the paired test.

    Raises ``ValueError`` for inconsistent settings before any data is written.
    """
    import torch

    from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
    from benchmarks.registry import load_benchmark
    from model_registry import Preprocessing, RegisteredModel
    from model_registry.cornet import CORNET_S_LAYERS, CORNET_S_REGIONS
    from model_registry.realnet import model_id
    from model_registry.registry import ModelSpec

    from .training import TrainConfig, build_teacher, calibrate_batch_norm, load_eeg_targets, split_pixels, train

    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="realnet-experiment-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["REALNET_HOME"] = str(home)
    if threads is not None:
        torch.set_num_threads(threads)
    say, seconds, started = _say(progress), {}, time.perf_counter()
    root = home / "data" / "things-eeg2"
    say(f"[1/3] generating {settings.n_subjects} subjects ({settings.signal} signal) in {root}")
    generate_things_eeg2(root, n_subjects=settings.n_subjects, n_test_images=settings.n_test_images,
                         n_train_concepts=settings.n_train_concepts,
                         n_train_per_concept=settings.n_train_per_concept,
                         n_test_repetitions=settings.n_test_repetitions, image_size=settings.image_size,
                         feature_fn=RandomConvFeatures(seed=settings.brain_seed), peak_time=settings.peak_time,
                         width=settings.width, noise=settings.noise, seed=settings.data_seed,
                         signal=settings.signal, overwrite=True, progress=False)
    seconds["generate"] = time.perf_counter() - started

    preprocessing = Preprocessing(image_size=settings.image_size, resize="resize")
    subjects = list(range(1, settings.n_subjects + 1))
    targets = {s: load_eeg_targets(s, root) for s in subjects}
    teacher, about = build_teacher("random", seed=settings.start_seed)
    teacher = calibrate_batch_norm(teacher, split_pixels(targets[1].training, preprocessing))  # same images for all
    benchmark = load_benchmark("things-eeg-rsa" if settings.method == "decoding-svm"
                               else f"things-eeg-rsa-{settings.method}", root=str(root), n_permutations=0,
                               method_params=dict(settings.method_params), window=list(settings.window))

    def candidate(identifier: str, network: torch.nn.Module, subject: int | None = None, beta: float | None = None):
        # a trained model records its subject: the benchmark compares it with that subject's EEG only
        spec = ModelSpec(identifier=identifier, builder=lambda pretrained: network, family="realnet",
                         layers=CORNET_S_LAYERS, region_layer_map=CORNET_S_REGIONS, preprocessing=preprocessing,
                         subject=subject, beta=beta)
        return RegisteredModel(spec, network=network.eval(), cache=False, progress=False)

    say("[2/3] scoring the untrained starting network (EEG RDMs of every subject computed once)")
    mark = time.perf_counter()
    base = benchmark(candidate("experiment_start", copy.deepcopy(teacher)))
    base_layers = _window_means(base.attrs["similarity"], settings.window)  # (subject, layer)
    ceiling = float(base.attrs["ceiling"])
    say("      start: similarity per subject " + ", ".join(f"{v:+.4f}" for v in base_layers.max(axis=1))
        + f"; noise ceiling {ceiling:.4f}")
    seconds["eeg_rdms_and_base"] = time.perf_counter() - mark

    keys = [f"{beta:g}" for beta in settings.betas]
    layers = list(base.attrs["similarity"]["layer"].values)
    by_seed = {str(seed): {key: [] for key in keys} for seed in settings.seeds}
    per_layer = {key: {layer: [] for layer in layers} for key in keys}
    n_runs, done = len(settings.seeds) * len(subjects) * len(settings.betas), 0
    train_seconds = score_seconds = 0.0
    for seed in settings.seeds:
        for subject in subjects:
            for beta, key in zip(settings.betas, keys):
                done += 1
                config = TrainConfig(subject=subject, beta=beta, epochs=settings.epochs,
                                     batch_size=settings.batch_size, lr=settings.lr,
                                     seed=settings.training_seed(seed, subject), image_size=settings.image_size,
                                     val_fraction=0.0, batch_norm="frozen")
                mark = time.perf_counter()
                result = train(config, targets[subject], teacher, home / "runs" / f"seed{seed}" / config.model_id,
                               register=False, progress=False, teacher_description=f"{about}, calibrated",
                               checkpoints=False)
                train_seconds += time.perf_counter() - mark
                mark = time.perf_counter()
                scored = benchmark(candidate(model_id(subject, beta), result.model.realnet, subject, beta))
                score_seconds += time.perf_counter() - mark
                similarity_of_model = scored.attrs["similarity"]  # (subject, layer, time): its own subject only
                if list(similarity_of_model["subject"].values) != [subject]:
                    raise RuntimeError(f"{model_id(subject, beta)} was scored against subjects "
                                       f"{list(similarity_of_model['subject'].values)}, not its own ({subject})")
                values = _window_means(similarity_of_model, settings.window)[0]  # (layer,)
                by_seed[str(seed)][key].append(float(scored.attrs["raw"]))
                for layer, value in zip(layers, values):
                    per_layer[key][layer].append(float(value))
                say(f"      [{done}/{n_runs}] seed {seed} subject {subject} beta {key:>4s}: similarity "
                    f"{float(scored.attrs['raw']):+.4f} (best layer {scored.attrs['best_layer']})")
    seconds.update(train=train_seconds, score=score_seconds)
    if len(settings.seeds) > 1:  # per-layer lists hold one value per (seed, subject): average over seeds
        per_layer = {key: {layer: np.mean(np.reshape(v, (len(settings.seeds), -1)), axis=0).tolist()
                           for layer, v in by_layer.items()} for key, by_layer in per_layer.items()}
    similarity = {key: np.mean([by_seed[str(seed)][key] for seed in settings.seeds], axis=0).tolist()
                  for key in keys}
    similarity["base"] = base_layers.max(axis=1).tolist()
    effects = (np.asarray(similarity["100"]) - np.asarray(similarity["0"])).tolist()
    test = paired_test(effects)
    seconds["total"] = time.perf_counter() - started
    say(f"[3/3] effect = similarity(beta 100) - similarity(beta 0) over {len(subjects)} subjects: mean "
        f"{test.mean:+.4f} (95 % CI {test.ci95[0]:+.4f} ... {test.ci95[1]:+.4f}), t({test.df}) = {test.t:.2f}, "
        f"p = {test.p_value:.3g}; {seconds['total']:.0f} s")
    return ExperimentResult(settings, subjects, similarity, by_seed, per_layer, effects, test, ceiling, seconds,
                            str(home))


def format_result(result: ExperimentResult) -> str:
    """A plain-text table: per subject the similarity of the start, beta 0, beta 100 and the effect."""
    keys = [f"{beta:g}" for beta in result.settings.betas]
    head = f"{'subject':>7s} {'start':>8s} " + " ".join(f"{'beta ' + k:>9s}" for k in keys) + f" {'effect':>8s}"
    lines = [head]
    for i, subject in enumerate(result.subjects):
        lines.append(f"{subject:7d} {result.similarity['base'][i]:+8.4f} "
                     + " ".join(f"{result.similarity[k][i]:+9.4f}" for k in keys) + f" {result.effects[i]:+8.4f}")
    test = result.test
    lines.append(f"effect mean {test.mean:+.4f} (sd {test.sd:.4f}, 95 % CI {test.ci95[0]:+.4f} ... "
                 f"{test.ci95[1]:+.4f}); paired t({test.df}) = {test.t:.2f}, p = {test.p_value:.3g}; "
                 f"noise ceiling {result.ceiling:.4f}")
    return "\n".join(lines)
