"""Benchmark listing is lazy (issue 14 section 4): ``benchmarks/__init__.py`` declares ids without importing the
benchmark packages. The declarations must equal what the packages register when imported, checked in a fresh
interpreter (this test process holds test registrations)."""
from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
import benchmarks.registry as r
declared = r.declared_benchmarks()
patterns = sorted(p.pattern for p, _, _ in r._DECLARED_FAMILIES)
light = sorted(m for m in ("torch", "xarray", "brainscore_vision", "model_registry.extractor") if m in sys.modules)
before = r.list_benchmarks()
loaded = sorted(m for m in sys.modules if m.startswith("benchmarks.") and m.count(".") == 1)
r.import_all()
registered = set(r._FACTORIES) | {i for _, _, list_ids, _ in r._FAMILIES for i in list_ids()}
print(json.dumps({"declared": declared, "registered": sorted(registered), "before": before,
                  "after": r.list_benchmarks(), "light": light, "loaded": loaded,
                  "patterns": patterns, "registered_patterns": sorted(p.pattern for p, *_ in r._FAMILIES),
                  "modules": sorted(set(declared.values())),
                  "owners": {i: r._FACTORIES[i].__module__ for i in r._FACTORIES}}))
"""


def test_declarations_equal_registrations_and_listing_imports_nothing_heavy():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    declared = found["declared"]
    assert sorted(declared) == found["registered"] == found["before"] == found["after"]
    assert "things-eeg-rsa-decoding-svm" in declared and "things-fmri-roi.hV4" in declared
    assert found["patterns"] == found["registered_patterns"]
    assert found["light"] == [] and found["loaded"] == ["benchmarks.options", "benchmarks.registry"]
    for identifier, module in found["owners"].items():  # each id is registered by the package that declares it
        assert module.startswith(declared[identifier]), (identifier, module)
