"""The leaderboard as one self-contained HTML page: inline CSS and JavaScript, figures as PNG data URIs.

One row per model (random initialisations get their own row); per benchmark four columns: score, raw, ceiling and
confidence interval. Clicking a column header sorts the rows (numbers numerically, ascending then descending;
empty and failed cells always last). A Content-Security-Policy forbids every network request.
"""
from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from model_registry.atomic import atomic_path

from .records import PairResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURE_ATTRS = ("figure", "figure_path")
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1d2330; }
h1 { font-size: 22px; margin: 0 0 4px; }
.meta { color: #5b6475; margin: 0 0 16px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d5d9e2; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f6; }
th.group { text-align: center; background: #dfe5ef; }
th[data-col] { cursor: pointer; user-select: none; }
th[data-col]:hover { background: #d3dbe8; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.model, th.model { text-align: left; }
td.hash { font-family: ui-monospace, monospace; color: #5b6475; }
td.error { color: #b3261e; text-align: center; }
td.missing { color: #9aa1ad; text-align: center; }
tbody tr:nth-child(even) { background: #f8f9fb; }
td.model a { font-size: 12px; margin-left: 6px; }
section.figures { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 24px; }
figure { margin: 0; border: 1px solid #d5d9e2; padding: 8px; background: #fff; }
figure img { max-width: 560px; display: block; }
figcaption { color: #5b6475; margin-top: 4px; }
"""

_JS = """
(function () {
  const table = document.getElementById('leaderboard');
  const body = table.tBodies[0];
  const headers = Array.from(table.querySelectorAll('th[data-col]'));
  function cellValue(row, col, numeric) {
    const raw = row.cells[col].getAttribute('data-value');
    if (raw === null || raw === '') return null;
    if (!numeric) return raw.toLowerCase();
    const number = parseFloat(raw);
    return Number.isFinite(number) ? number : null;
  }
  function sortBy(header) {
    const col = Number(header.getAttribute('data-col'));
    const numeric = header.getAttribute('data-type') === 'number';
    const direction = header.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
    headers.forEach(h => h.removeAttribute('aria-sort'));
    header.setAttribute('aria-sort', direction);
    const sign = direction === 'ascending' ? 1 : -1;
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellValue(a, col, numeric), y = cellValue(b, col, numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;   // empty or failed cells last in both directions
      if (y === null) return -1;
      return x < y ? -sign : x > y ? sign : 0;
    });
    rows.forEach(row => body.appendChild(row));
  }
  headers.forEach(h => h.addEventListener('click', () => sortBy(h)));
  window.sortLeaderboard = sortBy;
})();
"""

METRICS = ("score", "raw", "ceiling", "CI")


@dataclass
class ModelRow:
    """One table row: a model (pretrained or seeded random initialisation) and its result per benchmark column."""

    model: str
    pretrained: bool
    weights_hash: str = ""
    cells: dict[str, PairResult] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.model if self.pretrained else f"{self.model} (random init)"

    @property
    def mean_score(self) -> float | None:
        scores = [c.score for c in self.cells.values() if c.ok and c.score is not None]
        return sum(scores) / len(scores) if scores else None


def column_label(result: PairResult) -> str:
    """The benchmark column a result belongs to: its id, plus its options when it has any."""
    return result.benchmark if result.options in ("", "{}") else f"{result.benchmark} {result.options}"


def latest_results(results: Sequence[PairResult]) -> list[PairResult]:
    """The newest result per (model, pretrained, benchmark, options), e.g. to render a whole database."""
    newest: dict[tuple, PairResult] = {}
    for result in sorted(results, key=lambda r: r.created_at):  # stable: equal times keep database order
        newest[result.model, result.pretrained, result.benchmark, result.options] = result
    return list(newest.values())


def table_rows(results: Sequence[PairResult]) -> tuple[list[str], list[ModelRow]]:
    """Benchmark columns (first-seen order) and model rows; a later result for the same cell wins."""
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
    return columns, list(rows.values())


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
        try:
            attrs = json.loads(result.attrs or "{}")
        except json.JSONDecodeError:
            continue
        for name in FIGURE_ATTRS:
            value = attrs.get(name)
            if isinstance(value, str) and value.lower().endswith(".png") and Path(value).is_file():
                found.setdefault(result.model, Path(value))
    return found


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _cell(text: str, value: str, css: str = "", title: str = "") -> str:
    attributes = f' data-value="{html.escape(value)}"'
    if css:
        attributes += f' class="{css}"'
    if title:
        attributes += f' title="{html.escape(title)}"'
    return f"<td{attributes}>{html.escape(text)}</td>"


def _metric_cells(result: PairResult | None) -> list[str]:
    if result is None:
        return [_cell("—", "", "missing", "not scored")] * len(METRICS)
    if not result.ok:
        return [_cell("error", "", "error", result.message or "failed")] + [_cell("", "", "error")] * 3
    cells = []
    for value in (result.score, result.raw, result.ceiling):
        cells.append(_cell("—" if value is None else f"{value:.3f}", _number(value)))
    if result.ci_low is not None and result.ci_high is not None:
        cells.append(_cell(f"[{result.ci_low:.3f}, {result.ci_high:.3f}]", _number(result.ci_low),
                           title="sorted by the lower bound"))
    elif result.error is not None:
        cells.append(_cell(f"± {result.error:.3f}", _number(result.error), title="the score's error attribute"))
    else:
        cells.append(_cell("—", "", "missing"))
    return cells


def render_leaderboard(results: Sequence[PairResult], path: str | os.PathLike, *,
                       figures: Mapping[str, str | os.PathLike] | None = None,
                       title: str = "realnet leaderboard") -> Path:
    """Write the leaderboard page for ``results`` to ``path`` (atomically); returns the path.

    ``figures`` maps model ids to PNG files embedded below the table (figures named by the benchmarks in their
    score attrs are added for models without one).
    """
    if not results:
        raise ValueError("no results to put on the leaderboard page")
    columns, rows = table_rows(results)
    chosen = {**figures_from_results(results), **dict(figures or {})}
    unknown = sorted(set(chosen) - {row.model for row in rows})
    if unknown:
        raise ValueError(f"figures given for models not on the leaderboard: {', '.join(unknown)}")
    figure_ids = {model: f"figure-{index}" for index, model in enumerate(chosen)}
    embedded = {model: figure_data_uri(chosen[model]) for model in chosen}

    head = ['<tr><th rowspan="2" class="model" data-col="0" data-type="text">model</th>',
            '<th rowspan="2" data-col="1" data-type="text">weights</th>',
            '<th rowspan="2" data-col="2" data-type="number" title="mean of the scores this model has">mean score</th>']
    head += [f'<th colspan="{len(METRICS)}" class="group">{html.escape(c)}</th>' for c in columns]
    head.append("</tr><tr>")
    col = 3
    for column in columns:
        for metric in METRICS:
            head.append(f'<th data-col="{col}" data-type="number" data-benchmark="{html.escape(column)}" '
                        f'data-metric="{metric}">{metric}</th>')
            col += 1
    head.append("</tr>")

    body = []
    for row in rows:
        link = (f' <a href="#{figure_ids[row.model]}">figure</a>' if row.model in figure_ids else "")
        cells = [f'<td class="model" data-value="{html.escape(row.label)}">{html.escape(row.label)}{link}</td>',
                 _cell(row.weights_hash[:12], row.weights_hash, "hash", f"sha256 of the weights: {row.weights_hash}"),
                 _cell("—" if row.mean_score is None else f"{row.mean_score:.3f}", _number(row.mean_score))]
        for column in columns:
            cells.extend(_metric_cells(row.cells.get(column)))
        body.append(f'<tr data-model="{html.escape(row.label)}">{"".join(cells)}</tr>')

    figure_html = "".join(
        f'<figure id="{figure_ids[model]}"><img alt="figure of {html.escape(model)}" src="{embedded[model]}">'
        f"<figcaption>{html.escape(model)}</figcaption></figure>" for model in chosen)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>"
            f'<p class="meta">{len(rows)} models × {len(columns)} benchmarks, generated {generated}. '
            f"Click a column header to sort.</p>"
            f'<table id="leaderboard"><thead>{"".join(head)}</thead><tbody>{"".join(body)}</tbody></table>'
            + (f'<section class="figures">{figure_html}</section>' if figure_html else "")
            + f"<script>{_JS}</script></body></html>\n")
    path = Path(path)
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
