"""``realnet paper``: the paper's evaluation end to end in one folder, resumable (issue 12, section 2).

EEG similarity time courses (things-eeg-rsa) of the baselines and of each ReAlnet family (one group Score per
family, each model against its own subject), the similarity improvement and ratio with paired clusters for each
family against each baseline, optionally the fMRI ROI comparison and the robustness curves, a results table
(CSV + Markdown) and the figures (PNG + PDF).

Resuming: every part (a score, a comparison, a figure, a table) is written atomically and recorded in
``manifest.json`` with the fingerprint of its inputs (settings, data files' names / sizes / mtimes, model ids and,
for figures and tables, the fingerprints of the parts they draw). A part whose file exists and whose fingerprint
matches is read back, not recomputed.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

FMRI_BENCHMARKS = {"things-fmri": "things-fmri-roi", "shen2019": "shen2019-fmri-roi"}
ROBUSTNESS_BENCHMARKS = ("fgsm-robustness", "pgd-robustness")
FIGURE_SUFFIXES = (".png", ".pdf")
TABLE_HEADER = ("model", "benchmark", "score", "raw", "ceiling", "best_layer", "peak_time_s", "cluster_spans_s")
IMPROVEMENT_HEADER = ("model_a", "model_b", "benchmark", "layer", "mean_improvement", "peak_improvement",
                      "peak_time_s", "mean_ratio", "significant_spans_s")


@dataclass
class PaperRun:
    """What :func:`run_paper` did: ``files`` every output path by part name, ``computed`` the parts computed in
    this call, ``reused`` those read back from an earlier run."""

    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_") or "model"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:20]


def model_identity(identifier: str) -> list:
    """What identifies a registered model's weights without building it: its id, its published weights' URL and
    digest, and for a locally trained model the sha256 of its ``model.pt`` recorded in its config (so a model
    retrained under the same id is scored again, never served from an earlier run's part)."""
    from model_registry import get_spec

    spec = get_spec(identifier)
    return [identifier, spec.weights_url, spec.weights_sha256,
            spec.trained.weights_sha256 if spec.trained is not None else None]


def data_fingerprint(folder: str | Path) -> str:
    """Fingerprint of a data folder: every file's relative path, size and modification time (nothing is read)."""
    folder = Path(folder)
    entries = sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                     for p in folder.rglob("*") if p.is_file())
    return _digest(entries)


def _image_set_digest(image_set) -> str:
    """sha256 prefix over an image set's ids, labels and decoded pixels (what a robustness score depends on)."""
    digest = hashlib.sha256(json.dumps([image_set.name, list(image_set.ids), image_set.labels]).encode())
    for image in image_set.images:
        digest.update(repr((image.mode, image.size)).encode())
        digest.update(image.tobytes())
    return digest.hexdigest()[:20]


def _spans(clusters: list, alpha: float = 0.05) -> str:
    return "; ".join(f"{c['start']:+.3f}..{c['end']:+.3f}" for c in clusters or [] if c.get("p", 1.0) < alpha)


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def score_row(result) -> dict:
    """One results-table row of a Score: model, benchmark, score (ceiled), raw, ceiling, best layer and, for a
    time-resolved score, the peak time (s, of the subject-mean similarity of the best layer inside the cluster
    window) and the best layer's significant cluster spans (s, p < 0.05). An ROI score's ``best_layer`` (one per
    ROI) is written ``'ROI=layer; ...'`` in the score's ROI order."""
    import numpy as np

    attrs = result.attrs
    best = attrs.get("best_layer")
    peak, spans = math.nan, ""
    similarity = attrs.get("similarity")
    if similarity is not None and "time" in getattr(similarity, "dims", ()) and best is not None:
        course = similarity.sel(layer=best)
        if "subject" in course.dims:
            course = course.mean("subject")
        times = course["time"].values
        window = attrs.get("cluster_window") or [times.min(), times.max()]
        inside = (times >= float(window[0]) - 1e-9) & (times <= float(window[1]) + 1e-9)
        values = np.where(inside, course.values, np.nan)
        if np.isfinite(values).any():
            peak = float(times[int(np.nanargmax(values))])
        spans = _spans((attrs.get("clusters") or {}).get(best, []))
    if isinstance(best, dict):  # an ROI benchmark: the best layer of each ROI
        best = "; ".join(f"{roi}={layer}" for roi, layer in best.items())
    return {"model": attrs.get("model_identifier"), "benchmark": attrs.get("benchmark_identifier"),
            "score": _number(result.values if hasattr(result, "values") else result), "raw": _number(attrs.get("raw")),
            "ceiling": _number(attrs.get("ceiling")), "best_layer": best, "peak_time_s": peak,
            "cluster_spans_s": spans}


def improvement_rows(found, benchmark: str) -> list[dict]:
    """Per layer of a :class:`GroupImprovement`: mean and peak improvement inside its cluster window, the peak's
    time (s), the mean ratio, and the significant cluster spans (s, p < 0.05)."""
    import numpy as np

    times = found.improvement["time"].values
    window = found.cluster_window
    inside = (times >= window[0] - 1e-9) & (times <= window[1] + 1e-9)
    rows = []
    for layer in found.improvement["layer"].values.tolist():
        values = np.where(inside, found.improvement.sel(layer=layer).values, np.nan)
        ratio = np.where(inside, found.ratio.sel(layer=layer).values, np.nan)
        peak = int(np.nanargmax(values)) if np.isfinite(values).any() else None
        rows.append({"model_a": found.model_a, "model_b": found.model_b, "benchmark": benchmark, "layer": layer,
                     "mean_improvement": float(np.nanmean(values)),
                     "peak_improvement": math.nan if peak is None else float(values[peak]),
                     "peak_time_s": math.nan if peak is None else float(times[peak]),
                     "mean_ratio": float(np.nanmean(ratio)) if np.isfinite(ratio).any() else math.nan,
                     "significant_spans_s": _spans(found.clusters.get(layer, []))})
    return rows


def _markdown(rows: list[dict], header: tuple) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.4g}"
        return "" if value is None else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(row.get(h)) for h in header) + " |" for row in rows]
    return "\n".join(lines) + "\n"


class _Manifest:
    """``manifest.json``: the run's settings and each finished part's file and fingerprint."""

    def __init__(self, out: Path, settings: dict):
        self.path = out / "manifest.json"
        self.data = {"settings": settings, "parts": {}}
        if self.path.is_file():
            try:
                previous = json.loads(self.path.read_text())
                self.data["parts"] = dict(previous.get("parts", {}))
            except (OSError, ValueError):
                pass  # an unreadable manifest: every part is recomputed

    def fresh(self, part: str, fingerprint: str, files: list[Path]) -> bool:
        entry = self.data["parts"].get(part)
        return bool(entry) and entry.get("fingerprint") == fingerprint and all(f.is_file() for f in files)

    def record(self, part: str, fingerprint: str, files: list[Path]) -> None:
        from model_registry.storage.atomic import atomic_path

        self.data["parts"][part] = {"fingerprint": fingerprint, "files": [f.name for f in files]}
        with atomic_path(self.path, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(self.data, indent=1, default=str) + "\n")


def _subject_eeg_rdms(eeg_id: str, root: str, options: dict, subject: int):
    """One subject's EEG RDMs ``(n_times, n_pairs)`` through the benchmark's own path (validation, RDM method,
    the disk cache of the process it runs in): the task :func:`prefetch_eeg_rdms` sends to a worker."""
    from .api import load_benchmark

    single = {**options, "subjects": [subject], "ceiling": False, "score_subjects": None}
    return load_benchmark(eeg_id, root=root, **single).eeg()[1][0]


def eeg_backend(scheduler):
    """``scheduler`` -> ``(backend, close)``: ``'local'`` or ``'local:N'`` starts a ``distributed.LocalCluster``
    of N (default 2) single-threaded worker processes; an address (``tcp://host:8786``) or a
    ``distributed.Client`` connects to that scheduler (the leaderboard's
    :class:`~realnet_plugin.leaderboard.backends.DaskBackend`); an object with ``submit(fn, *args)`` and
    ``result(future)`` is used as it is. ``close()`` releases what this call started. Raises ``ValueError`` for a
    malformed ``local:N`` or address, ``ConnectionError`` for an unreachable scheduler."""
    if hasattr(scheduler, "submit") and hasattr(scheduler, "result"):
        return scheduler, (lambda: None)
    from .leaderboard.backends import DaskBackend

    text = str(scheduler)
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2] or "2"
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--scheduler local:N needs an integer N >= 1, got {text!r}")
        import distributed

        cluster = distributed.LocalCluster(n_workers=int(count), threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
        backend = DaskBackend(client)

        def close():
            client.close()
            cluster.close()
        return backend, close
    backend = DaskBackend(text)
    return backend, backend.close


def prefetch_eeg_rdms(data: str | Path, eeg_id: str, options: dict, scheduler) -> dict:
    """Compute every subject's EEG RDMs as one task per subject on ``scheduler`` (see :func:`eeg_backend`) and
    put them into this process's RDM disk cache, so that scoring then reads them instead of computing them.

    Each task runs the benchmark's own :meth:`~benchmarks.things_eeg_rsa.benchmark.ThingsEEGRsaBenchmark.eeg`
    for its subject (same validation, method, parameters and cache key); only that subject's raw EEG is held by
    the worker. The returned ``{subject: (n_times, n_pairs) float64}`` are written here under the key the
    benchmark's ``eeg()`` reads (workers on another file system do not need to share ``$REALNET_HOME``).
    Raises ``ValueError`` when the benchmark's ``cache`` option is off (nothing could be reused)."""
    import numpy as np

    from .api import load_benchmark

    options = dict(options)
    benchmark = load_benchmark(eeg_id, root=str(data), **options)
    if not benchmark.cache:
        raise ValueError(f"{eeg_id}: --scheduler computes the EEG RDMs into the RDM cache, but the option cache=false "
                         "turns it off; drop cache=false or the scheduler")
    inputs = benchmark.validate()  # every file checked here before any task is sent
    backend, close = eeg_backend(scheduler)
    try:
        futures = {s: backend.submit(_subject_eeg_rdms, eeg_id, str(data), options, s) for s in inputs.subjects}
        found = {s: np.asarray(backend.result(f), dtype=np.float64) for s, f in futures.items()}
    finally:
        close()
    for subject, rdms in found.items():
        benchmark.store_subject_rdms(subject, rdms)  # under the key the benchmark's eeg() reads
    return found


def run_paper(data: str | Path, out: str | Path, *, models="realnet_s*_b100",
              baselines=("cornet_s", "resnet101", "clip_rn101"), method: str | None = None,
              options: dict | None = None, fmri: tuple[str, str | Path] | None = None, fmri_options: dict | None = None,
              robustness: bool = False,
              robustness_options: dict | None = None, random_weights: bool = False, device: str | None = None,
              batch_size: int = 32, n_permutations: int = 1000, n_bootstrap: int = 1000, seed: int = 0,
              scheduler=None, progress=print) -> PaperRun:
    """Run the paper's evaluation into folder ``out`` -> :class:`PaperRun`.

    ``data``: THINGS-EEG2 folder (``root`` of ``things-eeg-rsa[-method]``, ``method`` e.g. ``'decoding-svm'``,
    ``'correlation'``; default the benchmark's own); ``options``: further things-eeg-rsa options (``window``,
    ``cluster_window``, ``min_cluster_length``, ``ceiling`` ...). ``models``: one or more ReAlnet families
    (wildcards or comma-separated ids; a list gives several families), each scored as one group Score;
    ``baselines``: plain model ids scored against the first family's subjects; the improvement of a family is
    computed over each baseline sharing layers with it (the paper: CORnet-S), on the shared layers; a baseline of
    another architecture (ResNet-101, CLIP) gets its time course only, with a warning naming both layer lists.
    ``fmri``: ``('things-fmri' | 'shen2019', folder)`` adds the ROI comparison of every baseline and family member
    (``fmri_options`` to that benchmark: ``layers``, ``rois``, ``method``, ``n_bootstrap`` ...); ``robustness`` adds
    the fgsm / pgd curves (``robustness_options`` to those benchmarks). ``random_weights`` builds the baselines without
    trained weights (tests, smoke runs), under ``torch.manual_seed(seed)``; the ReAlnet family always loads its saved
    weights. ``scheduler`` (``'local'``, ``'local:N'``, a Dask scheduler address or client, see :func:`eeg_backend`)
    computes the EEG RDMs first as one task per subject (:func:`prefetch_eeg_rdms`); the scores are the same as
    without it.

    Writes ``scores/*.nc`` (:func:`~realnet_plugin.results.write_netcdf`), ``improvement/*.json``, ``results.csv``
    / ``results.md`` (one row per score, :func:`score_row`), ``improvement.csv`` / ``improvement.md``
    (:func:`improvement_rows`), ``figures/*.png`` and ``.pdf``, and ``manifest.json``.

    Everything is validated first (benchmark options and data files of every benchmark, every family having
    members with EEG, every baseline registered, the output folder) so a bad input fails in one line before any
    model is built. Raises ``ValueError`` / ``FileNotFoundError`` naming the input.
    """
    import warnings

    import pandas as pd

    from model_registry.storage.atomic import atomic_path

    from .api import family_members, improvement, is_family, list_models, load_benchmark, score, validate_benchmark
    from .plots import plot_improvement, plot_robustness_curves, plot_roi_layers, plot_time_course
    from .results import read_netcdf, write_netcdf

    data, out = Path(data), Path(out)
    if not data.is_dir():
        raise FileNotFoundError(f"--data folder not found: {data}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    families = [models] if isinstance(models, str) else list(models)
    if not families:
        raise ValueError("no ReAlnet family given (--models)")
    baselines = [b.strip() for b in (baselines.split(",") if isinstance(baselines, str) else baselines) if b.strip()]
    for baseline in baselines:
        if is_family(baseline):
            raise ValueError(f"baseline {baseline!r} is a family; baselines are single model ids")
        if ":" not in baseline and baseline not in list_models(baseline):
            raise ValueError(f"baseline {baseline!r} is not a registered model (see `realnet list models`)")
    for flag, value in (("n_permutations", n_permutations), ("n_bootstrap", n_bootstrap), ("seed", seed)):
        if value < 0:
            raise ValueError(f"{flag} must be >= 0, got {value}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(scheduler, str) and not (scheduler == "local" or scheduler.startswith(
            ("local:", "tcp://", "tls://", "inproc://", "ws://", "wss://"))):
        raise ValueError(f"--scheduler must be 'local', 'local:N' or an address like tcp://host:8786, got "
                         f"{scheduler!r}")

    # --- validation of every input, before any model is built --------------------------------------------------
    options = dict(options or {})
    eeg_id = f"things-eeg-rsa-{method}" if method else "things-eeg-rsa"
    # one benchmark object scores every family (the one validated here) and one other every baseline: each reads
    # and checks the EEG files once and ranks the EEG RDMs and computes the noise ceiling once (or reads them from
    # the RDM cache), instead of once per score
    eeg_objects = {"family": load_benchmark(eeg_id, root=str(data), **options)}
    inputs = eeg_objects["family"].validate()
    members = {family: [m.identifier for m in family_members(family, inputs.subjects)] for family in families}
    fmri_id = fmri_root = None
    if fmri is not None:
        kind, fmri_root = fmri
        if kind not in FMRI_BENCHMARKS:
            raise ValueError(f"--fmri kind must be one of {sorted(FMRI_BENCHMARKS)}, got {kind!r}")
        fmri_id = FMRI_BENCHMARKS[kind]
        validate_benchmark(load_benchmark(fmri_id, root=str(fmri_root), **(fmri_options or {})))
    robust_images = None
    for benchmark_id in ROBUSTNESS_BENCHMARKS if robustness else ():
        image_set = load_benchmark(benchmark_id, **(robustness_options or {})).validate()
        robust_images = _image_set_digest(image_set)  # the images attacked (a folder's content may change)

    out.mkdir(parents=True, exist_ok=True)
    for folder in ("scores", "improvement", "figures"):
        (out / folder).mkdir(exist_ok=True)
    family_options = {"device": device, "batch_size": batch_size}  # ReAlnets: always their saved weights
    # random baselines are built under torch.manual_seed(seed): the same weights on every run, so a second run
    # reuses their cached activations and reproduces their scores
    baseline_options = {**family_options, **({"pretrained": False, "seed": seed} if random_weights else {})}
    family_ids = {m for family in families for m in members[family]}
    settings = {"data": str(data.resolve()), "eeg_benchmark": eeg_id, "options": options, "families": members,
                "baselines": baselines, "fmri": [fmri_id, str(fmri_root)] if fmri else None,
                "fmri_options": fmri_options or {}, "robustness": robustness,
                "robustness_options": robustness_options or {}, "random_weights": random_weights,
                "n_permutations": n_permutations, "n_bootstrap": n_bootstrap, "seed": seed}
    manifest = _Manifest(out, settings)
    run = PaperRun(out)
    eeg_inputs = _digest([data_fingerprint(data), eeg_id, options, random_weights])

    def part(name: str, fingerprint: str, files: list[Path], compute, load=None):
        """Reuse ``name`` when fresh, else compute it (it writes ``files``) and record it."""
        run.files.update({f"{name}{f.suffix}" if len(files) > 1 else name: f for f in files})
        if manifest.fresh(name, fingerprint, files):
            run.reused.append(name)
            return load() if load else None
        if progress is not None:
            progress(f"[paper] {name}")
        value = compute()
        manifest.record(name, fingerprint, files)
        run.computed.append(name)
        return value

    def scored_part(name: str, model, benchmark_id: str, fingerprint: str, build=None, **benchmark_options):
        """``build``: a zero-argument callable giving the benchmark object to score on (built once, shared by
        parts); else ``benchmark_id`` is built with ``benchmark_options`` for this part."""
        path = out / "scores" / f"{_safe(name)}.nc"

        def compute():
            if benchmark_id == eeg_id:
                prefetch()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # the family's left-out matches were named above
                options_here = family_options if is_family(model) or model in family_ids else baseline_options
                if build is not None:
                    result = score(model, build(), model_options=options_here)
                else:
                    result = score(model, benchmark_id, model_options=options_here, **benchmark_options)
            write_netcdf(result, path)
            return result
        return part(name, fingerprint, [path], compute, lambda: read_netcdf(path)), fingerprint

    def figure_part(name: str, fingerprint: str, draw):
        files = [out / "figures" / f"{_safe(name)}{suffix}" for suffix in FIGURE_SUFFIXES]
        part(f"figure_{name}", fingerprint, files, lambda: [draw(f) for f in files])

    # --- EEG: each family, then each baseline against the first family's subjects -------------------------------
    prefetched = []

    def prefetch() -> None:
        """With a scheduler: the EEG RDMs of every subject, one task each, before the first EEG score computed."""
        if scheduler is not None and not prefetched:
            if progress is not None:
                progress(f"[paper] EEG RDMs of {len(inputs.subjects)} subject(s), one task each on {scheduler}")
            prefetch_eeg_rdms(data, eeg_id, options, scheduler)
            prefetched.append(True)

    eeg_scores, rows = {}, []
    for family in families:
        fp = _digest([eeg_inputs, [model_identity(m) for m in members[family]]])
        eeg_scores[family] = scored_part(f"eeg_{family}", family, eeg_id, fp, build=lambda: eeg_objects["family"])
    eeg_objects.pop("family")  # its EEG RDMs, ranks and ceiling are freed; the baselines' object reads the caches
    subjects = [int(s) for s in eeg_scores[families[0]][0].attrs["subjects"]]

    def baseline_benchmark():
        if "baselines" not in eeg_objects:
            eeg_objects["baselines"] = load_benchmark(eeg_id, root=str(data), score_subjects=subjects,
                                                      **{"match_subject": False, **options})
        return eeg_objects["baselines"]

    for baseline in baselines:
        fp = _digest([eeg_inputs, model_identity(baseline), subjects])
        eeg_scores[baseline] = scored_part(f"eeg_{baseline}", baseline, eeg_id, fp, build=baseline_benchmark)
    eeg_objects.clear()
    for name, (result, fp) in eeg_scores.items():
        rows.append(score_row(result))
        figure_part(f"eeg_{name}", _digest(["time course", fp]),
                    lambda path, result=result: plot_time_course(result, path))

    # --- improvement and ratio of each family over each baseline -------------------------------------------------
    improvement_table = []
    for family in families:
        for baseline in baselines:
            name = f"improvement_{family}_vs_{baseline}"
            path = out / "improvement" / f"{_safe(name)}.json"
            (result_a, fp_a), (result_b, fp_b) = eeg_scores[family], eeg_scores[baseline]
            layers_a = [str(v) for v in result_a.attrs["similarity"]["layer"].values]
            layers_b = {str(v) for v in result_b.attrs["similarity"]["layer"].values}
            if not any(layer in layers_b for layer in layers_a):  # e.g. ReAlnet (CORnet-S) vs ResNet-101
                note = (f"no improvement of {family} over {baseline}: they share no layer ({family}: {layers_a}; "
                        f"{baseline}: {sorted(layers_b)}); their time courses are in results.csv and the figures")
                warnings.warn(note, UserWarning, stacklevel=2)
                if progress is not None:
                    progress(f"[paper] {note}")
                continue
            fp = _digest([fp_a, fp_b, n_permutations, n_bootstrap, seed])

            def compute(a=result_a, b=result_b, path=path):
                found = improvement(a, b, n_permutations=n_permutations, n_bootstrap=n_bootstrap, seed=seed)
                summary = {"rows": improvement_rows(found, eeg_id), "result": found.to_dict()}
                with atomic_path(path, suffix=".json") as tmp:
                    Path(tmp).write_text(json.dumps(summary, indent=1, default=str) + "\n")
                return summary
            summary = part(name, fp, [path], compute, lambda path=path: json.loads(path.read_text()))
            improvement_table.extend(summary["rows"])
            layer = result_a.attrs.get("best_layer")
            clusters = summary["result"]["clusters"].get(layer, [])
            spans = [(c["start"], c["end"]) for c in clusters if c["p"] < 0.05] if n_permutations else None
            figure_part(name, _digest(["improvement figure", fp]),
                        lambda p, a=result_a, b=result_b, layer=layer, spans=spans:
                        plot_improvement(a, b, p, layer=layer, spans=spans))

    # --- fMRI ROI comparison --------------------------------------------------------------------------------------
    if fmri_id:
        fmri_inputs = _digest([data_fingerprint(fmri_root), fmri_id, fmri_options or {}, random_weights])
        for model in baselines + [m for family in families for m in members[family]]:
            result, fp = scored_part(f"fmri_{model}", model, fmri_id, _digest([fmri_inputs, model_identity(model)]),
                                     root=str(fmri_root), **(fmri_options or {}))
            rows.append(score_row(result))
            figure_part(f"fmri_{model}", _digest(["roi figure", fp]),
                        lambda p, result=result: plot_roi_layers(result, p))

    # --- robustness curves ----------------------------------------------------------------------------------------
    if robustness:
        robust_inputs = _digest([robustness_options or {}, robust_images, random_weights])
        for benchmark_id in ROBUSTNESS_BENCHMARKS:
            curves, fps = {}, []
            for model in baselines + [m for family in families for m in members[family]]:
                fp = _digest([robust_inputs, benchmark_id, model_identity(model)])
                result, fp = scored_part(f"{benchmark_id}_{model}", model, benchmark_id, fp,
                                         **(robustness_options or {}))
                rows.append(score_row(result))
                curves[model], _ = result, fps.append(fp)
            figure_part(benchmark_id, _digest(fps), lambda p, curves=curves: plot_robustness_curves(curves, p))

    # --- tables ---------------------------------------------------------------------------------------------------
    for stem, table, header in (("results", rows, TABLE_HEADER), ("improvement", improvement_table,
                                                                  IMPROVEMENT_HEADER)):
        csv_path, md_path = out / f"{stem}.csv", out / f"{stem}.md"

        def write_tables(table=table, header=header, csv_path=csv_path, md_path=md_path):
            with atomic_path(csv_path, suffix=".csv") as tmp:
                pd.DataFrame(table, columns=list(header)).to_csv(tmp, index=False)
            with atomic_path(md_path, suffix=".md") as tmp:
                Path(tmp).write_text(_markdown(table, header))
        part(f"table_{stem}", _digest([table, header]), [csv_path, md_path], write_tables)
    return run


__all__ = ["PaperRun", "data_fingerprint", "improvement_rows", "run_paper", "score_row"]
