import json

import pytest

from realnet_plugin import list_benchmarks, list_models, score
from realnet_plugin.cli import main


def test_list_models_and_benchmarks(capsys):
    assert main(["list", "models", "clip*"]) == 0
    assert capsys.readouterr().out.split() == ["clip_rn101", "clip_vit_b32"]
    assert main(["list", "models"]) == 0
    listed = capsys.readouterr().out.split()
    assert "cornet_s" in listed and "realnet_s01_b100" in listed and listed == list_models()
    assert main(["list", "benchmarks", "*robustness"]) == 0
    assert capsys.readouterr().out.split() == ["fgsm-robustness", "pgd-robustness"] == list_benchmarks("*robustness")


def test_a_pattern_naming_a_family_prefix_lists_it_and_an_empty_listing_says_why(capsys):
    import torchvision

    assert main(["list", "models", "torch*"]) == 0  # 'torch' starts 'torchvision:'
    listed = capsys.readouterr().out.split()
    expected = sorted(f"torchvision:{name}" for name in torchvision.models.list_models(torchvision.models))
    assert sorted(listed) == expected and "torchvision:resnet18" in listed
    assert main(["list", "models", "*resnet18*"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "no model id matches '*resnet18*'" in captured.err and "'torchvision:*'" in captured.err
    assert main(["list", "benchmarks", "zzz*"]) == 1
    assert "no benchmark id matches 'zzz*'" in capsys.readouterr().err


def test_errors_are_one_line(capsys):
    assert main(["score", "cornet_z", "fgsm-robustness"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Did you mean: cornet_s" in err
    with pytest.raises(Exception, match="cornet_z"):
        main(["--debug", "score", "cornet_z", "fgsm-robustness"])


def test_score_writes_table_and_json(capsys, tmp_path):
    out = tmp_path / "score.json"
    code = main(["score", "efficientnet_lite0", "fgsm-robustness", "--option", "images=\"builtin\"",
                 "--option", "epsilons=[0, 0.0078]", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "efficientnet_lite0" in table and "fgsm-robustness" in table
    saved = json.loads(out.read_text())
    assert saved["accuracies"][0] == 1.0 and saved["accuracies"][1] < 1.0
    assert saved["score"] == pytest.approx(score("efficientnet_lite0", "fgsm-robustness", images="builtin",
                                                 epsilons=[0, 0.0078]).item())


def test_plot_command_draws_saved_scores(capsys, tmp_path):
    out = tmp_path / "robust.json"
    assert main(["score", "efficientnet_lite0", "fgsm-robustness", "--option", "images=\"builtin\"",
                 "--option", "epsilons=[0, 0.0078]", "--json", str(out)]) == 0
    assert main(["plot", str(out), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.png")]) == 1
    assert "score file not found" in capsys.readouterr().err
