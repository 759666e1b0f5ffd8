"""Issue 11, section 1 for things-eeg-rsa: every bad input is one clear line naming the file / value and the
expectation, raised before any model is built or any activation extracted (a probe model counts its builds)."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2 import data
from benchmarks.datasets.things_eeg2.data import ThingsEEG2FormatError, ThingsEEG2NotFoundError
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.things_eeg_rsa import benchmark as module
from model_registry import Preprocessing, load_model, register_model

PIXELS = Preprocessing(image_size=16, resize="resize", mean=(0.5, 0.5, 0.5), std=(1.0, 1.0, 1.0))
BUILDS: list[str] = []


class NaNAfter(torch.nn.Module):
    """Multiplies by NaN: every output of this layer is NaN (as NaN weights would make it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("nan")


def _probe(identifier: str, nan_layer: bool = False) -> str:
    """Register (once) a small conv net whose builds are counted in BUILDS; layers '1' (ReLU) and '3' (flatten)."""
    def build(pretrained: bool) -> torch.nn.Module:
        BUILDS.append(identifier)
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                                   NaNAfter() if nan_layer else torch.nn.Identity(), torch.nn.Flatten())

    from model_registry import list_models

    if identifier not in list_models(identifier):
        register_model(identifier, family="test", layers=("1", "3"), region_layer_map={"IT": "3"},
                       preprocessing=PIXELS)(build)
    return identifier


def _generate(path: Path, **sizes) -> Path:
    options = dict(n_subjects=2, n_test_images=6, n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=4,
                   n_train_repetitions=2, image_size=16, progress=False)
    return generate_things_eeg2(path, **{**options, **sizes})


@pytest.fixture(scope="module")
def four_reps(tmp_path_factory) -> Path:
    """2 subjects, 6 test images, 4 repetitions (too few for the paper's decoding protocol)."""
    return _generate(tmp_path_factory.mktemp("four") / "things-eeg2")


@pytest.fixture
def four_copy(four_reps, tmp_path) -> Path:
    return Path(shutil.copytree(four_reps, tmp_path / "things-eeg2"))


@pytest.fixture(scope="module")
def one_subject(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("one") / "things-eeg2", n_subjects=1)


def _test_file(root: Path, subject: int) -> Path:
    return root / "preprocessed_data" / f"sub-{subject:02d}" / "preprocessed_eeg_test.npy"


def _rewrite(path: Path, values: np.ndarray) -> None:
    content = np.load(path, allow_pickle=True).item()  # our own generated file
    content["preprocessed_eeg_data"] = values
    np.save(path, content, allow_pickle=True)


def _score_without_model(benchmark, identifier: str):
    """Score a freshly loaded probe; returns the raised error and asserts the network was never built."""
    before = len(BUILDS)
    with pytest.raises(Exception) as caught:
        benchmark(load_model(identifier, progress=False, cache=False))
    assert len(BUILDS) == before, "the model was built before the input error"
    return caught.value


# --- data: subject folders -----------------------------------------------------------------------------------------
def test_no_subject_folder_names_what_is_there(four_copy):
    folder = four_copy / "preprocessed_data"
    for subject in (1, 2):
        shutil.move(folder / f"sub-{subject:02d}", folder / f"subject{subject}")
    error = _score_without_model(load_benchmark("things-eeg-rsa-correlation", root=four_copy),
                                 _probe("test_val_probe"))
    assert isinstance(error, ThingsEEG2NotFoundError)
    message = str(error)
    assert "\n" not in message
    assert f"no subject with a test EEG file under {folder}" in message
    assert "subject1/, subject2/" in message and "expected folders sub-01, sub-02" in message


def test_unpadded_subject_folders_are_the_same_subjects(four_copy):
    folder = four_copy / "preprocessed_data"
    shutil.move(folder / "sub-01", folder / "sub-1")
    assert data.available_subjects(four_copy) == [1, 2]
    assert data.eeg_file(1, "test", four_copy) == folder / "sub-1" / "preprocessed_eeg_test.npy"
    assert data.load_subject(1, "test", four_copy).source == folder / "sub-1" / "preprocessed_eeg_test.npy"
    inputs = load_benchmark("things-eeg-rsa-correlation", root=four_copy).validate()
    assert inputs.subjects == [1, 2] and inputs.sources[1] == folder / "sub-1" / "preprocessed_eeg_test.npy"


def test_two_folders_of_one_subject_are_refused_by_name(four_copy):
    folder = four_copy / "preprocessed_data"
    shutil.copytree(folder / "sub-01", folder / "sub-1")
    with pytest.raises(ThingsEEG2FormatError) as caught:
        data.available_subjects(four_copy)
    assert f"{folder / 'sub-01'} and {folder / 'sub-1'} both name subject 1" in str(caught.value)
    error = _score_without_model(load_benchmark("things-eeg-rsa-correlation", root=four_copy),
                                 _probe("test_val_probe"))
    assert "both name subject 1" in str(error)


def test_subject_zero_folder_is_refused(four_copy):
    folder = four_copy / "preprocessed_data"
    shutil.move(folder / "sub-02", folder / "sub-00")
    with pytest.raises(ThingsEEG2FormatError, match=r"sub-00: subject numbers start at 1"):
        data.available_subjects(four_copy)


# --- data: values ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["zeros", "huge", "inf"])
def test_all_zero_or_overflowing_eeg_names_the_subject_file(four_copy, kind):
    path = _test_file(four_copy, 2)
    values = np.load(path, allow_pickle=True).item()["preprocessed_eeg_data"]
    if kind == "zeros":
        values = np.zeros_like(values)
        expected = "is all zeros"
    elif kind == "huge":
        values = values.copy()
        values[3, 1, 2, 7] = 1e200  # finite in float64, but its square overflows
        expected = "holds 1e+200 at (image, repetition, channel, time) = (3, 1, 2, 7)"
    else:
        values = values.copy()
        values[0, 0, 0, 0] = np.inf
        expected = "1 NaN/infinite values"
    _rewrite(path, values)
    error = _score_without_model(load_benchmark("things-eeg-rsa-correlation", root=four_copy),
                                 _probe("test_val_probe"))
    assert isinstance(error, ThingsEEG2FormatError)
    assert str(error).startswith(f"{path}: 'preprocessed_eeg_data'") and expected in str(error)


# --- protocol vs data ----------------------------------------------------------------------------------------------
def test_default_protocol_on_four_repetitions_gives_the_remedy(four_reps):
    benchmark = load_benchmark("things-eeg-rsa", root=four_reps, n_permutations=0)
    error = _score_without_model(benchmark, _probe("test_val_probe"))
    message = str(error)
    assert "\n" not in message
    assert f"{_test_file(four_reps, 1)} holds 4 repetitions per image" in message
    assert "navg=5, n_folds=4" in message and "needs >= 20 repetitions" in message
    assert "method_params={'navg': 1}" in message and """--option 'method_params={"navg":1}'""" in message
    # the remedy it names is accepted by the same data (4 // 4 folds = 1 repetition per pseudo-trial)
    load_benchmark("things-eeg-rsa", root=four_reps, method_params={"navg": 1}).validate()


def test_remedy_lowers_the_folds_when_needed(four_reps):
    benchmark = load_benchmark("things-eeg-rsa-decoding-lda", root=four_reps, method_params={"n_folds": 6})
    with pytest.raises(ValueError) as caught:
        benchmark.validate()
    assert "navg=5, n_folds=6" in str(caught.value) and "method_params={'navg': 1, 'n_folds': 4}" in str(caught.value)
    assert "needs >= 20" not in str(caught.value)  # not the paper's protocol
    load_benchmark("things-eeg-rsa-decoding-lda", root=four_reps, method_params={"navg": 1, "n_folds": 4}).validate()


# --- subjects and the noise ceiling ------------------------------------------------------------------------------
def test_one_subject_needs_ceiling_false(one_subject, four_reps):
    for benchmark in (load_benchmark("things-eeg-rsa-correlation", root=one_subject),
                      load_benchmark("things-eeg-rsa-correlation", root=four_reps, subjects=[2])):
        error = _score_without_model(benchmark, _probe("test_val_probe"))
        assert "the noise ceiling needs the EEG of >= 2 subjects, found 1" in str(error)
        assert "ceiling=False" in str(error) and "--option ceiling=false" in str(error)


def test_unceiled_score_is_the_raw_similarity(one_subject):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=one_subject, ceiling=False, n_permutations=0)
    recording = data.load_subject(1, "test", one_subject)
    means = recording.data.mean(axis=1)  # (images, channels, times)
    rows, cols = np.triu_indices(means.shape[0], k=1)
    eeg = np.stack([1 - np.corrcoef(means[:, :, t])[rows, cols] for t in range(means.shape[2])])  # (times, pairs)
    rng = np.random.default_rng(3)
    models = rng.random((2, len(rows)))
    result = benchmark.score_rdms(models, ["a", "b"], "probe")
    window = (recording.times >= -1e-9) & (recording.times <= 0.5 + 1e-9)
    per_layer = [np.mean([spearmanr(m, eeg[t]).statistic for t in np.flatnonzero(window)]) for m in models]
    assert float(result) == pytest.approx(max(per_layer), abs=1e-10)
    assert result.attrs["ceiled"] is False and np.isnan(float(result.attrs["ceiling"]))


def test_a_non_positive_ceiling_is_an_error_unless_unceiled(four_reps, monkeypatch):
    negative = (np.full(100, -0.05), np.full(100, 0.1))
    monkeypatch.setattr(module, "noise_ceiling", lambda *args, **kwargs: negative)
    models = np.random.default_rng(0).random((1, 15))
    ceiled = load_benchmark("things-eeg-rsa-correlation", root=four_reps, n_permutations=0)
    with pytest.raises(ValueError, match=r"lower noise ceiling of -0\.05 .* Pass ceiling=False"):
        ceiled.score_rdms(models, ["a"], "probe")
    raw = load_benchmark("things-eeg-rsa-correlation", root=four_reps, n_permutations=0, ceiling=False)
    result = raw.score_rdms(models, ["a"], "probe")
    assert float(result) == pytest.approx(float(result.attrs["raw"]))


class RecordingCandidate:
    """A BrainModel stand-in named like a ReAlnet; ``activations`` records that extraction was asked for."""

    identifier = "realnet_s07_b100"
    subject = 7  # read from the model, not from its id
    layers = ("IT",)

    def __init__(self):
        self.calls = []

    def activations(self, stimuli, layers):
        self.calls.append(layers)
        raise AssertionError("activations must not be extracted")


def test_a_realnet_model_without_its_subject_fails_before_extraction(four_reps):
    candidate = RecordingCandidate()
    with pytest.raises(ValueError) as caught:
        load_benchmark("things-eeg-rsa-correlation", root=four_reps)(candidate)
    assert "realnet_s07_b100 is trained on subject 7, whose EEG is not in" in str(caught.value)
    assert "match_subject=False" in str(caught.value) and candidate.calls == []


# --- the model side ---------------------------------------------------------------------------------------------------
def test_non_finite_features_name_the_model_and_layer(four_reps):
    identifier = _probe("test_val_nan_probe", nan_layer=True)
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=four_reps, n_permutations=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError) as caught:
            benchmark(load_model(identifier, progress=False, cache=False))
    message = str(caught.value)
    n_features = 4 * 14 * 14  # conv 3x3 on 16 px -> 4 x 14 x 14
    assert message.startswith(f"model {identifier} layer '3': {6 * n_features} of {6 * n_features} features are "
                              f"not finite ({6 * n_features} NaN, 0 inf), in 6 of 6 images")


def test_a_tiny_positive_ceiling_scores_with_a_warning_naming_it(four_reps, monkeypatch):
    tiny = (np.full(100, 0.02), np.full(100, 0.1))
    monkeypatch.setattr(module, "noise_ceiling", lambda *args, **kwargs: tiny)
    models = np.random.default_rng(0).random((1, 15))
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=four_reps, n_permutations=0, n_bootstrap=0)
    with pytest.warns(RuntimeWarning, match=r"lower noise ceiling over the window .* is only 0\.02, so the ceiled "
                                            r"score .* is dominated by noise"):
        result = benchmark.score_rdms(models, ["a"], "probe")
    assert float(result) == pytest.approx(float(result.attrs["raw"]) / 0.02)
