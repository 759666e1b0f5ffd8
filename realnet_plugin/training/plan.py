"""The paper's sweep: one ReAlnet per subject and beta (10 subjects x betas 1, 10, 100, 1000 = 40 runs).

A run is *finished* when its model is registered (``<models_root>/realnet_sXX_bYY/model.pt`` and ``config.json``);
``train-all`` skips those, resumes runs whose folder holds a checkpoint, and starts the rest.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from model_registry.realnet import model_id
from model_registry.storage.paths import models_dir, realnet_home

PAPER_SUBJECTS = tuple(range(1, 11))
PAPER_BETAS = (1.0, 10.0, 100.0, 1000.0)
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_subjects(text: str) -> list[int]:
    """``'1-10'`` -> [1, ..., 10]; ``'1,3,5-7'`` -> [1, 3, 5, 6, 7] (sorted, without repeats)."""
    subjects: set[int] = set()
    for part in text.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ValueError(f"cannot read subjects {text!r}: expected numbers and ranges like '1-10' or '1,3,5-7'")
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1 or last < first:
            raise ValueError(f"bad subject range {part.strip()!r} in {text!r}: subjects start at 1, ranges go up")
        subjects.update(range(first, last + 1))
    return sorted(subjects)


def parse_betas(text: str) -> list[float]:
    """``'1,10,100,1000'`` -> [1.0, 10.0, 100.0, 1000.0]; every beta must be a number >= 0."""
    betas = []
    for part in text.split(","):
        try:
            beta = float(part)
        except ValueError:
            raise ValueError(f"cannot read betas {text!r}: {part.strip()!r} is not a number") from None
        if not beta >= 0:
            raise ValueError(f"betas must be >= 0, got {part.strip()!r} in {text!r}")
        if beta not in betas:
            betas.append(beta)
    return betas


@dataclass(frozen=True)
class PlannedRun:
    """One (subject, beta) of the sweep; ``status`` is ``'done'`` (registered), ``'resume'`` or ``'new'``."""

    subject: int
    beta: float
    model_id: str
    run_dir: Path
    status: str


def is_registered(identifier: str, models_root: Path | None = None) -> bool:
    """Whether ``identifier`` has a trained model (``model.pt`` and ``config.json``) under ``models_root``."""
    folder = Path(models_root or models_dir()) / identifier
    return (folder / "model.pt").is_file() and (folder / "config.json").is_file()


def check_registration(identifier: str, overwrite: bool, models_root: Path | None = None,
                       flag: str = "--overwrite") -> Path | None:
    """Before any model is built: ``identifier``'s model folder under ``models_root`` (default
    ``$REALNET_HOME/models``) is kept unless ``overwrite``. Returns the folder a new training will replace
    (``overwrite`` and the folder exists), else ``None``.

    Raises ``FileExistsError`` (one line naming the model, its folder and ``flag``) when the folder exists, complete
    (``model.pt`` + ``config.json``) or not (an incomplete folder may still hold the only copy of a run's weights).
    """
    folder = Path(models_root or models_dir()) / identifier
    if not folder.exists() and not folder.is_symlink():
        return None
    if overwrite:
        return folder
    what = "is already registered in" if is_registered(identifier, models_root) else "already has a model folder"
    raise FileExistsError(f"{identifier} {what} {folder}; it is kept and nothing was trained: pass {flag} to train "
                          f"it again and replace it, or train another subject / --beta")


def plan_runs(subjects: Sequence[int], betas: Sequence[float], *, models_root: Path | None = None,
              runs_root: Path | None = None, backbone: str = "cornet_s", modality: str = "eeg") -> list[PlannedRun]:
    """Every (subject, beta) pair, subject-major, with its status and run folder
    (``runs_root``/``<model id>``, default ``$REALNET_HOME/runs``); ids of ``backbone`` / ``modality``
    (:func:`model_registry.realnet.model_id`)."""
    runs_root = Path(runs_root or realnet_home() / "runs")
    planned = []
    for subject in subjects:
        for beta in betas:
            identifier = model_id(subject, beta, backbone, modality)
            run_dir = runs_root / identifier
            if is_registered(identifier, models_root):
                status = "done"
            elif (run_dir / "checkpoint.pt").is_file():
                status = "resume"
            else:
                status = "new"
            planned.append(PlannedRun(subject, beta, identifier, run_dir, status))
    return planned


def job_command(run: PlannedRun, train_options: Sequence[str] = (), program: Sequence[str] = ("realnet",)) -> str:
    """The shell command that trains ``run`` on its own (e.g. one cluster job):
    ``realnet train --subject 1 --beta 100 --out RUN_DIR [--resume] OPTIONS``."""
    words = [*program, "train", "--subject", str(run.subject), "--beta", f"{run.beta:g}", "--out", str(run.run_dir)]
    if run.status == "resume":
        words.append("--resume")
    return shlex.join([*words, *train_options])


def check_run_folder(run_dir: str | Path | None, resume: bool, flag: str = "--out") -> None:
    """Before any model is built: ``run_dir`` must be a folder (or not exist), hold no ``checkpoint.pt`` unless
    ``resume``, and hold one when ``resume``. Raises ``ValueError`` / ``FileExistsError`` / ``FileNotFoundError``
    naming the folder and the flag to use."""
    if run_dir is None:
        return
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{flag} {run_dir}: it is a file; expected a folder for checkpoints and logs")
    for ancestor in run_dir.absolute().parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ValueError(f"{flag} {run_dir}: {ancestor} is a file, not a folder")
            break
    checkpoint = run_dir / "checkpoint.pt"
    if not resume and checkpoint.exists():
        raise FileExistsError(f"{checkpoint} exists: pass --resume to continue that run, or choose another {flag}")
    if resume and not checkpoint.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {checkpoint} to continue from; drop --resume to start anew")


def check_subjects_data(subjects: Sequence[int], root: str | Path | None = None) -> None:
    """Before any model is built: every subject in ``subjects`` has both THINGS-EEG2 EEG files (training and test)
    under ``root`` and ``image_metadata.npy`` is valid. Reads no EEG (cheap); raises an error naming the subjects
    without data and the folder, so a sweep does not stop at its first missing subject after training others."""
    from benchmarks.datasets.things_eeg2.data import (
        ThingsEEG2NotFoundError,
        available_subjects,
        load_image_metadata,
        resolve_root,
        subject_folders_hint,
    )

    load_image_metadata(root)
    training, test = set(available_subjects(root, "training")), set(available_subjects(root, "test"))
    missing = [s for s in subjects if s not in training or s not in test]
    if missing:
        folder = resolve_root(root) / "preprocessed_data"
        found = (f"training EEG for subjects {sorted(training)}, test EEG for {sorted(test)}" if training or test
                 else subject_folders_hint(root))
        raise ThingsEEG2NotFoundError(
            f"subjects {missing} lack preprocessed_eeg_training.npy and/or preprocessed_eeg_test.npy under {folder} "
            f"(found {found}); add their data or leave them out of --subjects")
