"""A short CPU training on synthetic THINGS-EEG2 whose EEG is planted from a known "brain" network makes ReAlnet
predict held-out EEG better and raises its RSA similarity to that EEG.

Set-up: the brain is the generator's RandomConvFeatures(seed=1) (a different network from the student); the
teacher and starting point is a random CORnet-S (seed 0) whose BatchNorm statistics were calibrated on the training
images; 22 concepts x 8 = 176 training images, 40 test images, 32 px; beta 100, lr 3e-4, batch 16, 2 epochs
(22 steps), BatchNorm frozen. Similarity as the paper computes it, simplified: model RDM = 1 - Pearson over the
test images' flattened IT features, EEG RDM = 1 - Pearson over channels of the repetition-averaged test EEG
averaged over 0.10-0.20 s (the planted peak), Spearman over the upper triangle.

Measured on the 2-core CPU: held-out generation loss 1.757 -> 1.079; IT RSA 0.157 -> 0.364 (V4 0.215 -> 0.413).
Control (not run here, to keep the test short): the same training with beta = 0 gives IT RSA 0.050 and V4 0.187,
so the rise comes from the EEG term. Asserted margins: about half the measured effects.
"""
import numpy as np
import torch
from scipy.stats import spearmanr

from benchmarks.datasets.things_eeg2.data import load_subject
from benchmarks.datasets.things_eeg2.synth import RandomConvFeatures, generate_things_eeg2
from model_registry.preprocessing import Preprocessing
from realnet_plugin.training import (
    TrainConfig,
    build_student,
    build_teacher,
    calibrate_batch_norm,
    evaluate,
    load_eeg_targets,
    split_pixels,
    train,
)


def _it_rsa(backbone, images, eeg_rdm):
    backbone.eval()
    with torch.no_grad():
        features = images
        for name, stage in backbone.named_children():
            features = stage(features)
            if name == "IT":
                break
    model_rdm = 1 - np.corrcoef(features.flatten(1).double().numpy())
    upper = np.triu_indices(len(eeg_rdm), 1)
    return spearmanr(model_rdm[upper], eeg_rdm[upper])[0]


def test_training_lowers_held_out_generation_loss_and_raises_rsa(tmp_path):
    root = generate_things_eeg2(tmp_path / "things-eeg2", n_subjects=1, n_test_images=40, n_train_concepts=22,
                                n_train_per_concept=8, image_size=32, feature_fn=RandomConvFeatures(seed=1),
                                progress=False)
    targets = load_eeg_targets(1, root)
    preprocessing = Preprocessing(image_size=32, resize="resize")
    teacher = calibrate_batch_norm(build_teacher("random", seed=0)[0], split_pixels(targets.training, preprocessing))

    test_eeg = load_subject(1, "test", root)
    in_peak = (test_eeg.times >= 0.10) & (test_eeg.times <= 0.20)
    eeg_rdm = 1 - np.corrcoef(test_eeg.data.mean(axis=1)[:, :, in_peak].mean(axis=-1))  # (40, 40)
    test_images = split_pixels(targets.test, preprocessing)

    config = TrainConfig(subject=1, beta=100.0, epochs=2, batch_size=16, lr=3e-4, image_size=32, val_fraction=0.0,
                         batch_norm="frozen")
    held_out = dict(split=targets.test, labels=np.zeros(len(targets.test), dtype=np.int64),
                    indices=np.arange(len(targets.test)))
    options = dict(beta=100.0, preprocessing=preprocessing, device=torch.device("cpu"), batch_size=16)
    start = build_student(config, targets.n_output, teacher)  # the exact starting point of the run
    loss_before = evaluate(start, **held_out, **options)["generation"]
    rsa_before = _it_rsa(start.realnet, test_images, eeg_rdm)

    result = train(config, targets, teacher, tmp_path / "run", register=False, progress=False)
    loss_after = evaluate(result.model, **held_out, **options)["generation"]
    rsa_after = _it_rsa(result.model.realnet, test_images, eeg_rdm)

    assert loss_after < loss_before - 0.3, (loss_before, loss_after)
    assert rsa_after > rsa_before + 0.1, (rsa_before, rsa_after)
