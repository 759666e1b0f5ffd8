"""RDMs as a model on things-eeg-rsa (generated THINGS-EEG2 files), and its EEG RDMs as rsatoolbox RDMs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import squareform

from benchmarks import load_benchmark
from benchmarks.datasets.things_eeg2 import data as eeg_data
from benchmarks.rdm_model import RdmModel, neural_rdms
from model_registry import Preprocessing, wrap


def test_rdms_of_a_wrapped_network_score_like_it_in_any_id_order_and_eeg_rdms_round_trip(small_dataset):
    benchmark = load_benchmark("things-eeg-rsa-correlation", root=str(small_dataset), n_permutations=0,
                               n_bootstrap=0)
    torch.manual_seed(5)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3))
    model = wrap(network, layers=["0", "2"], preprocessing=Preprocessing(image_size=48), progress=False)
    expected = benchmark(model)
    stimuli = eeg_data.stimuli("test", small_dataset)
    activations = model.activations(stimuli, ["0", "2"])
    matrices = {}
    for layer in ("0", "2"):
        matrix = 1 - np.corrcoef(np.asarray(activations.sel(layer=layer).values, dtype=np.float64))
        np.fill_diagonal(matrix, 0)
        matrices[layer] = (matrix + matrix.T) / 2
    ids = list(stimuli.ids)
    order = np.random.default_rng(1).permutation(len(ids))
    shuffled = RdmModel.from_arrays({k: m[np.ix_(order, order)] for k, m in matrices.items()}, [ids[i] for i in order])
    got = benchmark(shuffled)
    np.testing.assert_allclose(got.attrs["similarity"].values, expected.attrs["similarity"].values, atol=1e-9)
    with pytest.raises(ValueError, match=r"missing \(first: \[" + repr(ids[0]).replace("'", "'")):
        benchmark(RdmModel.from_arrays({k: m[1:, 1:] for k, m in matrices.items()}, ids[1:]))
    # the benchmark's EEG RDMs out as rsatoolbox RDMs; one subject's RDM at one time scored as a model meets itself
    rdms = neural_rdms(benchmark)
    subjects, eeg, times = benchmark.eeg()
    assert rdms.n_rdm == len(subjects) * len(times) and rdms.pattern_descriptors["stimulus_id"] == ids
    t = int(np.argmin(np.abs(np.asarray(times) - 0.1)))
    chosen = rdms.subset("subject", int(subjects[0])).subset("time", float(times[t]))
    np.testing.assert_allclose(chosen.dissimilarities[0], np.asarray(eeg)[0, t], atol=0)
    assert squareform(chosen.get_matrices()[0], checks=False).shape == (len(ids) * (len(ids) - 1) // 2,)
    itself = benchmark(RdmModel.from_rsatoolbox(chosen, rdm_descriptor="subject"))
    assert float(itself.attrs["similarity"].values[0, 0, t]) == pytest.approx(1.0, abs=1e-12)
