"""Issue 17 section 2: the ranked EEG RDMs and the noise ceiling come from the RDM cache when another benchmark
object (or an earlier run) prepared the same EEG RDMs; what is served equals what scipy computes, and a changed
input (file, comparison) or a bad entry is never served. Also the noise ceiling reusing given ranks, and the bounded
memory of validated recordings."""
from __future__ import annotations

import importlib
import shutil

import numpy as np
import pytest
from scipy.stats import pearsonr, rankdata, spearmanr

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2 import data as eeg_data
from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
from benchmarks.rsa import noise_ceiling
from benchmarks.rsa.compare import RankedRDMs
from model_registry.storage.array_cache import ArrayCache, array_cache_key

module = importlib.import_module("benchmarks.things_eeg_rsa.benchmark")


@pytest.fixture(scope="module")
def eeg_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepared") / "things-eeg2"
    return generate_things_eeg2(root, n_subjects=3, n_test_images=10, n_test_repetitions=4, n_train_concepts=2,
                                n_train_per_concept=2, n_train_repetitions=2, image_size=16, seed=11, progress=False)


@pytest.fixture
def eeg_root(eeg_source, tmp_path):
    return shutil.copytree(eeg_source, tmp_path / "things-eeg2")


def _benchmark(root, **options):
    return load_benchmark("things-eeg-rsa-correlation", root=str(root), n_permutations=0, n_bootstrap=0,
                          **options)


def _counters(monkeypatch) -> dict:
    """How often the EEG RDMs are ranked (RankedRDMs of the (subject, time, pair) stack) and a ceiling computed."""
    counts = {"rankings": 0, "ceilings": 0}
    ranked_class, ceiling = module.RankedRDMs, module.noise_ceiling

    def ranking(rdms, *args, **kwargs):
        counts["rankings"] += np.ndim(rdms) == 3
        return ranked_class(rdms, *args, **kwargs)

    def ceilings(*args, **kwargs):
        counts["ceilings"] += 1
        return ceiling(*args, **kwargs)

    monkeypatch.setattr(module, "RankedRDMs", ranking)
    monkeypatch.setattr(module, "noise_ceiling", ceilings)
    return counts


def _by_hand(rdms: np.ndarray, method: str):
    """Standardised scipy ranks (Spearman) or values (Pearson) of every row, and the leave-one-out / all-subject
    ceilings with scipy's correlations, computed from the RDM stack (n_subjects, n_times, n_pairs) directly."""
    rows = rankdata(rdms, axis=-1) if method == "spearman" else rdms.astype(float)
    centred = rows - rows.mean(axis=-1, keepdims=True)
    units = centred / np.linalg.norm(centred, axis=-1, keepdims=True)
    correlation = spearmanr if method == "spearman" else pearsonr
    n = rdms.shape[0]
    lower = [np.mean([correlation(rdms[s, t], np.delete(rdms[:, t], s, 0).mean(0))[0] for s in range(n)])
             for t in range(rdms.shape[1])]
    upper = [np.mean([correlation(rdms[s, t], rdms[:, t].mean(0))[0] for s in range(n)])
             for t in range(rdms.shape[1])]
    return units, np.array(lower), np.array(upper)


@pytest.mark.parametrize("comparison", ["spearman", "pearson"])
def test_a_second_object_reads_ranks_and_ceiling_equal_to_scipys(eeg_root, monkeypatch, comparison):
    counts = _counters(monkeypatch)
    first = _benchmark(eeg_root, comparison=comparison)
    _, rdms, _ = first.eeg()
    computed = first._prepared_eeg()
    assert counts == {"rankings": 1, "ceilings": 1}  # a miss: ranked and ceiled once, then stored
    second = _benchmark(eeg_root, comparison=comparison, score_subjects=[1, 3], match_subject=False)
    served = second._prepared_eeg()
    assert counts == {"rankings": 1, "ceilings": 1}  # the other object (other options, same EEG RDMs): read back
    units, lower, upper = _by_hand(rdms, comparison)
    for ranked, low, high in (computed, served):
        np.testing.assert_allclose(ranked.values, units, rtol=0, atol=1e-12)
        np.testing.assert_allclose(low, lower, rtol=0, atol=1e-12)
        np.testing.assert_allclose(high, upper, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(served[0].values, computed[0].values)  # to the last bit
    assert served[0].stimulus_ids == tuple(second.stimuli.ids)
    # and the scores from the served ranks are scipy's correlations with the model RDM
    model = np.random.default_rng(3).random((1, rdms.shape[-1]))
    similarity = second.score_rdms(model, ["a"], "m").attrs["similarity"].values
    correlation = spearmanr if comparison == "spearman" else pearsonr
    expected = [[correlation(model[0], rdms[s, t])[0] for t in range(rdms.shape[1])] for s in (0, 2)]
    np.testing.assert_allclose(similarity[:, 0], expected, rtol=0, atol=1e-12)


def test_a_changed_file_or_comparison_is_not_served_from_the_cache(eeg_root, monkeypatch):
    counts = _counters(monkeypatch)
    _benchmark(eeg_root)._prepared_eeg()
    _benchmark(eeg_root, comparison="pearson")._prepared_eeg()  # another comparison: another entry
    assert counts == {"rankings": 2, "ceilings": 2}
    path = eeg_data.eeg_file(2, "test", eeg_root)
    content = np.load(path, allow_pickle=True).item()  # our own generated file
    content["preprocessed_eeg_data"] = content["preprocessed_eeg_data"][::-1].copy()  # subject 2's images swapped
    np.save(path, content, allow_pickle=True)
    changed = _benchmark(eeg_root)
    _, rdms, _ = changed.eeg()
    ranked, lower, upper = changed._prepared_eeg()
    assert counts == {"rankings": 3, "ceilings": 3}  # computed again from the new RDMs
    units, by_hand_lower, by_hand_upper = _by_hand(rdms, "spearman")
    np.testing.assert_allclose(ranked.values, units, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lower, by_hand_lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper, by_hand_upper, rtol=0, atol=1e-12)


def test_an_entry_that_fails_its_checks_is_recomputed(eeg_root, monkeypatch):
    counts = _counters(monkeypatch)
    benchmark = _benchmark(eeg_root)
    _, rdms, times = benchmark.eeg()
    parts = {"kind": "ranked EEG RDMs and noise ceiling", "eeg_rdms": rdms, "comparison": "spearman",
             "undefined": "nan", "pooling": "mean", "code_version": module.PREPARED_EEG_CODE_VERSION}
    cache = ArrayCache("rdms")
    # a well-formed entry under the right key (valid checksums) whose rows are raw RDM values, not ranks
    cache.store(array_cache_key(parts), {"prepared_0": rdms, "undefined_rows": np.zeros(rdms.shape[:2], bool),
                                         "ceiling_lower": np.zeros(len(times)), "ceiling_upper": np.zeros(len(times))},
                parts)
    ranked, lower, _ = benchmark._prepared_eeg()
    assert counts == {"rankings": 1, "ceilings": 1}
    units, by_hand_lower, _ = _by_hand(rdms, "spearman")
    np.testing.assert_allclose(ranked.values, units, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lower, by_hand_lower, rtol=0, atol=1e-12)


def test_cache_false_neither_reads_nor_writes_prepared_entries(eeg_root, monkeypatch):
    counts = _counters(monkeypatch)
    _benchmark(eeg_root, cache=False)._prepared_eeg()
    _benchmark(eeg_root, cache=False)._prepared_eeg()
    assert counts == {"rankings": 2, "ceilings": 2}
    assert not ArrayCache("rdms").root.exists() or not any(ArrayCache("rdms").root.rglob("*.npz"))


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_ranked_rdms_round_trip_through_arrays(method):
    rng = np.random.default_rng(4)
    rdms = np.round(rng.random((3, 5, 45)) * 8)  # ties
    rdms[1, 2] = np.nan
    ranked = RankedRDMs(rdms, method, undefined="nan", stimulus_ids=[f"i{k}" for k in range(10)])
    again = RankedRDMs.from_arrays(ranked.to_arrays(), method, undefined="nan",
                                   stimulus_ids=[f"i{k}" for k in range(10)])
    np.testing.assert_array_equal(again.values, ranked.values)
    np.testing.assert_array_equal(again.undefined_rows, rdms[..., 0] != rdms[..., 0])
    model = rng.random((2, 45))
    from benchmarks.rsa.compare import compare

    np.testing.assert_array_equal(compare(model, again[0], method, undefined="nan"),
                                  compare(model, ranked[0], method, undefined="nan"))
    with pytest.raises(ValueError, match="missing"):
        RankedRDMs.from_arrays({}, method)


def test_from_arrays_refuses_rows_that_are_not_standardised():
    rdms = np.random.default_rng(5).random((4, 45))
    arrays = {"prepared_0": rdms, "undefined_rows": np.zeros(4, bool)}
    with pytest.raises(ValueError, match="not standardised"):
        RankedRDMs.from_arrays(arrays, "spearman")
    with pytest.raises(ValueError, match="must be NaN"):
        RankedRDMs.from_arrays({**arrays, "undefined_rows": np.array([True, False, False, False])}, "spearman",
                               undefined="nan")


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_noise_ceiling_reusing_given_ranks_equals_scipy(method):
    rng = np.random.default_rng(6)
    rdms = np.round(rng.random((4, 6, 45)) * 10) + rng.random((1, 6, 45))  # shared signal, ties
    rdms[2, 3] = np.nan
    lower, upper = noise_ceiling(rdms, method, undefined="nan", ranked=RankedRDMs(rdms, method, undefined="nan"))
    assert np.isnan(lower[3]) and np.isnan(upper[3])
    good = [t for t in range(6) if t != 3]
    _, by_hand_lower, by_hand_upper = _by_hand(rdms[:, good], method)
    np.testing.assert_allclose(lower[good], by_hand_lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper[good], by_hand_upper, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        noise_ceiling(rdms[:3], method, undefined="nan", ranked=RankedRDMs(rdms, method, undefined="nan"))
    with pytest.raises(ValueError, match="method"):
        noise_ceiling(rdms, "spearman" if method == "pearson" else "pearson", undefined="nan",
                      ranked=RankedRDMs(rdms, method, undefined="nan"))


def test_a_miss_keeps_at_most_the_memory_budget_of_validated_recordings(eeg_root, monkeypatch):
    one_file = eeg_data.load_subject(1, "test", eeg_root).data.nbytes
    monkeypatch.setattr(module, "KEEP_VALIDATED_BYTES", one_file + one_file // 2)  # room for one recording
    reads = []
    load_subject = eeg_data.load_subject
    monkeypatch.setattr(eeg_data, "load_subject", lambda s, *a, **k: reads.append(s) or load_subject(s, *a, **k))
    benchmark = _benchmark(eeg_root, cache=False)
    benchmark.validate()
    assert sorted(benchmark._pending) == [1]  # subjects 2 and 3 are read again when their RDMs are computed
    _, rdms, _ = benchmark.eeg()
    assert reads == [1, 2, 3, 2, 3] and not benchmark._pending
    # the RDMs are those of the files: 1 - Pearson over (channel, time) of the repetition means, by hand
    for subject in (1, 2, 3):
        eeg = load_subject(subject, "test", eeg_root).data.mean(axis=1)
        rows, cols = np.triu_indices(eeg.shape[0], k=1)
        by_hand = np.stack([1 - np.corrcoef(eeg[:, :, t])[rows, cols] for t in range(eeg.shape[2])])
        np.testing.assert_allclose(rdms[subject - 1], by_hand, atol=1e-10)
