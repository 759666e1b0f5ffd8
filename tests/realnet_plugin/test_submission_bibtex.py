"""Generated Brain-Score model plugins carry the model's real citation (issue 13 section 2: ``bibtex`` was never
set, so every plugin cited nothing). The citation is read back from the generated ``model.py`` with ``ast`` and
parsed by pybtex; the expected first author and year are written here by hand."""
from __future__ import annotations

import ast

import pytest
from pybtex.database import parse_string

from realnet_plugin.brainscore.submission import model_plugin_files


@pytest.mark.parametrize(("identifier", "surname", "year"), [
    ("cornet_s", "Kubilius", "2019"), ("realnet_s03_b100", "Lu", "2024"), ("efficientnet_lite0", "Tan", "2019"),
    ("resnet101", "He", "2016"),
])
def test_generated_plugin_cites_the_model(identifier, surname, year):
    files = model_plugin_files(identifier, pin_weights=False)
    source = next(text for path, text in files.items() if path.endswith("/model.py"))
    assignments = {node.targets[0].id: node.value for node in ast.parse(source).body
                   if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    bibtex = ast.literal_eval(assignments["BIBTEX"])
    assert bibtex.strip().startswith("@") and bibtex.count("\n@") == 0
    entries = parse_string(bibtex, "bibtex").entries
    assert len(entries) == 1
    entry = next(iter(entries.values()))
    assert entry.persons["author"][0].last_names == [surname] and entry.fields["year"] == year
