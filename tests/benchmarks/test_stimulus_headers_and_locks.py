"""An undecodable stimulus file fails in the benchmark's validate(), before any model is built, in one line naming
the file; the activation cache leaves no ``.lock`` file behind (built or failed entry), removes orphan ones, and a
removed lock still excludes a second holder."""
from __future__ import annotations

import fcntl
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image
from torch import nn

from benchmarks import load_benchmark
from benchmarks.roi_rsa import RoiRdms, RoiRsaBenchmark
from model_registry import Preprocessing, list_models, register_model
from model_registry.extractor import ActivationsExtractor
from model_registry.stimuli import Stimuli
from model_registry.storage.activation_cache import ActivationCache
from realnet_plugin.api import score

BUILT: list[bool] = []
MODEL = "test_header_check_net"


def _register() -> None:
    if MODEL not in list_models(MODEL):
        def build(pretrained):
            BUILT.append(pretrained)
            return nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU())
        register_model(MODEL, family="test", layers=("1",), region_layer_map={"IT": "1"},
                       preprocessing=Preprocessing(image_size=16))(build)


def _break(path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(300))  # random bytes under an image's name


def test_eeg_benchmark_refuses_an_undecodable_image_before_the_model(tiny_copy):
    _register()
    first = sorted((tiny_copy / "image_set" / "test_images").glob("*/*"))[1]
    _break(first)
    with pytest.raises(ValueError) as caught:
        load_benchmark("things-eeg-rsa-correlation", root=tiny_copy).validate()
    message = str(caught.value)
    assert "\n" not in message and str(first) in message and message.startswith("things-eeg-rsa-correlation: ")
    BUILT.clear()
    with pytest.raises(ValueError, match="cannot read stimulus"):
        score(MODEL, "things-eeg-rsa-correlation", root=str(tiny_copy), n_permutations=0, n_bootstrap=0)
    assert BUILT == []  # no network was built
    assert not list(ActivationCache().root.glob("*/*"))  # and nothing half-written in the cache


def test_roi_benchmark_refuses_an_undecodable_image_in_validate(tmp_path):
    files = []
    for i in range(4):
        files.append(tmp_path / f"im{i}.png")
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(files[-1])
    _break(files[2])
    rdms = {"IT": np.random.default_rng(1).random((3, 6))}
    data = RoiRdms("toy", ("a", "b", "c"), rdms, Stimuli(tuple(f.stem for f in files), tuple(files)), lambda: None)
    with pytest.raises(ValueError, match=rf"^toy-rsa: cannot read stimulus 'im2' from {files[2]}: "):
        RoiRsaBenchmark("toy-rsa", lambda: data, n_bootstrap=0).validate()


def test_failed_extraction_leaves_no_lock_file(tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    _break(bad)
    extractor = ActivationsExtractor(nn.Sequential(nn.Conv2d(3, 2, 3)), Preprocessing(image_size=16),
                                     progress=False)
    root = ActivationCache().root
    with pytest.raises(ValueError, match="cannot read stimulus"):
        extractor([good, bad], ["0"])
    assert list(root.glob("*/*.lock")) == []
    extractor([good], ["0"])  # a built entry: its data, no lock beside it
    assert len(list(root.glob("*/*/meta.json"))) == 1 and list(root.glob("*/*.lock")) == []


def test_orphan_locks_are_swept_and_a_removed_lock_still_excludes(tmp_path):
    cache = ActivationCache(tmp_path / "cache")
    orphan = cache.lock_path("ab" + "0" * 62)
    orphan.parent.mkdir(parents=True)
    orphan.touch()
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))  # left by a process killed an hour ago
    assert orphan in cache.remove_stale() and not orphan.exists()

    key = "cd" + "1" * 62
    order, inside = [], threading.Event()

    def second():
        with cache.lock(key):
            order.append("second in")
            path = cache.lock_path(key)
            with open(path) as probe:  # the file at the path is the one held: a third process would wait
                with pytest.raises(BlockingIOError):
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            order.append("second out")

    with cache.lock(key):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)  # the second holder now waits on the first's file
        assert order == []
        inside.set()
        order.append("first out")
    thread.join(10)
    assert order == ["first out", "second in", "second out"] and not cache.lock_path(key).exists()
