"""``realnet demo``: the paper's workflow end to end, offline, on generated data, in a scratch ``REALNET_HOME``.

1. Generate a small THINGS-EEG2-format dataset whose EEG is planted from a "brain" network's features.
2. Train a small-input ReAlnet on subject 1 (teacher and starting point: a seeded random CORnet-S whose BatchNorm
   statistics are calibrated on the training images, since the pretrained CORnet-S cannot be downloaded offline).
3. The run registers itself as ``realnet_s01_b100``; its beta-0 control (the same fine-tuning, same seed and data,
   without the EEG term) as ``realnet_s01_b0``; the untrained starting point as ``demo_cornet_s_base``.
4. Score all three on ``things-eeg-rsa`` (decoding-svm EEG RDMs, the paper's protocol; subject 1's EEG) through the
   leaderboard, write a time-course figure per model, the improvement figure and the leaderboard page (both
   figures and the improvement with its paired clusters embedded), and print where they are.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

BASE_ID = "demo_cornet_s_base"
TRAINED_ID = "realnet_s01_b100"
CONTROL_ID = "realnet_s01_b0"  # the same training without the EEG term: what the EEG itself adds


@dataclass(frozen=True)
class DemoSizes:
    """Dataset and training sizes (defaults: < 5 minutes on 2 CPU cores)."""

    n_subjects: int = 3
    n_test_images: int = 40
    n_train_concepts: int = 22
    n_train_per_concept: int = 8
    n_test_repetitions: int = 20  # decoding-svm: navg 5 x 4 folds
    image_size: int = 32
    epochs: int = 2
    lr: float = 3e-4
    n_permutations: int = 200


@dataclass(frozen=True)
class DemoResult:
    home: Path
    scores: dict[str, float]
    raw: dict[str, float]
    figure: Path  # the trained model's time course
    improvement_figure: Path
    leaderboard: Path
    figures: dict[str, Path] | None = None  # model id -> its time-course figure (the trained model and the base)


def run_demo(home: Path | None = None, sizes: DemoSizes = DemoSizes(), progress: bool = True) -> DemoResult:
    """Run the demo in ``home`` (a new temporary folder by default)."""
    home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="realnet-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["REALNET_HOME"] = str(home)
    os.environ["REALNET_DATA_DIR"] = str(home / "data")

    from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
    from model_registry import Preprocessing, register_model
    from model_registry.cornet import CORNET_S_LAYERS, CORNET_S_REGIONS

    from .leaderboard import render_leaderboard, run_leaderboard
    from .plots import plot_improvement, plot_time_course
    from .training import TrainConfig, build_teacher, calibrate_batch_norm, load_eeg_targets, split_pixels, train

    started = time.perf_counter()
    say = print if progress else (lambda *args, **kwargs: None)
    root = home / "data" / "things-eeg2"
    say(f"[1/4] generating THINGS-EEG2-format data ({sizes.n_subjects} subjects) in {root}")
    generate_things_eeg2(root, n_subjects=sizes.n_subjects, n_test_images=sizes.n_test_images,
                         n_train_concepts=sizes.n_train_concepts, n_train_per_concept=sizes.n_train_per_concept,
                         n_test_repetitions=sizes.n_test_repetitions, image_size=sizes.image_size,
                         feature_fn=RandomConvFeatures(seed=1), overwrite=True, progress=progress)

    say(f"[2/4] training ReAlnet on subject 1 ({sizes.epochs} epochs, {sizes.image_size} px, beta 100)")
    targets = load_eeg_targets(1, root)
    preprocessing = Preprocessing(image_size=sizes.image_size, resize="resize")
    teacher, about = build_teacher("random", seed=0)
    teacher = calibrate_batch_norm(teacher, split_pixels(targets.training, preprocessing))
    base = copy.deepcopy(teacher)
    register_model(BASE_ID, family="cornet", layers=CORNET_S_LAYERS, region_layer_map=CORNET_S_REGIONS,
                   preprocessing=preprocessing, description="the demo's untrained starting point")(
        lambda pretrained: copy.deepcopy(base))
    config = TrainConfig(subject=1, beta=100.0, epochs=sizes.epochs, batch_size=16, lr=sizes.lr,
                         image_size=sizes.image_size, val_fraction=0.0, batch_norm="frozen")
    trained = train(config, targets, teacher, progress=progress, teacher_description=f"{about}, calibrated")
    say(f"      registered {TRAINED_ID} in {trained.registered}")
    say("      and its control: the same training with beta 0 (no EEG term)")
    control = train(replace(config, beta=0.0), targets, teacher, progress=progress,
                    teacher_description=f"{about}, calibrated")
    say(f"      registered {CONTROL_ID} in {control.registered}")

    say("[3/4] scoring on things-eeg-rsa (decoding-svm EEG RDMs, subject 1)")
    options = {"root": str(root), "n_permutations": sizes.n_permutations, "score_subjects": [1]}
    run = run_leaderboard([TRAINED_ID, CONTROL_ID, BASE_ID], ["things-eeg-rsa"], benchmark_options=options,
                          progress=progress)
    failed = [outcome for outcome in run.outcomes if not outcome.result.ok]
    if failed:
        raise RuntimeError(f"scoring failed: {failed[0].result.message}")
    by_model = {r.model: r for r in run.results}
    attrs = {model: json.loads(result.attrs) for model, result in by_model.items()}

    say("[4/4] figures and leaderboard page")
    figures = home / "figures"
    time_courses = {model: plot_time_course(attrs[model], figures / f"{model}_things-eeg-rsa.png",
                                            title=f"{model} (demo) on things-eeg-rsa")
                    for model in (TRAINED_ID, BASE_ID)}
    figure = time_courses[TRAINED_ID]
    improvement = plot_improvement(attrs[TRAINED_ID], attrs[BASE_ID], figures / "improvement.png", layer="IT",
                                   label_a=TRAINED_ID, label_b="untrained base")
    page = render_leaderboard(run.results, home / "leaderboard.html", figures=time_courses,
                              pairs=[(TRAINED_ID, BASE_ID)], title="realnet demo leaderboard")
    scores = {model: float(result.score) for model, result in by_model.items()}
    raw = {model: float(result.raw) for model, result in by_model.items()}
    for model in (TRAINED_ID, CONTROL_ID, BASE_ID):
        say(f"      {model:22s} things-eeg-rsa {scores[model]:.3f} (raw {raw[model]:.3f}, best layer "
            f"{attrs[model].get('best_layer')})")
    say(f"      EEG term's own effect (beta 100 - beta 0): {raw[TRAINED_ID] - raw[CONTROL_ID]:+.3f}; training "
        f"without EEG vs the base: {raw[CONTROL_ID] - raw[BASE_ID]:+.3f} (one subject, one seed: `realnet experiment "
        "alignment` tests the effect over subjects)")
    say(f"time-course figure: {figure}\nbase model figure:  {time_courses[BASE_ID]}\n"
        f"improvement figure: {improvement}\nleaderboard page:   {page}")
    say(f"demo finished in {time.perf_counter() - started:.0f} s (home {home})")
    return DemoResult(home, scores, raw, figure, improvement, page, time_courses)
