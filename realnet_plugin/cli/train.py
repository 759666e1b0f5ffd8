"""``realnet train`` (one ReAlnet) and ``realnet train-all`` (the paper's subjects x betas sweep).

Multi-process (DDP) training: ``torchrun --nproc_per_node N -m realnet_plugin train ...`` (or the
``realnet`` script path in place of ``-m ...``); ``--batch-size`` stays the global batch.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .registry import command

# (flag, dest, argparse keywords): the options `train` and `train-all` share, also turned back into words for the
# job commands `train-all --print-commands` writes.
_SHARED_OPTIONS: list[tuple[str, str, dict]] = [
    ("--epochs", "epochs", dict(type=int, default=30, help="training epochs (default 30)")),
    ("--batch-size", "batch_size", dict(type=int, default=16, help="global batch size (default 16)")),
    ("--lr", "lr", dict(type=float, default=2e-5, help="Adam learning rate (default 2e-5)")),
    ("--seed", "seed", dict(type=int, default=2023, help="random seed (default 2023)")),
    ("--val-fraction", "val_fraction", dict(
        type=float, default=0.1, help="share of the training images held out to select the best epoch "
        "(default 0.1; 0 keeps the last epoch)")),
    ("--split-by", "split_by", dict(choices=["concept", "image"], default="concept",
                                    help="hold out whole concepts (default) or single images")),
    ("--image-size", "image_size", dict(type=int, default=224, help="input size in pixels, multiple of 32 "
                                                                     "(default 224)")),
    ("--data-dir", "data_dir", dict(type=Path, default=None, help="THINGS-EEG2 root (default "
                                                                   "$REALNET_DATA_DIR/things-eeg2)")),
    ("--device", "device", dict(default=None, help="torch device (default: cuda when available, else cpu)")),
    ("--amp", "amp", dict(action="store_true", help="mixed precision (CUDA only: autocast + GradScaler)")),
    ("--paper-exact", "paper_exact", dict(
        action="store_true", help="the authors' behaviour: sets --detach-correlation, --select-on-test, "
        "--no-holdout and --bn-passes 2 (each can still be given explicitly)")),
    ("--detach-correlation", "detach_correlation", dict(
        action=argparse.BooleanOptionalAction, default=None,
        help="the correlation term sends no gradient, as in the authors' code (default: off; on with "
        "--paper-exact)")),
    ("--select-on-test", "select_on_test", dict(
        action=argparse.BooleanOptionalAction, default=None,
        help="choose the best epoch on the test images (also the RSA images), as the authors did (default: off; "
        "on with --paper-exact)")),
    ("--holdout", "holdout", dict(
        action=argparse.BooleanOptionalAction, default=None,
        help="hold out --val-fraction of the training images (default: on; --no-holdout, as --paper-exact, trains "
        "on every training image)")),
    ("--bn-passes", "bn_passes", dict(
        type=int, default=None, help="backbone passes per step the BatchNorm running statistics follow: 1 (ours, "
        "momentum 0.1) or 2 (the authors' double forward, effective momentum 0.19; default 1, 2 with "
        "--paper-exact)")),
    ("--teacher-bn", "teacher_bn", dict(
        choices=["eval", "train"], default="eval",
        help="teacher labels from eval-mode BatchNorm (default, cached) or train-mode BatchNorm on each training "
        "batch (the authors' notebook)")),
    ("--batch-norm", "batch_norm", dict(
        choices=["batch", "sync", "frozen"], default="batch",
        help="BatchNorm in training: batch statistics (default, the paper), sync across processes (CUDA), or "
        "frozen running statistics")),
    ("--teacher", "teacher", dict(
        choices=["pretrained", "random"], default="pretrained",
        help="teacher and starting point: ImageNet CORnet-S (default, downloaded) or a random CORnet-S (offline "
        "dry runs only)")),
    ("--teacher-seed", "teacher_seed", dict(type=int, default=0, help="seed of --teacher random (default 0)")),
    ("--backbone", "backbone", dict(
        default="cornet_s", help="the network to align: any registered model id (cornet_s = the paper, default; "
        "resnet101, clip_rn101, torchvision:resnet18, timm:...). Ids: realnet_<backbone>_sXX_bYY with ':' as '-'")),
    ("--layers", "layers", dict(
        default=None, help="comma-separated module names feeding the generation module (default: the backbone's "
        "V1, V2, V4, IT layers)")),
    ("--task-loss", "task_loss", dict(
        action=argparse.BooleanOptionalAction, default=True,
        help="cross-entropy to the teacher's (the backbone's own pretrained classifier) labels (default on; "
        "--no-task-loss for backbones without a classifier head, e.g. CLIP towers)")),
    ("--reduce", "reduce", dict(
        choices=["none", "pool", "project"], default="none",
        help="fixed reduction before each layer encoder for large layers: average pooling or a fixed-seed random "
        "projection to --reduce-dim features (default none; CORnet-S always none)")),
    ("--reduce-dim", "reduce_dim", dict(type=int, default=4096, help="features per layer after --reduce "
                                                                      "(default 4096)")),
    ("--modality", "modality", dict(
        choices=["eeg", "fmri"], default="eeg",
        help="brain targets: THINGS-EEG2 (default) or THINGS-fMRI ROI betas reduced by PCA fitted on the training "
        "images only (ReAlnet-fMRI, ids realnet-fmri_...); --data-dir then defaults to $REALNET_DATA_DIR/things-fmri")),
    ("--rois", "rois", dict(default="V1,V2,V3,hV4,LOC", help="--modality fmri: ROIs whose voxels form the targets "
                                                             "(default V1,V2,V3,hV4,LOC)")),
    ("--fmri-dim", "fmri_dim", dict(type=int, default=1024, help="--modality fmri: PCA components kept (default "
                                                                  "1024)")),
    ("--reduce-seed", "reduce_seed", dict(type=int, default=0, help="seed of --reduce project (default 0)")),
    ("--channels", "channels", dict(default=None, help="EEG channels, comma-separated (default: all 17)")),
    ("--t-start", "t_start", dict(type=float, default=0.0, help="first EEG sample of the target window, seconds "
                                                                 "(default 0.0)")),
    ("--n-times", "n_times", dict(type=int, default=20, help="EEG samples in the target window (default 20: "
                                                              "0.00-0.19 s)")),
    ("--dtype", "dtype", dict(choices=["float32", "float64"], default="float32",
                              help="weights' precision (default float32; float64 for numerical checks on CPU)")),
    ("--num-workers", "num_workers", dict(type=int, default=0, help="image loading processes (default 0)")),
    ("--keep-checkpoints", "keep_checkpoints", dict(action="store_true",
                                                    help="also keep every epoch's checkpoint (large)")),
    ("--no-progress", "no_progress", dict(action="store_true", help="no progress bars")),
]


def _add_shared_options(parser: argparse.ArgumentParser) -> None:
    for flag, dest, keywords in _SHARED_OPTIONS:
        parser.add_argument(flag, dest=dest, **keywords)


def shared_option_words(args: argparse.Namespace) -> list[str]:
    """The shared options of ``args`` that differ from their defaults, as command-line words."""
    words = []
    for flag, dest, keywords in _SHARED_OPTIONS:
        value = getattr(args, dest)
        if value == keywords.get("default", False):
            continue
        if keywords.get("action") is argparse.BooleanOptionalAction:
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words += [flag] if keywords.get("action") == "store_true" else [flag, str(value)]
    return words


@command("train")
def _add_train(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train", help="train one ReAlnet (CORnet-S or any --backbone) and register it as realnet_[<backbone>_]sXX_bYY",
        description="Train a ReAlnet on one THINGS-EEG2 subject (loss: CE to the teacher's labels + beta x EEG "
                    "generation loss) and register the selected epoch as realnet_sXX_bYY.")
    parser.add_argument("--subject", type=int, required=True, help="THINGS-EEG2 subject (1 = sub-01)")
    parser.add_argument("--beta", type=float, default=100.0, help="weight of the EEG generation loss (default 100)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for checkpoints and logs (default $REALNET_HOME/runs/realnet_sXX_bYY)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an already registered realnet_sXX_bYY (default: keep it and stop before "
                             "training)")
    _add_shared_options(parser)
    parser.set_defaults(run=_run_train)


@command("train-all")
def _add_train_all(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train-all", help="the paper's sweep: every subject x beta (skips registered models)",
        description="Plan one ReAlnet per subject and beta, skip those already registered, resume interrupted "
                    "ones, and train the rest one after another, or print / write one job command per run.")
    parser.add_argument("--subjects", default="1-10", help="subjects, e.g. '1-10' or '1,3,5-7' (default 1-10)")
    parser.add_argument("--betas", default="1,10,100,1000", help="comma-separated betas (default 1,10,100,1000)")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="parent of the runs' folders (default $REALNET_HOME/runs)")
    parser.add_argument("--print-commands", action="store_true",
                        help="print one `realnet train` command per unfinished run instead of training")
    parser.add_argument("--write-jobs", type=Path, default=None,
                        help="write those commands to this file (one per line) instead of training")
    _add_shared_options(parser)
    parser.set_defaults(run=_run_train_all)


def _config(args: argparse.Namespace, subject: int, beta: float):
    """The :class:`~realnet_plugin.training.TrainConfig` of ``args`` (its checks raise one-line errors)."""
    from realnet_plugin.training import TrainConfig

    return TrainConfig(subject=subject, beta=beta, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       seed=args.seed, val_fraction=args.val_fraction, split_by=args.split_by,
                       image_size=args.image_size, paper_exact=args.paper_exact, amp=args.amp,
                       batch_norm=args.batch_norm, num_workers=args.num_workers, dtype=args.dtype,
                       keep_checkpoints=args.keep_checkpoints, detach_correlation=args.detach_correlation,
                       select_on_test=args.select_on_test, holdout=args.holdout, bn_passes=args.bn_passes,
                       teacher_bn=args.teacher_bn, backbone=args.backbone, task_loss=args.task_loss,
                       layers=tuple(name.strip() for name in args.layers.split(",")) if args.layers else None,
                       reduce=args.reduce, reduce_dim=args.reduce_dim, reduce_seed=args.reduce_seed,
                       modality=args.modality)


def _train_one(args: argparse.Namespace, subject: int, beta: float, out: Path | None, resume: bool):
    """Validate everything (options, run folder, the subject's EEG and images), then build the teacher and train."""
    from realnet_plugin.training import EEGWindow, build_teacher, load_eeg_targets, train
    from realnet_plugin.training.plan import check_registration, check_run_folder
    from realnet_plugin.training.trainer import default_run_dir

    config = _config(args, subject, beta)
    check_run_folder(out if out is not None else default_run_dir(config), resume)
    replaced = check_registration(config.model_id, getattr(args, "overwrite", False))  # train-all: never replaces
    if config.modality == "fmri":
        from realnet_plugin.training.fmri import load_fmri_targets

        targets = load_fmri_targets(subject, args.data_dir, tuple(n.strip() for n in args.rois.split(",")),
                                    args.fmri_dim)
    else:
        window = EEGWindow(t_start=args.t_start, n_times=args.n_times, **(
            {"channels": tuple(name.strip() for name in args.channels.split(","))} if args.channels else {}))
        targets = load_eeg_targets(subject, args.data_dir, window)
    teacher, about = build_teacher(args.teacher, args.teacher_seed, config.backbone)
    result = train(config, targets, teacher, out, device=args.device, resume=resume,
                   progress=not args.no_progress, teacher_description=about)
    if result.registered is not None:
        print(f"registered {config.model_id} in {result.registered} (epoch {result.best_epoch} of {config.epochs}, "
              f"selected on {config.selection_split or 'last epoch'}; log in {result.run_dir / 'log.csv'})"
              + ("; it replaced the model registered before (--overwrite)" if replaced is not None else ""))
    return result


def _run_train(args: argparse.Namespace) -> int:
    _train_one(args, args.subject, args.beta, args.out, args.resume)
    return 0


def _run_train_all(args: argparse.Namespace) -> int:
    from realnet_plugin.training.plan import (
        check_registration,
        check_subjects_data,
        job_command,
        parse_betas,
        parse_subjects,
        plan_runs,
    )

    from .arguments import check_output_path

    subjects, betas = parse_subjects(args.subjects), parse_betas(args.betas)
    check_output_path(args.runs_dir, "--runs-dir", folder=True)
    check_output_path(args.write_jobs, "--write-jobs")
    _config(args, subjects[0], betas[0])  # the shared options, checked once now
    runs = plan_runs(subjects, betas, runs_root=args.runs_dir, backbone=args.backbone, modality=args.modality)
    pending = [run for run in runs if run.status != "done"]
    counts = {status: sum(run.status == status for run in runs) for status in ("done", "resume", "new")}
    print(f"{len(runs)} runs planned: {counts['done']} done, {counts['resume']} to resume, {counts['new']} new")
    if args.print_commands or args.write_jobs:
        commands = [job_command(run, shared_option_words(args)) for run in pending]
        if args.write_jobs:
            from model_registry.storage.atomic import atomic_path

            with atomic_path(args.write_jobs) as tmp:
                tmp.write_text("".join(line + "\n" for line in commands))
            print(f"wrote {len(commands)} job commands to {args.write_jobs}")
        if args.print_commands:
            print("\n".join(commands))
        return 0
    if args.modality == "eeg":  # fMRI targets are read (and checked) per run, before its model is built
        check_subjects_data(sorted({run.subject for run in pending}), args.data_dir)  # before the first model
    for run in pending:  # an incomplete model folder is kept, and said so, before the first model
        check_registration(run.model_id, False, flag="`realnet train --overwrite`")
    for number, run in enumerate(pending, start=1):
        print(f"[{number}/{len(pending)}] {run.model_id} ({run.status})")
        _train_one(args, run.subject, run.beta, run.run_dir, resume=run.status == "resume")
    return 0
