import base64
import io
import json
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from realnet_plugin.leaderboard import PairResult, latest_results, render_leaderboard, table_rows
from realnet_plugin.plots import _figure, save_figure

BENCH_A, BENCH_B = "lbtest-alpha", "lbtest-beta"


def _ok(model, benchmark, value, pretrained=True, **changes):
    return replace(PairResult(model=model, benchmark=benchmark, weights_hash=f"{model}-hash".ljust(64, "0"),
                              benchmark_version="1", pretrained=pretrained, score=value, raw=value / 2,
                              ceiling=0.5, ci_low=value - 0.1, ci_high=value + 0.1), **changes)


@pytest.fixture
def results() -> list[PairResult]:
    return [_ok("model_a", BENCH_A, 0.20), _ok("model_b", BENCH_A, 0.90), _ok("model_c", BENCH_A, 0.50),
            PairResult(model="model_d", benchmark=BENCH_A, weights_hash="d" * 64, benchmark_version="1",
                       status="error", message="ValueError: no data <here>"),
            _ok("model_a", BENCH_B, 0.70), _ok("model_b", BENCH_B, 0.10),
            _ok("model_a", BENCH_A, 0.30, pretrained=False)]


@pytest.fixture
def figure_png(tmp_path) -> Path:
    figure, axis = _figure(4, 3)
    axis.plot(np.arange(10), np.sin(np.arange(10)), marker="o")
    axis.set(title="time course of model_b", xlabel="time (ms)")
    return save_figure(figure, tmp_path / "model_b.png")


def test_table_rows_group_by_model_and_later_results_win(results):
    columns, rows = table_rows(results + [_ok("model_c", BENCH_A, 0.55)])
    assert columns == [BENCH_A, BENCH_B]
    assert [r.label for r in rows] == ["model_a", "model_b", "model_c", "model_d", "model_a (random init)"]
    assert rows[2].cells[BENCH_A].score == 0.55
    assert rows[0].mean_score == pytest.approx((0.2 + 0.7) / 2) and rows[3].mean_score is None
    older = _ok("model_a", BENCH_A, 0.99, created_at="2000-01-01T00:00:00+00:00")
    assert {(r.model, r.score) for r in latest_results([*results, older]) if r.benchmark == BENCH_A} >= {
        ("model_a", 0.2), ("model_a", 0.3)}


def test_page_is_self_contained_and_refuses_bad_figures(results, figure_png, tmp_path):
    page = render_leaderboard(results, tmp_path / "board.html", figures={"model_b": figure_png}).read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("data:image/png;base64,") == 1 and "ValueError: no data &lt;here&gt;" in page
    assert base64.b64decode(page.split("data:image/png;base64,")[1].split('"')[0]) == figure_png.read_bytes()
    not_png = tmp_path / "figure.pdf"
    not_png.write_bytes(b"%PDF-1.4 ...")
    with pytest.raises(ValueError, match="figure.pdf is not a PNG"):
        render_leaderboard(results, tmp_path / "x.html", figures={"model_a": not_png})
    with pytest.raises(FileNotFoundError, match="missing.png does not exist"):
        render_leaderboard(results, tmp_path / "x.html", figures={"model_a": tmp_path / "missing.png"})
    with pytest.raises(ValueError, match="not on the leaderboard: model_z"):
        render_leaderboard(results, tmp_path / "x.html", figures={"model_z": figure_png})
    with pytest.raises(ValueError, match="no results"):
        render_leaderboard([], tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "board.html", "figure.pdf", "model_b.png"]
    from_attrs = [replace(r, attrs=json.dumps({"figure": str(figure_png)})) if r.model == "model_b" else r
                  for r in results]
    assert "data:image/png" in render_leaderboard(from_attrs, tmp_path / "attrs.html").read_text()


SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = ("no Chromium for the page test: run `bash scripts/install_browser.sh` as root (Debian: apt-get "
                "install chromium) or `python -m playwright install chromium`")


@dataclass
class Browser:
    """One headless Chromium page driven by Playwright, with what the page requested and every error it reported."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (always evaluated as an expression, never as a function)."""
        return self.page.evaluate(f"() => ({expression})")

    def click(self, selector: str) -> None:
        """A real mouse click on the first element matching the CSS selector."""
        self.page.locator(selector).first.click()


@pytest.fixture(scope="module")
def chromium():
    """Playwright's Chromium: the system's /usr/bin/chromium, else the one `playwright install` downloaded."""
    with sync_playwright() as playwright:
        if SYSTEM_CHROMIUM.exists():
            executable = str(SYSTEM_CHROMIUM)
        elif Path(playwright.chromium.executable_path).exists():
            executable = None  # Playwright's own download
        else:
            pytest.fail(INSTALL_HINT, pytrace=False)
        launched = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-quic"])
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    driven = Browser(page)
    page.on("request", lambda request: driven.requests.append(request.url))
    page.on("requestfailed", lambda request: driven.errors.append(f"request failed: {request.url}"))
    page.on("pageerror", lambda error: driven.errors.append(f"exception: {error}"))
    page.on("console", lambda message: driven.errors.append(f"console: {message.text}")
            if message.type == "error" else None)
    yield driven
    context.close()


def test_page_sorts_on_click_in_headless_chromium(browser, results, figure_png, tmp_path):
    page = render_leaderboard(results, tmp_path / "board.html", figures={"model_b": figure_png})
    browser.page.goto(page.as_uri(), wait_until="load")
    order = "Array.from(document.querySelectorAll('#leaderboard tbody tr')).map(r => r.dataset.model)"
    # by mean score, highest first (b 0.5, c 0.5, a 0.45, a random 0.3, d failed)
    assert browser.evaluate(order) == ["model_b", "model_c", "model_a", "model_a (random init)", "model_d"]

    score_a = f'th[data-benchmark="{BENCH_A}"][data-metric="score"]'
    browser.click(score_a)
    assert browser.evaluate(order) == ["model_a", "model_a (random init)", "model_c", "model_b", "model_d"]
    assert browser.evaluate(f"document.querySelector('{score_a}').getAttribute('aria-sort')") == "ascending"
    browser.click(score_a)  # descending; the failed cell stays last
    assert browser.evaluate(order) == ["model_b", "model_c", "model_a (random init)", "model_a", "model_d"]
    browser.click(f'th[data-benchmark="{BENCH_B}"][data-metric="score"]')  # missing cells last
    assert browser.evaluate(order)[:2] == ["model_b", "model_a"]
    browser.click('th[data-col="0"]')
    assert browser.evaluate(order) == ["model_a", "model_a (random init)", "model_b", "model_c", "model_d"]
    assert browser.evaluate("document.querySelector('figure img').naturalWidth") == Image.open(figure_png).width

    shot = browser.page.screenshot(full_page=True, type="png")
    (tmp_path / "screenshot.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot))
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and image.width >= 800 and image.height >= 400
    assert np.asarray(image.convert("L")).std() > 10  # not a blank page

    assert browser.requests and all(url.startswith(("file://", "data:")) for url in browser.requests)
    assert browser.errors == []


# --- a page to share: real results, no machine paths, 1280 px, downloads, figures -----------------------------------
def _many_benchmarks(tmp_path) -> list[PairResult]:
    """Seven more benchmark columns with long ids, a CI, an error whose message names a file of this machine."""
    extra = []
    for index in range(7):
        benchmark = f"lbtest-benchmark-with-a-rather-long-identifier-{index}"
        extra += [_ok("test_fig_planted", benchmark, 0.1 * index), _ok("test_fig_other", benchmark, 0.05 * index)]
    extra.append(PairResult(model="a_model_with_an_unusually_long_identifier_for_wrapping_checks", benchmark=BENCH_A,
                            weights_hash="e" * 64, benchmark_version="1", status="error",
                            message=f"FileNotFoundError: {tmp_path}/things-eeg2/preprocessed_data/sub-01 is missing"))
    return extra


def _navigate(browser: Browser, url: str) -> None:
    browser.page.goto(url, wait_until="load")


def test_shared_page_fits_1280_px_and_names_no_path_of_this_machine(browser, eeg_board, tmp_path):
    PLANTED, OTHER, EEG_BENCHMARK = eeg_board.planted, eeg_board.other, eeg_board.benchmark
    results = eeg_board.results + _many_benchmarks(tmp_path)
    page = render_leaderboard(results, tmp_path / "board.html", pairs=[(PLANTED, OTHER)])
    text = page.read_text()
    root = str(eeg_board.root)
    for private in (str(tmp_path), root, str(Path(root).parent), "/tmp/", "pytest-of-"):
        assert private not in text, private
    decoded = [base64.b64decode(blob).decode() for blob in re.findall(r"base64,([A-Za-z0-9+/=]+)\"", text)
               if not blob.startswith("iVBOR")]  # the CSV and JSON downloads
    assert len(decoded) == 2 and all(str(tmp_path) not in d and root not in d for d in decoded)

    _navigate(browser, page.as_uri())
    assert browser.evaluate("window.innerWidth") == 1280
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280
    assert browser.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    tables = browser.evaluate("Array.from(document.querySelectorAll('table.board')).map(t => "
                              "t.getBoundingClientRect().right)")
    assert len(tables) == 4 and max(tables) <= 1280  # 10 benchmark columns, 3 per table
    # headers: benchmark id plus a one-line description; options collapsed in <details> below the tables
    group = browser.evaluate(f"Array.from(document.querySelectorAll('th.group')).map(th => th.textContent)"
                             f".find(t => t.startsWith('{EEG_BENCHMARK}'))")
    assert "correlation EEG RDMs" in group and "lower noise ceiling" in group and "{" not in group
    assert browser.evaluate("document.querySelector('details.options').open") is False
    details = browser.evaluate("document.querySelector('details.options').textContent")
    shown = re.findall(r"root = things-eeg2 \[content ([0-9a-f]{12})\]", details)
    assert len(shown) == 2 and len(set(shown)) == 1
    assert "sub-01 is missing" in text and "\u2026/sub-01 is missing" in text  # the message, without its folder
    # sorted by mean score, highest first; every table in the same order
    order = browser.evaluate("Array.from(document.querySelectorAll('table.board')).map(t => "
                             "Array.from(t.tBodies[0].rows).map(r => r.dataset.key))")
    means = {}
    for result in results:
        if result.ok and result.score is not None:
            means.setdefault(result.model, []).append(result.score)
    expected = sorted(means, key=lambda m: -np.mean(means[m]))
    assert [key.split("|")[0] for key in order[0]][:len(expected)] == expected
    assert order[0] == order[1] == order[2] == order[3]
    browser.click('table.board:nth-of-type(2) th[data-metric="score"]')
    order = browser.evaluate("Array.from(document.querySelectorAll('table.board')).map(t => "
                             "Array.from(t.tBodies[0].rows).map(r => r.dataset.key))")
    assert order[0] == order[1] == order[3] and order[0][0].startswith(OTHER)  # ascending: lower score first
    # figures: a time course per model and time-resolved column, improvement figures for the pair
    captions = browser.evaluate("Array.from(document.querySelectorAll('figcaption')).map(c => c.textContent)")
    assert sum("time course" in c for c in captions) == 4
    assert sum(f"{PLANTED} vs {OTHER}" in c and "improvement" in c for c in captions) == 2
    assert browser.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 600)")
    assert browser.evaluate("document.querySelector('td.model a').getAttribute('href').startsWith('#figure-')")
    assert browser.requests and all(url.startswith(("file://", "data:")) for url in browser.requests)
    assert browser.errors == []


def test_csv_and_json_downloads_hold_the_table(browser, eeg_board, tmp_path):
    import csv

    results = eeg_board.results
    page = render_leaderboard(results, tmp_path / "board.html", auto_figures=False)
    _navigate(browser, page.as_uri())
    with browser.page.expect_download() as download:
        browser.click('a[download="leaderboard.csv"]')
    assert download.value.suggested_filename == "leaderboard.csv"
    saved = tmp_path / "downloads" / "leaderboard.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert len(rows) == len(results) == 4
    for result in results:
        single = "score_subjects" in result.options
        match = [r for r in rows if r["model"] == result.model and ("score_subjects" in r["options"]) == single]
        assert len(match) == 1
        assert float(match[0]["score"]) == pytest.approx(result.score)
        assert float(match[0]["raw"]) == pytest.approx(result.raw)
        assert match[0]["weights_sha256"] == result.weights_hash and match[0]["scored_at"] == result.created_at
        assert match[0]["options"].startswith("n_permutations = 200; root = things-eeg2 [content ")
    assert [int(r["rank"]) for r in rows] == sorted(int(r["rank"]) for r in rows)
    href = browser.evaluate("document.querySelector('a[download=\"leaderboard.json\"]').href")
    assert href.startswith("data:application/json;charset=utf-8;base64,")
    table = json.loads(base64.b64decode(href.split(",", 1)[1]))
    assert {r["model"] for r in table["results"]} == {r.model for r in results}
    assert [b["name"] for b in table["benchmarks"]] == [f"{results[0].benchmark} \u00b7 options {x}" for x in "AB"]


def test_page_works_from_a_static_web_server(browser, eeg_board, tmp_path):
    import functools
    import http.server
    import threading

    page = render_leaderboard(eeg_board.results, tmp_path / "site" / "index.html")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        _navigate(browser, f"{origin}/index.html")
        assert browser.evaluate("document.querySelectorAll('#leaderboard tbody tr').length") == 2
        assert browser.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert browser.evaluate("typeof window.sortLeaderboard") == "function"
        requests = browser.requests
        assert requests[0] == f"{origin}/index.html" and all(
            url.startswith("data:") for url in requests[1:]), requests
        assert browser.errors == []
    finally:
        server.shutdown()
        server.server_close()


def test_dataset_fingerprint_follows_content_not_location(tmp_path):
    from realnet_plugin.leaderboard.page import content_fingerprint, dataset_label, redact_paths

    first = tmp_path / "a" / "things-eeg2"
    (first / "sub").mkdir(parents=True)
    (first / "sub" / "x.npy").write_bytes(bytes(range(256)) * 1000)  # 256 kB: head and tail sampled
    (first / "meta.txt").write_text("concepts")
    second = Path(shutil.copytree(first, tmp_path / "b" / "things-eeg2"))
    assert content_fingerprint(first) == content_fingerprint(second)
    assert dataset_label(str(first)) == f"things-eeg2 [content {content_fingerprint(second)}]"
    (second / "meta.txt").write_text("concepts!")
    assert content_fingerprint(first) != content_fingerprint(second)
    (second / "meta.txt").write_text("concepts")
    (second / "sub" / "x.npy").rename(second / "sub" / "y.npy")
    assert content_fingerprint(first) != content_fingerprint(second)
    assert dataset_label(str(tmp_path / "gone")) == "gone [not found when the page was made]"
    assert redact_paths("cannot read /home/alice/data/sub-01.npy (see ~/x/log.txt); 1/255, a/b, "
                        "C:\\Users\\bob\\set.csv, file:///tmp/y/z.png") == (
        "cannot read \u2026/sub-01.npy (see \u2026/log.txt); 1/255, a/b, \u2026/set.csv, \u2026/z.png")


def test_browser_fixture_reports_what_the_page_tests_assert_absent(browser, tmp_path):
    """The `requests` / `errors` lists the page tests require clean do see an exception, a console error, a failed
    load, and every URL the page asks for (so `errors == []` above can fail)."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="missing.png"><script>console.error("planted console error");'
                    'throw new Error("planted exception")</script></body></html>')
    browser.page.goto(page.as_uri(), wait_until="load")
    assert browser.requests == [page.as_uri(), (tmp_path / "missing.png").as_uri()]
    assert any("planted console error" in e for e in browser.errors)
    assert any("planted exception" in e for e in browser.errors)
    assert any("missing.png" in e for e in browser.errors)
