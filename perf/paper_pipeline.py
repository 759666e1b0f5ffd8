"""The paper's whole evaluation, timed stage by stage, through the code path of ``realnet paper`` (issue 17 §2).

What it runs: generated THINGS-EEG2 data (default the release's size: 10 subjects x 200 test images x 80
repetitions x 17 channels x 100 time points, plus a small training split), the baselines CORnet-S, ResNet-101 and
CLIP RN101 (random weights unless ``--pretrained``: their published weights cannot be fetched offline; the output
says which), and a family of one small ReAlnet per subject, scored with the paper's protocol (decoding-svm EEG
RDMs, Spearman, cluster permutation tests, improvement and ratio with paired clusters, bootstrap CIs) by
:func:`realnet_plugin.paper.run_paper`, the function behind ``realnet paper``.

Setup (not timed, reused from ``--work`` when already there): the data are generated; the ReAlnets are trained at a
small input size (``--train-image-size``, 1 epoch on the small training split, a calibrated random CORnet-S
teacher) and registered as ``realnet_sXX_b100`` in the run's ``$REALNET_HOME``.

Timed runs, each in a fresh interpreter (so import time and peak memory are those of a ``realnet paper`` call):
  cold    the RDM / activation caches emptied, a new output folder;
  cached  caches kept from the cold run, a new output folder (EEG RDMs and activations read back);
  resume  the cached run's folder again (every part reused; printed as one line).
Per stage: wall s, CPU s (process time of this process, its threads and reaped children; with ``--scheduler``
the workers' CPU is added to the EEG RDM stage and their peak RSS printed) and the peak RSS (MB, psutil sampled
every 20 ms while the stage runs; "total" is ru_maxrss). Stages are found by wrapping the functions that do the
work (time inside a nested stage counts only for the inner one):
  EEG RDMs     ThingsEEGRsaBenchmark.validate / .eeg (file checks, RDM method or cache), prefetch_eeg_rdms
  extraction   model_registry.load_model (building the network), benchmarks.model_features.layer_features
  model RDMs   benchmarks.model_features.layer_rdms
  comparison   ThingsEEGRsaBenchmark.__call__ / score_family / score_rdms / _prepared_eeg (ranking, ceiling)
  statistics   ThingsEEGRsaBenchmark._clusters, realnet_plugin.api.improvement (paired clusters, bootstrap)
  figures      realnet_plugin.plots.plot_time_course / plot_improvement
  other        the rest (imports, validation, tables, result files, manifest)
Targets on 2 idle cores at full size: cold <= 15 min, cached <= 1 min, peak RSS <= 4 GB (subjects streamed:
``ThingsEEGRsaBenchmark.validate`` keeps at most ``KEEP_VALIDATED_BYTES`` (one release-sized subject) of raw EEG for
``eeg``, which holds one subject's raw EEG at a time, then only its RDMs; ``run_paper`` scores every family on one
benchmark object and every baseline on one other, and the second reads the EEG RDMs, their ranks and the noise
ceiling from the RDM cache).

Usage:
  python perf/paper_pipeline.py                               # full size (the lead runs this on idle cores)
  python perf/paper_pipeline.py --subjects 2 --images 40      # reduced run
  python perf/paper_pipeline.py --scheduler local:2           # EEG RDMs one task per subject on a LocalCluster
  python perf/paper_pipeline.py --scheduler tcp://host:8786   # ... on a running Dask scheduler
  python perf/paper_pipeline.py --check                       # tiny: Dask fan-out (2 processes) == serial
Options: --reps N, --work DIR (default /tmp/realnet-paper-pipeline), --permutations N, --bootstrap N,
--pretrained, --train-image-size PX, --skip-cached.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASELINES = ("cornet_s", "resnet101", "clip_rn101")
STAGES = ("EEG RDMs", "extraction", "model RDMs", "comparison", "statistics", "figures", "other")
TARGETS = {"cold": 15 * 60, "cached": 60}
PEAK_TARGET_MB = 4096
# (stage, module, attribute path) wrapped in the timed process
WRAPPED = (
    ("EEG RDMs", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark.validate"),
    ("EEG RDMs", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark.eeg"),
    ("EEG RDMs", "realnet_plugin.paper", "prefetch_eeg_rdms"),
    ("extraction", "model_registry", "load_model"),
    ("extraction", "benchmarks.model_features", "layer_features"),
    ("model RDMs", "benchmarks.model_features", "layer_rdms"),
    ("comparison", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark.__call__"),
    ("comparison", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark.score_family"),
    ("comparison", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark.score_rdms"),
    ("comparison", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark._prepared_eeg"),
    ("statistics", "benchmarks.things_eeg_rsa.benchmark", "ThingsEEGRsaBenchmark._clusters"),
    ("statistics", "realnet_plugin.api", "improvement"),
    ("figures", "realnet_plugin.plots", "plot_time_course"),
    ("figures", "realnet_plugin.plots", "plot_improvement"),
)


# --- measuring -------------------------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """CPU s of this process (all threads) plus its reaped children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Stages:
    """Exclusive wall / CPU time and sampled peak RSS per stage; the innermost running stage gets the time."""

    def __init__(self) -> None:
        import psutil

        self.wall = dict.fromkeys(STAGES, 0.0)
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.peak = dict.fromkeys(STAGES, 0.0)
        self.stack = ["other"]
        self._mark = (time.perf_counter(), cpu_seconds())
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                rss = self._process.memory_info().rss + sum(c.memory_info().rss
                                                            for c in self._process.children(recursive=True))
            except Exception:  # a child ending while it is read
                continue
            stage = self.stack[-1]
            self.peak[stage] = max(self.peak[stage], rss / 2**20)

    def _switch(self) -> None:
        now = (time.perf_counter(), cpu_seconds())
        stage = self.stack[-1]
        self.wall[stage] += now[0] - self._mark[0]
        self.cpu[stage] += now[1] - self._mark[1]
        self._mark = now

    def wrap(self, stage: str, function):
        def timed(*args, **kwargs):
            self._switch()
            self.stack.append(stage)
            try:
                return function(*args, **kwargs)
            finally:
                self._switch()
                self.stack.pop()
        timed.__wrapped__ = function
        return timed

    def close(self) -> None:
        self._switch()
        self._stop.set()
        self._sampler.join()


def install(stages: Stages) -> None:
    import importlib

    for stage, module_name, path in WRAPPED:
        owner = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, stages.wrap(stage, getattr(owner, name)))


def worker_usage(client) -> tuple[float, float]:
    """(CPU s, max peak RSS MB) over the Dask workers."""
    def usage():
        import resource as r
        own = r.getrusage(r.RUSAGE_SELF)
        return own.ru_utime + own.ru_stime, own.ru_maxrss / 1024
    found = client.run(usage).values()
    return sum(cpu for cpu, _ in found), max((rss for _, rss in found), default=0.0)


# --- the timed run (in a fresh interpreter) --------------------------------------------------------------------
def timed_run(args) -> dict:
    started_wall, started_cpu = time.perf_counter(), cpu_seconds()
    stages = Stages()
    install(stages)
    from realnet_plugin.paper import run_paper

    client = None
    scheduler = args.scheduler
    if scheduler is not None:
        import distributed
        if scheduler.startswith("local"):
            count = int(scheduler.partition(":")[2] or 2)
            client = distributed.Client(distributed.LocalCluster(n_workers=count, threads_per_worker=1,
                                                                 processes=True, dashboard_address=None))
        else:
            client = distributed.Client(scheduler)
        scheduler = client
        before = worker_usage(client)[0]
    options = {"window": [-0.1, 0.49], "min_cluster_length": 2}  # the paper: -100 ... 490 ms, NeuroRA rule
    run = run_paper(args.data, args.out, models="realnet_s*_b100", baselines=BASELINES, method="decoding-svm",
                    options=options, random_weights=not args.pretrained, n_permutations=args.permutations,
                    n_bootstrap=args.bootstrap, seed=0, scheduler=scheduler, progress=None)
    stages.close()
    result = {"wall": stages.wall, "cpu": stages.cpu, "peak": stages.peak,
              "total_wall": time.perf_counter() - started_wall, "total_cpu": cpu_seconds() - started_cpu,
              "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "computed": len(run.computed), "reused": len(run.reused)}
    if client is not None:
        cpu, rss = worker_usage(client)
        result["cpu"]["EEG RDMs"] += cpu - before
        result["total_cpu"] += cpu - before
        result["worker_peak_mb"] = rss
        client.close()
    return result


# --- setup (not timed) -----------------------------------------------------------------------------------------
def setup(args, home: Path, data: Path) -> None:
    os.environ["REALNET_HOME"] = str(home)
    from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
    from model_registry.storage.paths import models_dir

    if not (data / "image_metadata.npy").is_file():
        print(f"[setup] generating {args.subjects} subjects x {args.images} images x {args.reps} repetitions "
              f"into {data}", flush=True)
        generate_things_eeg2(data, n_subjects=args.subjects, n_test_images=args.images, n_train_concepts=4,
                             n_train_per_concept=2, n_test_repetitions=args.reps, n_train_repetitions=2,
                             image_size=64, overwrite=True, progress=False)
    missing = [s for s in range(1, args.subjects + 1) if not (models_dir() / f"realnet_s{s:02d}_b100").is_dir()]
    if missing:
        import torch

        from model_registry import Preprocessing
        from realnet_plugin.training import (
            TrainConfig,
            build_teacher,
            calibrate_batch_norm,
            load_eeg_targets,
            split_pixels,
            train,
        )

        print(f"[setup] training {len(missing)} ReAlnet(s) at {args.train_image_size} px, 1 epoch", flush=True)
        torch.set_num_threads(os.cpu_count() or 1)
        teacher, about = build_teacher("random", seed=0)
        pixels = Preprocessing(image_size=args.train_image_size, resize="resize")
        for subject in missing:
            targets = load_eeg_targets(subject, data)
            if subject == missing[0]:
                teacher = calibrate_batch_norm(teacher, split_pixels(targets.training, pixels))
            config = TrainConfig(subject=subject, beta=100.0, epochs=1, batch_size=4, seed=2023 + subject,
                                 image_size=args.train_image_size, val_fraction=0.0, batch_norm="frozen")
            train(config, targets, teacher, home / "runs" / config.model_id, register=True,
                  models_root=models_dir(), progress=False, teacher_description=f"{about}, calibrated",
                  checkpoints=False)


def child(args, mode: str, out: Path) -> dict:
    command = [sys.executable, __file__, "--_timed", "--data", str(args.data_dir), "--out", str(out),
               "--permutations", str(args.permutations), "--bootstrap", str(args.bootstrap)]
    command += ["--pretrained"] if args.pretrained else []
    command += ["--scheduler", args.scheduler] if args.scheduler else []
    env = {**os.environ, "REALNET_HOME": str(args.home), "PYTHONPATH": str(ROOT)}
    print(f"[{mode}] run_paper -> {out}", flush=True)
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
        raise SystemExit(f"the {mode} run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(mode: str, result: dict) -> str:
    lines = [f"{mode}: {result['computed']} part(s) computed, {result['reused']} reused",
             f"  {'stage':<12} {'wall s':>9} {'CPU s':>9} {'peak MB':>9}"]
    for stage in STAGES:
        lines.append(f"  {stage:<12} {result['wall'][stage]:9.1f} {result['cpu'][stage]:9.1f} "
                     f"{result['peak'][stage]:9.0f}")
    target = TARGETS.get(mode)
    verdict = "" if target is None else (f"  target <= {target:.0f} s: "
                                         f"{'met' if result['total_wall'] <= target else 'MISSED'}")
    lines.append(f"  {'total':<12} {result['total_wall']:9.1f} {result['total_cpu']:9.1f} "
                 f"{result['max_rss_mb']:9.0f}{verdict}; peak target <= {PEAK_TARGET_MB} MB: "
                 f"{'met' if result['max_rss_mb'] <= PEAK_TARGET_MB else 'MISSED'}")
    if "worker_peak_mb" in result:
        lines.append(f"  Dask workers: peak RSS {result['worker_peak_mb']:.0f} MB (their CPU is in 'EEG RDMs')")
    return "\n".join(lines)


# --- --check: the Dask fan-out equals the serial computation ----------------------------------------------------
def check(args) -> int:
    import numpy as np

    os.environ["REALNET_HOME"] = str(args.work / "check-home")
    shutil.rmtree(args.work / "check-home", ignore_errors=True)
    from benchmarks.datasets.things_eeg2.synth import generate_things_eeg2
    from realnet_plugin import load_benchmark
    from realnet_plugin.paper import prefetch_eeg_rdms

    data = args.work / "check-data"
    generate_things_eeg2(data, n_subjects=3, n_test_images=12, n_train_concepts=1, n_train_per_concept=1,
                         n_test_repetitions=20, n_train_repetitions=2, image_size=16, overwrite=True,
                         progress=False)
    options = {"ceiling": False, "method_params": {"n_repeats": 2}}
    started = time.perf_counter()
    fanned = prefetch_eeg_rdms(data, "things-eeg-rsa-decoding-svm", options, args.scheduler or "local:2")
    fan_s = time.perf_counter() - started
    started = time.perf_counter()
    subjects, serial, _ = load_benchmark("things-eeg-rsa-decoding-svm", root=str(data), cache=False,
                                         **options).eeg()
    serial_s = time.perf_counter() - started
    same = all(np.array_equal(fanned[s], serial[i], equal_nan=True) for i, s in enumerate(subjects))
    print(f"--check: EEG RDMs of {len(subjects)} subjects on {args.scheduler or 'local:2'} in {fan_s:.1f} s "
          f"(cluster start included), serial {serial_s:.1f} s: {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--reps", type=int, default=80)
    parser.add_argument("--work", type=Path, default=Path("/tmp/realnet-paper-pipeline"))
    parser.add_argument("--scheduler", default=None, help="local, local:N or a Dask scheduler address")
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--pretrained", action="store_true", help="baselines with published weights (cached)")
    parser.add_argument("--train-image-size", type=int, default=32)
    parser.add_argument("--skip-cached", action="store_true", help="time the cold run only")
    parser.add_argument("--check", action="store_true", help="tiny: Dask fan-out == serial, then exit")
    parser.add_argument("--_timed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._timed:
        print(json.dumps(timed_run(args)))
        return 0
    if args.check:
        return check(args)
    for name in ("subjects", "images", "reps"):
        if getattr(args, name) < (2 if name != "reps" else 20):
            parser.error(f"--{name} must be >= {2 if name != 'reps' else 20} (decoding: 5 x 4 folds of repetitions)")
    args.work.mkdir(parents=True, exist_ok=True)
    args.home = args.work / "home"
    args.data_dir = args.work / f"things-eeg2-{args.subjects}x{args.images}x{args.reps}"
    setup(args, args.home, args.data_dir)
    weights = "published weights" if args.pretrained else "RANDOM weights (published weights not available offline)"
    print(f"models: {', '.join(BASELINES)} with {weights}; {args.subjects} ReAlnets trained at "
          f"{args.train_image_size} px (1 epoch, tiny: a timing stand-in, not the paper's models)")
    print(f"data: {args.subjects} subjects x {args.images} test images x {args.reps} repetitions x 17 channels x "
          f"100 times; decoding-svm, Spearman, {args.permutations} permutations, {args.bootstrap} bootstrap; "
          f"{os.cpu_count()} CPU(s); scheduler: {args.scheduler or 'none (serial)'}", flush=True)
    shutil.rmtree(args.home / "cache", ignore_errors=True)  # cold: no EEG RDMs, no activations
    results = {}
    for mode in ("cold",) + (() if args.skip_cached else ("cached", "resume")):
        out = args.work / ("out-cached" if mode == "resume" else f"out-{mode}")
        if mode != "resume":
            shutil.rmtree(out, ignore_errors=True)
        results[mode] = child(args, mode, out)
        if mode == "resume":
            print(f"resume: {results[mode]['total_wall']:.1f} s wall, {results[mode]['computed']} part(s) "
                  f"computed, {results[mode]['reused']} reused")
        else:
            print(table(mode, results[mode]), flush=True)
    (args.work / "paper_pipeline.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
