"""score() refuses options it would ignore (issue 13 section 3), and shared_benchmark gives one benchmark object
per (id, options) that scores many models reading its data once."""
from __future__ import annotations

import numpy as np
import pytest

import realnet_plugin
from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2 import data as eeg_data
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.rdm_model import RdmModel
from realnet_plugin import api


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """4 test images x 3 repetitions, 2 subjects, in the official layout."""
    return generate_things_eeg2(tmp_path_factory.mktemp("tiny") / "things-eeg2", n_subjects=2, n_test_images=4,
                                n_train_concepts=2, n_train_per_concept=2, n_test_repetitions=3,
                                n_train_repetitions=2, image_size=16, progress=False)


class Ready:
    """An already-built BrainModel-like candidate; building anything from it would be a mistake."""

    identifier, layers = "ready_model", ("IT",)

    def activations(self, stimuli, layers):
        raise AssertionError("no activations may be extracted")


@pytest.fixture
def no_benchmark_work(monkeypatch):
    """Fails if score() loads or validates a benchmark (the refusal must come first)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a benchmark was built before the option was refused")

    monkeypatch.setattr(api, "_load_benchmark", refuse)
    monkeypatch.setattr(api, "validate_benchmark", refuse)


def test_benchmark_options_with_a_built_benchmark_name_the_option(tiny_dataset):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=tiny_dataset)
    for option, value in (("layers", ["IT"]), ("method_params", {"navg": 1})):
        with pytest.raises(ValueError) as caught:
            realnet_plugin.score(Ready(), benchmark, **{option: value})
        assert str(caught.value) == (
            f"score(): benchmark option {option}={value!r} does not apply to the already-built benchmark "
            f"'things-eeg-rsa-correlation'; pass it when building it: load_benchmark('things-eeg-rsa-correlation', "
            f"{option}=...), or pass the benchmark id")


def test_model_options_with_a_built_model_are_refused_before_any_benchmark_work(no_benchmark_work):
    with pytest.raises(ValueError) as caught:
        realnet_plugin.score(Ready(), "things-eeg-rsa", model_options={"device": "cpu"})
    assert str(caught.value) == ("score(): model option device='cpu' does not apply to the already-built model "
                                 "'ready_model'; pass it when building it: load_model('ready_model', device=...), or "
                                 "pass the model id")
    rdms = RdmModel.from_arrays({"IT": np.ones((3, 3)) - np.eye(3)}, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"^score\(\): model option batch_size=8 does not apply"):
        realnet_plugin.score(rdms, "things-eeg-rsa", model_options={"batch_size": 8})
    with pytest.raises(ValueError, match=r"^score\(\): preprocessing= does not apply to the model family"):
        realnet_plugin.score("realnet_s*_b100", "things-eeg-rsa", preprocessing={"image_size": 224})
    assert "\n" not in str(caught.value)


def test_shared_benchmark_is_one_object_per_options_and_reads_once(tiny_dataset, monkeypatch):
    monkeypatch.setattr(api, "_SHARED", type(api._SHARED)())
    monkeypatch.setattr(api, "_RESERVED", 0)
    reads = []
    load_subject = eeg_data.load_subject
    monkeypatch.setattr(eeg_data, "load_subject", lambda s, *a, **k: reads.append(s) or load_subject(s, *a, **k))
    options = {"root": str(tiny_dataset), "n_permutations": 0, "n_bootstrap": 0, "ceiling": False}
    first = api.shared_benchmark("things-eeg-rsa-correlation", **options)
    assert api.shared_benchmark("things-eeg-rsa-correlation", **dict(reversed(options.items()))) is first
    other = api.shared_benchmark("things-eeg-rsa-correlation", **{**options, "window": [0.0, 0.3]})
    assert other is not first and other.window == (0.0, 0.3)
    _, rdms, _ = first.eeg()
    for layer_time in (30, 50, 70):  # three "models" scored by the one object
        model = RdmModel.from_arrays({"IT": _square(rdms[0, layer_time])}, list(first.stimuli.ids))
        result = realnet_plugin.score(model, first)
        assert result.attrs["benchmark_identifier"] == "things-eeg-rsa-correlation"
    assert reads == [1, 2]  # each EEG file read once for all three
    with pytest.raises(TypeError, match="not JSON-shaped"):
        api.shared_benchmark("things-eeg-rsa-correlation", root=object())
    monkeypatch.setattr(api, "SHARED_BENCHMARKS", 1)
    api.shared_benchmark("things-eeg-rsa-correlation", **{**options, "window": [0.0, 0.2]})
    assert api.shared_benchmark("things-eeg-rsa-correlation", **options) is not first  # evicted, built anew


def _square(condensed: np.ndarray) -> np.ndarray:
    n = int((1 + np.sqrt(1 + 8 * len(condensed))) / 2)
    square = np.zeros((n, n))
    square[np.triu_indices(n, 1)] = condensed
    return square + square.T


class _Built:
    def __init__(self, identifier, thread_safe):
        self.identifier, self.thread_safe = identifier, thread_safe


def test_shared_benchmark_shares_thread_safe_objects_across_threads_only(monkeypatch):
    """A benchmark declaring thread_safe = True is one object for all threads; any other is one per thread."""
    import threading

    monkeypatch.setattr(api, "_SHARED", type(api._SHARED)())
    monkeypatch.setattr(api, "_RESERVED", 0)
    builds = []
    monkeypatch.setattr(api, "_load_benchmark", lambda identifier, **options: builds.append(identifier) or _Built(
        identifier, identifier == "safe"))
    seen, fetched, release = {}, {n: threading.Event() for n in "ab"}, threading.Event()

    def worker(name):
        seen[name] = (api.shared_benchmark("safe", x=1), api.shared_benchmark("unsafe", x=1))
        fetched[name].set()
        release.wait(10)  # alive until both have fetched: thread ids are reused only after a thread ends

    threads = {n: threading.Thread(target=worker, args=(n,)) for n in "ab"}
    threads["a"].start()
    fetched["a"].wait(10)  # the first thread's objects exist when the second asks
    threads["b"].start()
    fetched["b"].wait(10)
    release.set()
    for thread in threads.values():
        thread.join()
    assert seen["a"][0] is seen["b"][0]
    assert seen["a"][1] is not seen["b"][1]
    assert sorted(builds) == ["safe", "unsafe", "unsafe"]


def test_keep_and_forget_shared_benchmarks(monkeypatch):
    """A leaderboard run keeps all its benchmarks (beyond SHARED_BENCHMARKS) until it forgets them."""
    monkeypatch.setattr(api, "_SHARED", type(api._SHARED)())
    monkeypatch.setattr(api, "SHARED_BENCHMARKS", 2)
    monkeypatch.setattr(api, "_RESERVED", 0)
    monkeypatch.setattr(api, "_load_benchmark", lambda identifier, **options: _Built(identifier, True))
    api.keep_shared_benchmarks(5)
    first = [api.shared_benchmark(f"b{i}") for i in range(5)]
    assert [api.shared_benchmark(f"b{i}") for i in range(5)] == first and all(
        a is b for a, b in zip(first, [api.shared_benchmark(f"b{i}") for i in range(5)]))
    api.forget_shared_benchmarks()
    assert len(api._SHARED) == 0 and api._RESERVED == 0
    again = [api.shared_benchmark(f"b{i}") for i in range(3)]
    assert len(api._SHARED) == 2 and all(a is not b for a, b in zip(first, again))
