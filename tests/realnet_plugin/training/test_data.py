import numpy as np
import pytest

from benchmarks.datasets.things_eeg2.data import CHANNEL_NAMES, ThingsEEG2NotFoundError, load_subject
from realnet_plugin.training.data import EEGWindow, ZScore, epoch_batches, holdout_split, load_eeg_targets


def test_targets_are_averaged_windowed_channel_major_and_zscored_with_training_numbers(tiny_root, tiny_targets):
    training, test = load_subject(1, "training", tiny_root), load_subject(1, "test", tiny_root)
    start = int(np.flatnonzero(np.isclose(training.times, 0.0))[0])
    raw_train = training.data.mean(axis=1)[:, :, start:start + 20]  # (N, 17, 20)
    raw_test = test.data.mean(axis=1)[:, :, start:start + 20]
    mean, std = raw_train.mean(), raw_train.std()
    assert tiny_targets.n_output == 340 == EEGWindow().n_output
    assert tiny_targets.zscore.mean == pytest.approx(mean) and tiny_targets.zscore.std == pytest.approx(std)
    # channel-major: target[c * 20 + t]
    np.testing.assert_allclose(tiny_targets.training.targets[:, 3 * 20 + 7], (raw_train[:, 3, 7] - mean) / std,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiny_targets.test.targets, ((raw_test - mean) / std).reshape(len(raw_test), -1),
                               rtol=1e-5, atol=1e-6)
    assert abs(tiny_targets.training.targets.mean()) < 1e-5 and tiny_targets.training.targets.std() == pytest.approx(
        1, abs=1e-5)
    assert tiny_targets.training.targets.dtype == np.float32
    assert [p.name for p in tiny_targets.test.paths] == list(test.image_files)


def test_window_parameters(tiny_root):
    window = EEGWindow(channels=("Oz", "Pz"), t_start=0.1, n_times=5)
    targets = load_eeg_targets(1, tiny_root, window)
    raw = load_subject(1, "training", tiny_root)
    start = int(np.flatnonzero(np.isclose(raw.times, 0.1))[0])
    oz, pz = CHANNEL_NAMES.index("Oz"), CHANNEL_NAMES.index("Pz")
    expected = raw.data.mean(axis=1)[:, [oz, pz], start:start + 5].reshape(len(raw.data), -1)
    np.testing.assert_allclose(targets.training.targets, ZScore.fit(expected).apply(expected), rtol=1e-5, atol=1e-6)
    assert targets.n_output == 10
    with pytest.raises(ValueError, match=r"\['Cz'\] are not in the recording"):
        load_eeg_targets(1, tiny_root, EEGWindow(channels=("Cz",)))
    with pytest.raises(ValueError, match="0.005 s is not a sample time"):
        load_eeg_targets(1, tiny_root, EEGWindow(t_start=0.005))
    with pytest.raises(ValueError, match="runs past the epoch"):
        load_eeg_targets(1, tiny_root, EEGWindow(t_start=0.7, n_times=20))


def test_missing_data_is_a_clear_error(tmp_path, tiny_root):
    with pytest.raises(ThingsEEG2NotFoundError, match="THINGS-EEG2 root not found"):
        load_eeg_targets(1, tmp_path / "nowhere")
    with pytest.raises(ThingsEEG2NotFoundError, match="subject 2 not found"):
        load_eeg_targets(2, tiny_root)


def test_holdout_split_by_concept_and_by_image():
    concepts = [f"{c:05d}_c" for c in range(10) for _ in range(4)]
    train, held = holdout_split(concepts, 0.2, "concept", seed=1)
    assert len(held) == 8 and len(train) == 32
    assert not {concepts[i] for i in train} & {concepts[i] for i in held}
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(40))
    again = holdout_split(concepts, 0.2, "concept", seed=1)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(holdout_split(concepts, 0.2, "concept", seed=2)[1], held)
    train, held = holdout_split(concepts, 0.1, "image", seed=1)
    assert len(held) == 4 and len(train) == 36
    assert len(holdout_split(concepts, 0.0)[1]) == 0
    with pytest.raises(ValueError, match=r"val fraction must lie in \[0, 1\)"):
        holdout_split(concepts, 1.0)
    with pytest.raises(ValueError, match="split_by"):
        holdout_split(concepts, 0.1, "subject")


def test_epoch_batches_depend_only_on_seed_and_epoch():
    indices = np.arange(3, 26)  # 23 images
    batches = epoch_batches(indices, 4, seed=2023, epoch=0)
    assert [len(b) for b in batches] == [4, 4, 4, 4, 4, 3]
    assert sorted(np.concatenate(batches).tolist()) == indices.tolist()
    assert all(np.array_equal(a, b) for a, b in zip(batches, epoch_batches(indices, 4, seed=2023, epoch=0)))
    assert not np.array_equal(np.concatenate(batches), np.concatenate(epoch_batches(indices, 4, 2023, epoch=1)))
    assert [len(b) for b in epoch_batches(np.arange(9), 4, 0, 0)] == [4, 4]  # a last batch of one is dropped
