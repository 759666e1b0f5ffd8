"""The leaderboard as one self-contained HTML page: inline CSS and JavaScript, figures as PNG data URIs, the table as
CSV and JSON downloads in ``data:`` links. A Content-Security-Policy forbids every network request, so the page works
from a ``file://`` URL and from any static web server alike.

Layout: one row per model (random initialisations get their own row), sorted by mean score (highest first). Per
benchmark a column group headed by the benchmark id and a one-line description (what is compared, which ceiling),
with four columns: score, raw, ceiling and confidence interval; per row the weights hash and when it was scored.
Benchmark column groups are split over several tables (:data:`BENCHMARKS_PER_TABLE` each) so the page never needs
more than a 1280-px-wide window; clicking a column header sorts every table the same way (numbers numerically,
ascending then descending; empty and failed cells always last). Benchmark options sit in a collapsible ``<details>``
under the tables. No absolute path of the machine reaches the page: a dataset folder is named by its name and a
short content fingerprint (:func:`content_fingerprint`), other absolute paths in messages by their last component.
Figures: the ones given, else a time-course figure per time-resolved result, plus improvement figures for the
model pairs asked for. A model defined by its RDMs (``attrs['model_provenance']`` of its results) carries its
provenance under its name: source, dissimilarity measure, any other facts given, and the content hash (sha256 of
its stimulus ids and RDMs, which is also its "weights" column); the downloads hold it as ``model_provenance``.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from model_registry.storage.atomic import atomic_path

from .records import PairResult, raw_interval

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_ATTRS = ("figure", "figure_path")
BENCHMARKS_PER_TABLE = 3  # column groups per table: 3 x 4 numbers + the row columns fit 1280 px
FINGERPRINT_SAMPLE = 1 << 16  # bytes hashed from each end of a dataset file
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
METRICS = ("score", "raw", "ceiling", "score CI")  # the CI is of the score; the raw one in its tooltip
CSV_FIELDS = ("rank", "model", "pretrained", "weights_sha256", "benchmark", "options", "benchmark_version", "status",
              "score", "raw", "ceiling", "score_ci_low", "score_ci_high", "raw_ci_low", "raw_ci_high", "error",
              "scored_at", "message", "model_provenance")  # score_ci_*: interval of the score; raw_ci_*: of raw
PROVENANCE_HIDDEN = frozenset({"kind", "content_sha256"})  # shown in their own way, not as "key: value"

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2330;
       max-width: 1232px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 24px 0 8px; }
.meta { color: #5b6475; margin: 0 0 12px; }
.downloads a { margin-right: 12px; }
table.board { border-collapse: collapse; font-variant-numeric: tabular-nums; width: 100%; margin: 0 0 16px; }
th, td { border: 1px solid #d5d9e2; padding: 3px 6px; text-align: right; }
td { white-space: nowrap; }
th { background: #eef1f6; font-size: 13px; }
th.group { text-align: left; background: #dfe5ef; font-size: 14px; overflow-wrap: anywhere; }
th.group .desc { display: block; font-weight: normal; font-size: 11px; color: #3f4756; line-height: 1.3; }
th.group a { font-weight: normal; font-size: 11px; }
th[data-col] { cursor: pointer; user-select: none; }
th[data-col]:hover { background: #d3dbe8; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.model, th.model { text-align: left; white-space: normal; overflow-wrap: anywhere; min-width: 9em; }
td.hash { font-family: ui-monospace, monospace; color: #5b6475; }
td.when { font-size: 12px; color: #5b6475; }
td.ci { font-size: 12px; }
td.error { color: #b3261e; text-align: center; }
td.missing { color: #9aa1ad; text-align: center; }
tbody tr:nth-child(even) { background: #f8f9fb; }
td.model a { font-size: 12px; margin-left: 4px; }
td.model .provenance { display: block; font-size: 11px; color: #3f4756; }
details.options { margin: 8px 0 16px; }
details.options summary { cursor: pointer; font-weight: 600; }
details.options dt { font-weight: 600; margin-top: 8px; }
details.options dd { margin-left: 16px; overflow-wrap: anywhere; }
details.options code { font-size: 12px; }
section.figures { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; border: 1px solid #d5d9e2; padding: 8px; background: #fff; flex: 1 1 560px; max-width: 100%;
         box-sizing: border-box; }
figure img { width: 100%; height: auto; display: block; }
figcaption { color: #5b6475; margin-top: 4px; overflow-wrap: anywhere; }
p.skipped { color: #5b6475; font-style: italic; }
"""

_JS = """
(function () {
  const tables = Array.from(document.querySelectorAll('table.board'));
  function cellValue(row, col, numeric) {
    const raw = row.cells[col].getAttribute('data-value');
    if (raw === null || raw === '') return null;
    if (!numeric) return raw.toLowerCase();
    const number = parseFloat(raw);
    return Number.isFinite(number) ? number : null;
  }
  function sortBy(header) {
    const table = header.closest('table');
    const col = Number(header.getAttribute('data-col'));
    const numeric = header.getAttribute('data-type') === 'number';
    const direction = header.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    document.querySelectorAll('th[aria-sort]').forEach(h => h.removeAttribute('aria-sort'));
    header.setAttribute('aria-sort', direction);
    const sign = direction === 'ascending' ? 1 : -1;
    const rows = Array.from(table.tBodies[0].rows);
    rows.sort((a, b) => {
      const x = cellValue(a, col, numeric), y = cellValue(b, col, numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;   // empty or failed cells last in both directions
      if (y === null) return -1;
      return x < y ? -sign : x > y ? sign : 0;
    });
    const order = rows.map(row => row.getAttribute('data-key'));
    tables.forEach(other => {
      const body = other.tBodies[0];
      const byKey = new Map(Array.from(body.rows).map(row => [row.getAttribute('data-key'), row]));
      order.forEach(key => { if (byKey.has(key)) body.appendChild(byKey.get(key)); });
    });
  }
  document.querySelectorAll('table.board th[data-col]').forEach(h => h.addEventListener('click', () => sortBy(h)));
  window.sortLeaderboard = sortBy;
})();
"""

# absolute paths inside free text: POSIX (/a/b, ~/a), Windows (C:\a) and file: URLs
_PATH_IN_TEXT = re.compile(r"file:///?[^\s'\"<>|,;()\[\]{}]+|(?<![\w.:/~\-])(?:~?/[^\s'\"<>|,;:()\[\]{}]+"
                           r"|[A-Za-z]:\\[^\s'\"<>|,;]+)")


def redact_paths(text: str) -> str:
    """``text`` with every absolute path (``/a/b/c``, ``~/c``, ``C:\\a\\c``, ``file:///a/c``) replaced by
    ``…/c``, its last component: messages stay readable without naming the machine's folders."""
    def last(match: re.Match) -> str:
        parts = [p for p in re.split(r"[\\/]+", match.group(0)) if p and p not in ("~", "file:")]
        return f"\u2026/{parts[-1]}" if parts else "\u2026"

    return _PATH_IN_TEXT.sub(last, text)


def content_fingerprint(path: str | os.PathLike) -> str:
    """A short fingerprint (12 hex digits of a SHA-256) of a file's or folder's content.

    Hashed: for every file (a folder is walked in sorted order, symbolic links to folders are not followed) its path
    relative to ``path``, its size and its first and last :data:`FINGERPRINT_SAMPLE` bytes (whole files when
    smaller). Two copies of a dataset on different machines get the same fingerprint; an edited, added, removed or
    renamed file changes it (an edit in the middle of a file larger than 128 KiB that keeps its size does not).
    Raises ``FileNotFoundError`` when ``path`` does not exist.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    files = [root] if root.is_file() else sorted(
        (Path(folder) / name for folder, _, names in os.walk(root) for name in names),
        key=lambda p: p.relative_to(root).as_posix())
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root).as_posix() if file != root else root.name}\0{size}\0".encode())
        with open(file, "rb") as handle:
            digest.update(handle.read(FINGERPRINT_SAMPLE))
            if size > 2 * FINGERPRINT_SAMPLE:
                handle.seek(size - FINGERPRINT_SAMPLE)
                digest.update(handle.read(FINGERPRINT_SAMPLE))
            elif size > FINGERPRINT_SAMPLE:
                digest.update(handle.read())
    return digest.hexdigest()[:12]


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", "./", "../")) or bool(re.match(r"[A-Za-z]:\\", value)) or (
        os.sep in value and Path(value).exists())


def dataset_label(value: str, fingerprints: dict[str, str] | None = None) -> str:
    """A path option as ``name [content <fingerprint>]`` (``name [not found when the page was made]`` when it
    does not exist here): the folder's name and what it holds, never where it sits."""
    path = Path(value).expanduser()
    name = path.name or str(path)
    cache = {} if fingerprints is None else fingerprints
    if not path.exists():
        return f"{name} [not found when the page was made]"
    key = str(path.resolve())
    if key not in cache:
        cache[key] = content_fingerprint(path)
    return f"{name} [content {cache[key]}]"


def display_options(options: str, fingerprints: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``[(key, shown value), ...]`` of canonical options JSON; path values shown by :func:`dataset_label`,
    other values as compact JSON with any absolute path inside redacted (:func:`redact_paths`)."""
    try:
        parsed = json.loads(options or "{}")
    except json.JSONDecodeError:
        return [("options", redact_paths(options))]
    if not isinstance(parsed, dict):
        return [("options", redact_paths(json.dumps(parsed)))]

    def shown(value):
        if isinstance(value, str) and _looks_like_path(value):
            return dataset_label(value, fingerprints)
        if isinstance(value, list):
            return "[" + ", ".join(shown(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
        return redact_paths(json.dumps(value))

    return [(str(key), shown(value)) for key, value in parsed.items()]


@dataclass
class ModelRow:
    """One table row: a model (pretrained or seeded random initialisation) and its result per benchmark column."""

    model: str
    pretrained: bool
    weights_hash: str = ""
    cells: dict[str, PairResult] = field(default_factory=dict)
    provenance: dict | None = None  # an RDM model's attrs['model_provenance'] (source, measure, content hash)

    @property
    def label(self) -> str:
        return self.model if self.pretrained else f"{self.model} (random init)"

    @property
    def mean_score(self) -> float | None:
        scores = [c.score for c in self.cells.values() if c.ok and c.score is not None]
        return sum(scores) / len(scores) if scores else None

    @property
    def scored_at(self) -> str:
        """The newest ``created_at`` of the row's results (ISO 8601, UTC)."""
        return max((c.created_at for c in self.cells.values()), default="")


def column_label(result: PairResult) -> str:
    """The benchmark column a result belongs to: its id, plus its options when it has any (an internal key; the page
    shows :func:`column_names` instead, never the raw options)."""
    return result.benchmark if result.options in ("", "{}") else f"{result.benchmark} {result.options}"


def latest_results(results: Sequence[PairResult]) -> list[PairResult]:
    """The newest result per (model, pretrained, benchmark, options), e.g. to render a whole database."""
    newest: dict[tuple, PairResult] = {}
    for result in sorted(results, key=lambda r: r.created_at):  # stable: equal times keep database order
        newest[result.model, result.pretrained, result.benchmark, result.options] = result
    return list(newest.values())


def table_rows(results: Sequence[PairResult]) -> tuple[list[str], list[ModelRow]]:
    """Benchmark columns (first-seen order) and model rows (first-seen order); a later result for the same cell
    wins. The page sorts the rows with :func:`ranked`."""
    columns: list[str] = []
    rows: dict[tuple[str, bool], ModelRow] = {}
    for result in results:
        column = column_label(result)
        if column not in columns:
            columns.append(column)
        row = rows.setdefault((result.model, result.pretrained), ModelRow(result.model, result.pretrained))
        row.cells[column] = result
        if result.weights_hash:
            row.weights_hash = result.weights_hash
        provenance = model_provenance(result)
        if provenance is not None:
            row.provenance = provenance
    return columns, list(rows.values())


def model_provenance(result: PairResult) -> dict | None:
    """The result's ``attrs['model_provenance']`` (an RDM model's source, measure, content hash), else ``None``."""
    provenance = _parsed_attrs(result).get("model_provenance")
    return provenance if isinstance(provenance, dict) and provenance else None


def provenance_text(provenance: Mapping) -> str:
    """One line for an RDM model's provenance: ``RDMs · source: … · measure: … · <other facts> · content sha256
    <12 hex>``; absolute paths redacted (:func:`redact_paths`)."""
    kind = str(provenance.get("kind", "model"))
    parts = ["RDMs" if kind == "rdms" else kind]
    named = {"source": "source", "dissimilarity_measure": "measure"}
    for key, label in named.items():
        if key in provenance:
            parts.append(f"{label}: {provenance[key]}")
    for key, value in provenance.items():
        if key not in named and key not in PROVENANCE_HIDDEN:
            parts.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, default=str)}")
    if provenance.get("content_sha256"):
        parts.append(f"content sha256 {str(provenance['content_sha256'])[:12]}")
    return redact_paths(" \u00b7 ".join(parts))


def ranked(rows: Sequence[ModelRow]) -> list[ModelRow]:
    """Rows by mean score, highest first; rows without a score last (stable otherwise)."""
    return sorted(rows, key=lambda r: (r.mean_score is None, -(r.mean_score or 0.0)))


def column_names(columns: Sequence[str], results: Sequence[PairResult]) -> dict[str, str]:
    """Shown name per column: the benchmark id, with ``· options A``, ``B``... when one id has several option sets."""
    benchmark_of = {column_label(r): r.benchmark for r in results}
    names, seen = {}, {}
    for column in columns:
        benchmark = benchmark_of[column]
        seen.setdefault(benchmark, []).append(column)
    for benchmark, group in seen.items():
        for index, column in enumerate(group):
            names[column] = benchmark if len(group) == 1 else f"{benchmark} \u00b7 options {chr(65 + index % 26)}"
    return names


def _parsed_attrs(result: PairResult) -> dict:
    try:
        attrs = json.loads(result.attrs or "{}")
    except json.JSONDecodeError:
        return {}
    return attrs if isinstance(attrs, dict) else {}


def _dims(attrs: dict) -> list[str]:
    similarity = attrs.get("similarity")
    return list(similarity.get("dims", [])) if isinstance(similarity, dict) else []


def is_time_resolved(result: PairResult) -> bool:
    """Whether a scored result carries a time-resolved similarity (``subject x layer x time``)."""
    return result.ok and "time" in _dims(_parsed_attrs(result))


def describe_column(results: Sequence[PairResult]) -> str:
    """One line for a benchmark column: what is compared and which ceiling divides it (from the results' attrs)."""
    if not any(r.ok for r in results):
        return "no description: no result of this column was scored"
    attrs = next((a for a in (_parsed_attrs(r) for r in results if r.ok) if a), {})
    if isinstance(attrs.get("description"), str):
        return redact_paths(attrs["description"])
    dims = _dims(attrs)
    if "time" in dims:
        window = attrs.get("window") or [0.0, 0.5]
        return (f"{attrs.get('comparison', 'spearman')} r of model-layer RDMs (1 - Pearson) with "
                f"{attrs.get('method', '?')} EEG RDMs per time point; score = best layer's mean over "
                f"{window[0] * 1000:.0f}\u2013{window[1] * 1000:.0f} ms \u00f7 lower noise ceiling (each subject vs "
                f"the others' mean)")
    if "roi" in dims:
        return (f"{attrs.get('method', 'spearman')} r of model-layer RDMs (1 - Pearson) with "
                f"{attrs.get('dataset', 'fMRI')} fMRI ROI RDMs; score = best layer per ROI \u00f7 that ROI's lower "
                f"noise ceiling, mean over ROIs")
    if "accuracies" in attrs:
        epsilons = attrs.get("epsilons") or [0.0]
        return (f"accuracy under {str(attrs.get('attack', '?')).upper()} L-inf attacks on "
                f"{attrs.get('n_images', '?')} images; score = area under accuracy vs epsilon (0\u2013"
                f"{max(epsilons) * 255:.0f}/255), normalised; ceiling 1")
    return "score = raw \u00f7 ceiling, as reported by the benchmark"


def figure_data_uri(path: str | os.PathLike) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI; other files are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"figure {path} does not exist")
    content = path.read_bytes()
    if not content.startswith(PNG_SIGNATURE):
        raise ValueError(f"figure {path} is not a PNG file (the page embeds PNG images only)")
    return "data:image/png;base64," + base64.b64encode(content).decode("ascii")


def figures_from_results(results: Sequence[PairResult]) -> dict[str, Path]:
    """Figures benchmarks reported in their score attrs (``figure``/``figure_path``) that exist as PNG files."""
    found: dict[str, Path] = {}
    for result in results:
        attrs = _parsed_attrs(result)
        for name in FIGURE_ATTRS:
            value = attrs.get(name)
            if isinstance(value, str) and value.lower().endswith(".png") and Path(value).is_file():
                found.setdefault(result.model, Path(value))
    return found


@dataclass
class _Figure:
    anchor: str
    caption: str
    row_key: str
    uri: str


def _drawn_png(draw: Callable[[Path], object]) -> str:
    """Run ``draw(path)`` into a temporary PNG and return it as a data URI (nothing is left on disk)."""
    with tempfile.TemporaryDirectory(prefix="realnet-page-") as folder:
        path = Path(folder) / "figure.png"
        draw(path)
        return figure_data_uri(path)


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _cell(text: str, value: str, css: str = "", title: str = "", markup: str | None = None) -> str:
    attributes = f' data-value="{html.escape(value)}"'
    if css:
        attributes += f' class="{css}"'
    if title:
        attributes += f' title="{html.escape(title)}"'
    return f"<td{attributes}>{markup if markup is not None else html.escape(text)}</td>"


def _metric_cells(result: PairResult | None) -> list[str]:
    if result is None:
        return [_cell("\u2014", "", "missing", "not scored")] * len(METRICS)
    if not result.ok:
        message = redact_paths(result.message or "failed")
        return [_cell("error", "", "error", message)] + [_cell("", "", "error")] * 3
    when = f"scored {result.created_at}"
    cells = []
    for value in (result.score, result.raw, result.ceiling):
        cells.append(_cell("\u2014" if value is None else f"{value:.3f}", _number(value), title=when))
    if result.ci_low is not None and result.ci_high is not None:
        raw_low, raw_high = raw_interval(result)
        raw_text = ("" if raw_low is None or raw_high is None else
                    f"; raw similarity's CI {raw_low:.3f}\u2013{raw_high:.3f}")
        cells.append(_cell("", _number(result.ci_low), "ci",
                           f"confidence interval of the score{raw_text}; sorted by the lower bound",
                           markup=f"{result.ci_low:.3f}\u2013<br>{result.ci_high:.3f}"))
    elif result.error is not None:
        cells.append(_cell(f"\u00b1 {result.error:.3f}", _number(result.error), "ci", "the score's error attribute"))
    else:
        cells.append(_cell("\u2014", "", "missing", "no confidence interval of the score computed"))
    return cells


def _when(stamp: str) -> str:
    try:
        moment = datetime.fromisoformat(stamp).astimezone(timezone.utc)
    except ValueError:
        return html.escape(stamp)
    return f"{moment:%Y-%m-%d}<br>{moment:%H:%M} UTC"


def _row_key(row: ModelRow) -> str:
    return f"{row.model}|{'pretrained' if row.pretrained else 'random'}"


def table_records(rows: Sequence[ModelRow], columns: Sequence[str], names: Mapping[str, str],
                  shown_options: Mapping[str, str]) -> list[dict]:
    """The page's table as flat records (one per model and benchmark column, in the page's order): the CSV/JSON
    downloads. No absolute path: options as shown on the page, messages redacted."""
    records = []
    for rank, row in enumerate(rows, 1):
        for column in columns:
            result = row.cells.get(column)
            if result is None:
                continue
            records.append({
                "rank": rank, "model": row.model, "pretrained": row.pretrained, "weights_sha256": result.weights_hash,
                "benchmark": names[column], "options": shown_options[column],
                "benchmark_version": result.benchmark_version, "status": result.status,
                "score": _finite(result.score),
                "raw": _finite(result.raw), "ceiling": _finite(result.ceiling),
                "score_ci_low": _finite(result.ci_low), "score_ci_high": _finite(result.ci_high),
                "raw_ci_low": _finite(raw_interval(result)[0]), "raw_ci_high": _finite(raw_interval(result)[1]),
                "error": _finite(result.error), "scored_at": result.created_at,
                "message": redact_paths(result.message) if result.message else None,
                "model_provenance": provenance_text(row.provenance) if row.provenance else None})
    return records


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _data_link(content: str, mime: str, filename: str, label: str) -> str:
    encoded = base64.b64encode(content.encode("utf-8")).decode("ascii")
    return (f'<a download="{html.escape(filename)}" href="data:{mime};charset=utf-8;base64,{encoded}" '
            f'data-download="{html.escape(filename)}">{html.escape(label)}</a>')


def render_leaderboard(results: Sequence[PairResult], path: str | os.PathLike, *,
                       figures: Mapping[str, str | os.PathLike] | None = None,
                       pairs: Sequence[tuple[str, str]] = (), auto_figures: bool = True,
                       title: str = "realnet leaderboard") -> Path:
    """Write the leaderboard page for ``results`` to ``path`` (atomically); returns the path.

    figures: model id -> PNG file embedded for that model (figures named by the benchmarks in their score attrs are
        added for models without one). auto_figures: draw a time-course figure (:func:`realnet_plugin.plots.
        plot_time_course`) for every time-resolved result of a model without a given figure.
    pairs: ``(model A, model B)`` ids (a row label such as ``'x (random init)'`` names a random initialisation):
        for every time-resolved benchmark column both have scored, the improvement figure A - B with its paired
        clusters (:func:`realnet_plugin.plots.plot_improvement`).
    Raises ``ValueError`` (before anything is drawn or written) for no results, figures or pairs naming models not on
    the board, or figure files that are not PNG; ``FileNotFoundError`` for missing figure files.
    """
    from realnet_plugin import plots

    if not results:
        raise ValueError("no results to put on the leaderboard page")
    columns, rows = table_rows(results)
    rows = ranked(rows)
    by_label = {row.label: row for row in rows}
    pretrained_row = {row.model: row for row in rows if row.pretrained}
    chosen = {**figures_from_results(results), **dict(figures or {})}
    known = {row.model for row in rows}
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise ValueError(f"figures given for models not on the leaderboard: {', '.join(unknown)}")
    pair_rows = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"a model pair is (model A, model B), got {pair!r}")
        found = [by_label.get(name) or pretrained_row.get(name) for name in pair]
        missing = [name for name, row in zip(pair, found) if row is None]
        if missing:
            raise ValueError(f"pair {tuple(pair)}: {', '.join(missing)} not on the leaderboard")
        pair_rows.append(tuple(found))
    embedded = {model: figure_data_uri(chosen[model]) for model in chosen}  # checks every given file first

    names = column_names(columns, results)
    fingerprints: dict[str, str] = {}
    options_of = {column_label(r): r.options for r in results}
    versions = {column_label(r): r.benchmark_version for r in results}
    option_items = {column: display_options(options_of[column], fingerprints) for column in columns}
    shown_options = {column: "; ".join(f"{k} = {v}" for k, v in option_items[column]) for column in columns}
    descriptions = {column: describe_column([r for r in results if column_label(r) == column]) for column in columns}
    anchors = {column: f"benchmark-{index}" for index, column in enumerate(columns)}

    figure_list: list[_Figure] = []
    skipped: list[str] = []
    for model, uri in embedded.items():
        row = pretrained_row.get(model) or next(r for r in rows if r.model == model)
        figure_list.append(_Figure("", f"{row.label}", _row_key(row), uri))
    if auto_figures:
        for row in rows:
            if row.model in embedded:
                continue
            for column in columns:
                result = row.cells.get(column)
                if result is not None and is_time_resolved(result):
                    attrs = _parsed_attrs(result)
                    uri = _drawn_png(lambda p, attrs=attrs, row=row, column=column: plots.plot_time_course(
                        attrs, p, title=f"{row.label} on {names[column]}"))
                    figure_list.append(_Figure("", f"{row.label} \u00b7 {names[column]}: time course",
                                               _row_key(row), uri))
    for row_a, row_b in pair_rows:
        drawn = False
        for column in columns:
            a, b = row_a.cells.get(column), row_b.cells.get(column)
            if a is None or b is None or not (is_time_resolved(a) and is_time_resolved(b)):
                continue
            try:
                uri = _drawn_png(lambda p, a=a, b=b, la=row_a.label, lb=row_b.label: plots.plot_improvement(
                    _parsed_attrs(a), _parsed_attrs(b), p, label_a=la, label_b=lb))
            except ValueError as error:
                skipped.append(f"{row_a.label} vs {row_b.label} on {names[column]}: {redact_paths(str(error))}")
                continue
            figure_list.append(_Figure("", f"{row_a.label} vs {row_b.label} \u00b7 {names[column]}: improvement "
                                           f"with paired clusters", _row_key(row_a), uri))
            drawn = True
        if not drawn and not any(s.startswith(f"{row_a.label} vs {row_b.label} ") for s in skipped):
            skipped.append(f"{row_a.label} vs {row_b.label}: no time-resolved benchmark scored for both")
    for index, item in enumerate(figure_list):
        item.anchor = f"figure-{index}"
    first_figure = {}
    for item in figure_list:
        first_figure.setdefault(item.row_key, item.anchor)

    tables = []
    for start in range(0, max(1, len(columns)), BENCHMARKS_PER_TABLE):
        chunk = columns[start:start + BENCHMARKS_PER_TABLE]
        first = start == 0
        head = ['<tr><th rowspan="2" class="model" data-col="0" data-type="text">model</th>']
        col = 1
        if first:
            head += ['<th rowspan="2" data-col="1" data-type="text" title="sha256 of the weights">weights</th>',
                     '<th rowspan="2" data-col="2" data-type="text" title="when the newest result of the row was '
                     'scored (UTC)">scored</th>',
                     '<th rowspan="2" data-col="3" data-type="number" aria-sort="descending" '
                     'title="mean of the scores this model has; the default order">mean score</th>']
            col = 4
        for column in chunk:
            head.append(f'<th colspan="{len(METRICS)}" class="group" id="column-{anchors[column]}">'
                        f"{html.escape(names[column])}<span class=\"desc\">{html.escape(descriptions[column])} "
                        f'<a href="#{anchors[column]}">options</a></span></th>')
        head.append("</tr><tr>")
        for column in chunk:
            for metric in METRICS:
                head.append(f'<th data-col="{col}" data-type="number" data-benchmark="{html.escape(names[column])}" '
                            f'data-metric="{metric}">{metric}</th>')
                col += 1
        head.append("</tr>")
        body = []
        for row in rows:
            key = _row_key(row)
            link = f' <a href="#{first_figure[key]}">figure</a>' if key in first_figure else ""
            note = (f'<span class="provenance" data-provenance="rdms">{html.escape(provenance_text(row.provenance))}'
                    "</span>" if row.provenance else "")
            cells = [f'<td class="model" data-value="{html.escape(row.label)}">{html.escape(row.label)}{link}'
                     f"{note}</td>"]
            if first:
                hashed = "its stimulus ids and RDMs" if row.provenance else "the weights"
                cells += [_cell(row.weights_hash[:8], row.weights_hash, "hash",
                                f"sha256 of {hashed}: {row.weights_hash}"),
                          _cell("", row.scored_at, "when", f"scored {row.scored_at}", markup=_when(row.scored_at)),
                          _cell("\u2014" if row.mean_score is None else f"{row.mean_score:.3f}",
                                _number(row.mean_score))]
            for column in chunk:
                cells.extend(_metric_cells(row.cells.get(column)))
            body.append(f'<tr data-model="{html.escape(row.label)}" data-key="{html.escape(key)}">'
                        f'{"".join(cells)}</tr>')
        table_id = ' id="leaderboard"' if first else ""
        tables.append(f'<table class="board"{table_id}><thead>{"".join(head)}</thead>'
                      f'<tbody>{"".join(body)}</tbody></table>')

    options_html = "".join(
        f'<dt id="{anchors[column]}">{html.escape(names[column])} <span class="meta">(version '
        f'{html.escape(versions[column] or "?")})</span></dt><dd>{html.escape(descriptions[column])}</dd><dd>'
        + ("; ".join(f"<code>{html.escape(k)}</code> = {html.escape(v)}" for k, v in option_items[column])
           or "default options") + "</dd>" for column in columns)
    records = table_records(rows, columns, names, shown_options)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in record.items()} for record in records)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    json_text = json.dumps({"title": redact_paths(title), "generated": generated,
                            "benchmarks": [{"name": names[c], "description": descriptions[c],
                                            "options": dict(option_items[c]), "version": versions[c]}
                                           for c in columns], "results": records}, indent=1, allow_nan=False,
                           default=str)
    downloads = (f'<p class="downloads">Download the table: '
                 f'{_data_link(buffer.getvalue(), "text/csv", "leaderboard.csv", "CSV")}'
                 f'{_data_link(json_text, "application/json", "leaderboard.json", "JSON")}</p>')
    figure_html = "".join(
        f'<figure id="{item.anchor}"><img alt="{html.escape(item.caption)}" src="{item.uri}">'
        f"<figcaption>{html.escape(item.caption)}</figcaption></figure>" for item in figure_list)
    skipped_html = "".join(f'<p class="skipped">not drawn: {html.escape(s)}</p>' for s in skipped)
    shown_title = html.escape(redact_paths(title))
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{shown_title}</title><style>{_CSS}</style></head><body>"
            f"<h1>{shown_title}</h1>"
            f'<p class="meta">{len(rows)} models \u00d7 {len(columns)} benchmarks, generated {generated}. '
            f"Sorted by mean score; click a column header to sort.</p>{downloads}"
            + "".join(tables)
            + f'<details class="options"><summary>Benchmark options, datasets and versions</summary><dl>'
              f"{options_html}</dl></details>"
            + (f'<h2>Figures</h2><section class="figures">{figure_html}</section>' if figure_html else "")
            + skipped_html
            + f"<script>{_JS}</script></body></html>\n")
    path = Path(path)
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
