import base64
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import websocket
from PIL import Image

from realnet_plugin.leaderboard import PairResult, latest_results, render_leaderboard, table_rows
from realnet_plugin.plots import _figure, save_figure

CHROMIUM = "/usr/bin/chromium"
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


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str):
        self.socket = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id, self.events = 0, []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.events:
                if message.get("method") == event:
                    return message
            self.events.append(json.loads(self.socket.recv()))
        raise TimeoutError(event)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        box = self.evaluate(f"JSON.stringify(document.querySelector('{selector}').getBoundingClientRect())")
        box = json.loads(box)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


@pytest.fixture
def browser(tmp_path):
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: run scripts/install_browser.sh (make test does)")
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1280,900", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit code {process.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.loads(no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        page = next(t for t in targets if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.socket.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def test_page_sorts_on_click_in_headless_chromium(browser, results, figure_png, tmp_path):
    page = render_leaderboard(results, tmp_path / "board.html", figures={"model_b": figure_png})
    for domain in ("Page", "Network", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=page.as_uri())
    browser.wait_for("Page.loadEventFired")
    order = "Array.from(document.querySelectorAll('#leaderboard tbody tr')).map(r => r.dataset.model)"
    assert browser.evaluate(order) == ["model_a", "model_b", "model_c", "model_d", "model_a (random init)"]

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

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])
    (tmp_path / "screenshot.png").write_bytes(shot)
    image = Image.open(io.BytesIO(shot))
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and image.width >= 800 and image.height >= 400
    assert np.asarray(image.convert("L")).std() > 10  # not a blank page

    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(url.startswith(("file://", "data:")) for url in requests)
    exceptions = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
    log_errors = [e for e in browser.events
                  if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
    assert exceptions == [] and log_errors == []
