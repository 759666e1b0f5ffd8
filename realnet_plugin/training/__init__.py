"""ReAlnet training: EEG targets and images (:mod:`.data`), the loss (:mod:`.losses`), teacher labels
(:mod:`.teacher`), the training loop and registration (:mod:`.trainer`), multi-process training
(:mod:`.distributed`) and the paper's 40-run plan (:mod:`.plan`).

>>> from realnet_plugin.training import TrainConfig, build_teacher, load_eeg_targets, train
>>> teacher, about = build_teacher('pretrained')  # doctest: +SKIP
>>> train(TrainConfig(subject=1, beta=100), load_eeg_targets(1), teacher, teacher_description=about)  # doctest: +SKIP
"""
from .checkpoint import CheckpointError
from .data import BrainTargets, EEGWindow, ImageSplit, ZScore, holdout_split, load_eeg_targets, split_pixels
from .losses import LossTerms, correlation_term, generation_loss, pearson_matrix, realnet_loss
from .teacher import build_teacher, calibrate_batch_norm, teacher_labels
from .trainer import TrainConfig, TrainResult, build_student, default_run_dir, evaluate, train

__all__ = [
    "BrainTargets", "CheckpointError", "calibrate_batch_norm", "split_pixels",
    "EEGWindow", "ImageSplit", "LossTerms", "TrainConfig", "TrainResult",
    "ZScore", "build_student", "build_teacher", "correlation_term", "default_run_dir", "evaluate",
    "generation_loss", "holdout_split", "load_eeg_targets", "pearson_matrix", "realnet_loss", "teacher_labels",
    "train",
]
