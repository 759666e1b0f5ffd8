"""Teacher-label cache: damaged entries are detected and recomputed; the key holds image content, code version and
backend."""
from __future__ import annotations

import logging
import os

import numpy as np
import torch
from PIL import Image

from model_registry.preprocessing import Preprocessing
from model_registry.storage.array_cache import ArrayCache
from realnet_plugin.training import teacher as teacher_module
from realnet_plugin.training.teacher import labels_key, teacher_labels

CPU = torch.device("cpu")


def _by_hand(teacher, split) -> np.ndarray:
    with torch.no_grad():
        pixels = torch.stack([Preprocessing(32)(Image.open(path)) for path in split.paths])
        return teacher.eval()(pixels).argmax(1).numpy()


def test_flipped_bytes_in_a_label_entry_are_detected_and_recomputed(tiny_targets, teacher, caplog):
    split = tiny_targets.test
    expected = _by_hand(teacher, split)
    calls = []
    teacher.V1.register_forward_hook(lambda *args: calls.append(1))
    first = teacher_labels(teacher, split, Preprocessing(32), CPU, progress=False)
    np.testing.assert_array_equal(first, expected)
    assert len(calls) == 1
    entry = ArrayCache("teacher_labels").path(labels_key(teacher, split, Preprocessing(32), device=CPU))
    raw = bytearray(entry.read_bytes())
    where = raw.find(first.tobytes())
    assert where >= 0
    raw[where + 8 * 3] ^= 0x05  # label 3 becomes another class
    entry.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING):
        again = teacher_labels(teacher, split, Preprocessing(32), CPU, progress=False)
    assert len(calls) == 2 and "damaged or stale" in caplog.text
    np.testing.assert_array_equal(again, expected)
    assert again.dtype == np.int64
    teacher_labels(teacher, split, Preprocessing(32), CPU, progress=False)
    assert len(calls) == 2  # the repaired entry is read


def test_key_holds_image_content_code_version_and_backend(tiny_targets, teacher, monkeypatch, tmp_path):
    split = tiny_targets.test
    base = labels_key(teacher, split, Preprocessing(32), device=CPU)
    assert labels_key(teacher, split, Preprocessing(32), device=CPU, amp=True) != base
    assert labels_key(teacher, split, Preprocessing(32), device="cuda") != base
    assert labels_key(teacher, split, Preprocessing(64), device=CPU) != base
    monkeypatch.setattr(teacher_module, "TEACHER_LABELS_VERSION", teacher_module.TEACHER_LABELS_VERSION + 1)
    assert labels_key(teacher, split, Preprocessing(32), device=CPU) != base
    monkeypatch.undo()
    assert labels_key(teacher, split, Preprocessing(32), device=CPU) == base

    # same path, same size, same modification time, other pixels: still another key
    copied = tmp_path / "copy.png"
    Image.open(split.paths[0]).convert("RGB").save(copied)
    stat = copied.stat()
    raw = bytearray(copied.read_bytes())
    moved = type(split)((copied, *split.paths[1:]), split.targets, split.concepts, split.stimulus_ids)
    before = labels_key(teacher, moved, Preprocessing(32), device=CPU)
    raw[-20] ^= 0xFF
    copied.write_bytes(bytes(raw))
    os.utime(copied, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert copied.stat().st_size == stat.st_size and copied.stat().st_mtime_ns == stat.st_mtime_ns
    assert labels_key(teacher, moved, Preprocessing(32), device=CPU) != before


def test_an_entry_with_other_stimulus_ids_is_not_served(tiny_targets, teacher):
    split = tiny_targets.test
    key = labels_key(teacher, split, Preprocessing(32), device=CPU)
    wrong_ids = np.array([f"x{i}" for i in range(len(split))])
    ArrayCache("teacher_labels").store(key, {"labels": np.zeros(len(split), dtype=np.int64),
                                             "stimulus_ids": wrong_ids})
    labels = teacher_labels(teacher, split, Preprocessing(32), CPU, progress=False)
    np.testing.assert_array_equal(labels, _by_hand(teacher, split))


def test_cache_off_writes_nothing(tiny_targets, teacher):
    teacher_labels(teacher, tiny_targets.test, Preprocessing(32), CPU, progress=False, cache=False)
    assert not list(ArrayCache("teacher_labels").root.rglob("*.npz"))
