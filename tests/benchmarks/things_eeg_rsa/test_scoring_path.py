"""Issue 13 section 3, one straight scoring path: each file read once per benchmark object, cache hits without a
full read, stimulus ids asserted at the comparison, ids that round-trip, the subject read from the model, one
noise ceiling per benchmark object."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from benchmarks import list_benchmarks, load_benchmark
from benchmarks.datasets.things_eeg2 import data as eeg_data
from benchmarks.model_features import ModelRDMs
from benchmarks.rsa.compare import check_stimulus_order, compare, reorder_rdms
from benchmarks.things_eeg_rsa import benchmark as module
from model_registry.storage import array_cache, file_identity


def _age(root, seconds: float = 3600) -> None:
    """Move every file's mtime back (ctime stays now): the stamped-digest rule trusts only settled files, so the
    tests set the racy window to 0 instead of waiting."""
    for path in root.rglob("*.npy"):
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


@pytest.fixture
def counted(tiny_copy, monkeypatch):
    """Counters of EEG file reads (load_subject), metadata reads and full content digests."""
    counts = {"eeg": [], "metadata": 0, "digest": 0}
    load_subject, load_metadata, digest = eeg_data.load_subject, eeg_data.load_image_metadata, file_identity.file_digest

    def count_subject(subject, *args, **kwargs):
        counts["eeg"].append(subject)
        return load_subject(subject, *args, **kwargs)

    def count_metadata(*args, **kwargs):
        counts["metadata"] += 1
        return load_metadata(*args, **kwargs)

    def count_digest(path):
        counts["digest"] += 1
        return digest(path)

    monkeypatch.setattr(eeg_data, "load_subject", count_subject)
    monkeypatch.setattr(eeg_data, "load_image_metadata", count_metadata)
    monkeypatch.setattr(file_identity, "file_digest", count_digest)
    monkeypatch.setattr(file_identity, "RACY_SECONDS", 0.0)
    return counts


def _benchmark(root, **options):
    options = {"root": root, "n_permutations": 0, "n_bootstrap": 0, "ceiling": True, **options}
    return load_benchmark("things-eeg-rsa-correlation", **options)


def test_a_cache_miss_reads_each_file_once_and_metadata_once(tiny_copy, counted):
    benchmark = _benchmark(tiny_copy)
    benchmark.validate()
    subjects, rdms, _ = benchmark.eeg()
    benchmark.eeg(), benchmark.validate(), benchmark.ceiling  # noqa: B018 (kept: nothing read again)
    assert subjects == [1, 2]
    assert counted["eeg"] == [1, 2]  # one unpickle per subject although the RDMs were computed (a miss)
    assert counted["metadata"] == 1
    assert counted["digest"] == 2  # each file digested once, for the RDM cache key
    # the numbers are those of the files, computed by hand: 1 - Pearson over (channel, time) per time point
    eeg = eeg_data.load_subject(2, "test", tiny_copy).data.mean(axis=1)  # (images, channels, times)
    rows, cols = np.triu_indices(eeg.shape[0], k=1)
    by_hand = np.stack([1 - np.corrcoef(eeg[:, :, t])[rows, cols] for t in range(eeg.shape[2])])
    np.testing.assert_allclose(rdms[1], by_hand, atol=1e-10)


def test_a_cache_hit_neither_recomputes_nor_rereads_a_settled_file(tiny_copy, counted, monkeypatch):
    _age(tiny_copy)
    first = _benchmark(tiny_copy).eeg()[1]
    assert counted["digest"] == 2
    monkeypatch.setattr(module, "eeg_rdms", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    counted["eeg"].clear()
    again = _benchmark(tiny_copy).eeg()[1]  # a new object: files validated once more, no digest, no RDM compute
    np.testing.assert_array_equal(first, again)
    assert counted["digest"] == 2 and counted["eeg"] == [1, 2]


def test_a_changed_file_is_digested_again_and_never_served_stale_rdms(tiny_copy, counted):
    _age(tiny_copy)
    benchmark = _benchmark(tiny_copy)
    before = benchmark.eeg()[1]
    path = eeg_data.eeg_file(2, "test", tiny_copy)
    content = np.load(path, allow_pickle=True).item()
    content["preprocessed_eeg_data"] = content["preprocessed_eeg_data"][::-1].copy()  # images swapped
    stat = path.stat()
    np.save(path, content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: only ctime tells
    assert path.stat().st_size == stat.st_size
    after = benchmark.eeg()[1]  # the same object sees the new stamp and reads again
    assert counted["digest"] == 3
    assert not np.allclose(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    assert counted["eeg"] == [1, 2, 1, 2]


def test_stamped_digest_equals_the_full_digest_and_a_young_file_is_not_trusted(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 1000)
    calls = []
    digest = array_cache.file_digest
    monkeypatch.setattr(file_identity, "file_digest", lambda p: calls.append(p) or digest(p))
    first = file_identity.stamped_digest(path)
    assert first == digest(path)
    file_identity.stamped_digest(path)
    assert len(calls) == 2  # written just now: within the racy window, so digested every time
    monkeypatch.setattr(file_identity, "RACY_SECONDS", 0.0)
    time.sleep(0.01)
    file_identity.stamped_digest(path)
    assert file_identity.stamped_digest(path) == first and len(calls) == 3


def test_stimulus_order_is_asserted_at_the_comparison(tiny_copy):
    benchmark = _benchmark(tiny_copy, ceiling=False)
    _, rdms, _ = benchmark.eeg()
    ids = benchmark.stimuli.ids
    assert ids == eeg_data.load_image_metadata(tiny_copy).stimulus_ids("test")
    model = rdms[0, 40:42]
    right = benchmark.score_rdms(ModelRDMs(model, ("a", "b"), ids, "m"))
    np.testing.assert_array_equal(right.attrs["similarity"].values,
                                  benchmark.score_rdms(model, ["a", "b"], "m").attrs["similarity"].values)
    swapped = (ids[1], ids[0], *ids[2:])
    with pytest.raises(ValueError, match=r"order their 4 stimuli differently \(position 0"):
        benchmark.score_rdms(ModelRDMs(model, ("a", "b"), swapped, "m"))
    with pytest.raises(ValueError, match="order their 4 stimuli differently"):
        benchmark.score_rdms(model, ["a", "b"], "m", stimulus_ids=swapped)
    # reordered by id, the same RDMs score as before: reorder_rdms against a square-matrix permutation by hand
    square = np.zeros((4, 4))
    square[np.triu_indices(4, 1)] = model[0]
    square = square + square.T
    permutation = [1, 0, 2, 3]
    rows, cols = np.triu_indices(4, 1)
    by_hand = square[np.ix_(permutation, permutation)][rows, cols]
    np.testing.assert_array_equal(reorder_rdms(model[0], ids, swapped), by_hand)
    moved = ModelRDMs(reorder_rdms(model, ids, swapped), ("a", "b"), swapped, "m")
    with pytest.raises(ValueError, match="differently"):
        benchmark.score_rdms(moved)
    back = ModelRDMs(reorder_rdms(moved.rdms, swapped, ids), ("a", "b"), ids, "m")
    np.testing.assert_array_equal(benchmark.score_rdms(back).attrs["similarity"].values,
                                  right.attrs["similarity"].values)


def test_compare_refuses_other_stimuli_and_other_orders():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 6)), rng.random((3, 6))
    with pytest.raises(ValueError, match=r"are over different stimuli \(only in rdms_a: \['d'\]"):
        compare(a, b, ids_a="abcd", ids_b="abce")
    with pytest.raises(ValueError, match=r"position 2: 'c' vs 'd'"):
        compare(a, b, ids_a="abcd", ids_b="abdc")
    check_stimulus_order(None, "abcd")  # unknown on one side: nothing to check
    np.testing.assert_array_equal(compare(a, b, ids_a="abcd", ids_b="abcd"), compare(a, b))


def test_benchmark_ids_round_trip():
    assert load_benchmark("things-eeg-rsa-decoding-svm").identifier == "things-eeg-rsa-decoding-svm"
    assert load_benchmark("things-eeg-rsa").identifier == "things-eeg-rsa"
    checked = 0
    # the package's own ids, listed by a fresh interpreter (other tests register ids of their own in this process)
    listing = subprocess.run([sys.executable, "-c", "from benchmarks import list_benchmarks; "
                              "print('\\n'.join(list_benchmarks('*')))"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert set(listing) <= set(list_benchmarks("*"))
    for identifier in listing:
        assert load_benchmark(identifier).identifier == identifier
        checked += 1
    assert checked >= len(module.EEG_RDM_METHODS) + 3
    with pytest.raises(ValueError, match="does not name the EEG RDM method 'correlation'"):
        module.ThingsEEGRsaBenchmark("correlation", identifier="things-eeg-rsa")


class Probe:
    """A BrainModel-like candidate whose features are fixed arrays (no network)."""

    layers = ("IT",)

    def __init__(self, identifier, features, subject=None):
        self.identifier, self.features = identifier, features
        if subject is not None:
            self.subject = subject

    def activations(self, stimuli, layers):
        from model_registry.extractor import LayerBlock, _assembly

        block = LayerBlock("IT", "IT", 0, (self.features.shape[1],), 0, self.features.shape[1])
        return _assembly(self.features, [block], stimuli, self.identifier)


def test_subject_is_read_from_the_model_and_conflicts_are_refused(tiny_copy):
    benchmark = _benchmark(tiny_copy, ceiling=False)
    features = np.random.default_rng(3).random((4, 10))
    # an id naming a subject the model does not record: refused (never silently compared with every subject)
    with pytest.raises(ValueError, match="realnet_s02_b100 records no training subject but its id names subject 2"):
        benchmark(Probe("realnet_s02_b100", features))
    unmatched = _benchmark(tiny_copy, ceiling=False, match_subject=False)(Probe("realnet_s02_b100", features))
    assert unmatched.attrs["subjects"] == [1, 2]
    assert unmatched.attrs["benchmark_identifier"] == "things-eeg-rsa-correlation"
    own = benchmark(Probe("anything", features, subject=2))
    assert own.attrs["subjects"] == [2]
    rows, cols = np.triu_indices(4, 1)
    model = 1 - np.corrcoef(features)[rows, cols]
    _, rdms, _ = benchmark.eeg()
    from scipy.stats import spearmanr

    by_hand = [spearmanr(model, rdms[1, t]).statistic for t in range(rdms.shape[1])]
    np.testing.assert_allclose(own.attrs["similarity"].values[0, 0], by_hand, atol=1e-12)
    chosen = _benchmark(tiny_copy, ceiling=False, score_subjects=[1])
    with pytest.raises(ValueError, match=r"trained on subject 2 and match_subject=True .* score_subjects=\[1\]"):
        chosen(Probe("anything", features, subject=2))
    assert chosen(Probe("anything", features, subject=1)).attrs["subjects"] == [1]  # agreeing: no conflict
    unmatched = _benchmark(tiny_copy, ceiling=False, score_subjects=[1], match_subject=False)
    assert unmatched(Probe("anything", features, subject=2)).attrs["subjects"] == [1]


def test_the_noise_ceiling_is_computed_once_per_benchmark_object(tiny_copy, monkeypatch):
    calls = []
    real = module.noise_ceiling
    monkeypatch.setattr(module, "noise_ceiling", lambda *a, **k: calls.append(1) or real(*a, **k))
    benchmark = _benchmark(tiny_copy)
    rng = np.random.default_rng(5)
    for seed in range(3):
        benchmark(Probe(f"m{seed}", rng.random((4, 10))))
    _ = benchmark.ceiling, benchmark.ceiling
    assert len(calls) == 1
