"""Benchmark options (issue 11, section 1): unknown names and malformed values are one line naming the option,
the benchmark and the expected form, for every registered benchmark, before anything is built."""
from __future__ import annotations

import pytest

from benchmarks import list_benchmarks, load_benchmark
from benchmarks.options import BenchmarkOptionError, check_signature, check_value
from benchmarks.registry import benchmark_options, register_benchmark
from benchmarks.robustness.benchmark import OPTIONS as ROBUSTNESS_OPTIONS
from benchmarks.robustness.benchmark import RobustnessBenchmark
from benchmarks.roi_rsa import OPTIONS as ROI_OPTIONS
from benchmarks.roi_rsa import RoiRsaBenchmark
from benchmarks.things_eeg_rsa.benchmark import ThingsEEGRsaBenchmark, options_table

THINGS_EEG_VALID = ("cache, ceiling, channels, cluster_window, comparison, layers, match_subject, method_params, "
                    "min_cluster_length, n_bootstrap, n_permutations, place_on_screen, root, score_subjects, seed, "
                    "subjects, window")


def _message(identifier: str, **options) -> str:
    with pytest.raises(BenchmarkOptionError) as caught:
        load_benchmark(identifier, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_unknown_option_lists_the_valid_ones_and_the_close_match():
    assert _message("things-eeg-rsa", windw=[0, 0.5]) == (
        f"unknown option 'windw' for things-eeg-rsa; valid: {THINGS_EEG_VALID} (did you mean window?)")
    assert _message("things-eeg-rsa-correlation", zzz=1) == (
        f"unknown option 'zzz' for things-eeg-rsa-correlation; valid: {THINGS_EEG_VALID}")


@pytest.mark.parametrize(("options", "expected"), [
    ({"window": "0-0.5"}, "option window='0-0.5' for things-eeg-rsa (a str): expected [start, end] in seconds with "
                          "start < end, e.g. window=[0.0, 0.5] (CLI: --option window=[0.0,0.5])"),
    ({"window": "[0.1]"}, "option window='[0.1]' for things-eeg-rsa (a str): expected [start, end] in seconds"),
    ({"window": [0.1]}, "option window=[0.1] for things-eeg-rsa (a list of 1 values): expected [start, end]"),
    ({"window": [0.5, 0.1]}, "option window=[0.5, 0.1] for things-eeg-rsa (start is not before end)"),
    ({"score_subjects": 1}, "option score_subjects=1 for things-eeg-rsa (an int): expected a list of subject "
                            "numbers (1 = sub-01), e.g. score_subjects=[1] (CLI: --option score_subjects=[1])"),
    ({"subjects": [1, 0]}, "option subjects=[1, 0] for things-eeg-rsa (not all integers >= 1)"),
    ({"n_permutations": 2.5}, "option n_permutations=2.5 for things-eeg-rsa (a float): expected an integer >= 0"),
    ({"match_subject": "yes"}, "option match_subject='yes' for things-eeg-rsa (a str): expected true or false"),
    ({"comparison": "spearmen"}, "option comparison='spearmen' for things-eeg-rsa (did you mean spearman?)"),
    ({"channels": "al"}, "option channels='al' for things-eeg-rsa (did you mean all?): expected 'all' or a list"),
    ({"method_params": {"navgg": 2}}, "option method_params={'navgg': 2} for things-eeg-rsa (decoding-svm takes "
                                      "no parameter 'navgg'; did you mean navg?)"),
    ({"method_params": {"navg": 0}}, "option method_params={'navg': 0} for things-eeg-rsa (navg=0: below 1)"),
    ({"ceiling": "off"}, "option ceiling='off' for things-eeg-rsa (a str): expected true (score / noise ceiling"),
])
def test_malformed_things_eeg_values_get_the_expected_form(options, expected):
    assert _message("things-eeg-rsa", **options).startswith(expected)


def test_method_params_follow_the_method_of_the_id():
    assert _message("things-eeg-rsa-correlation", method_params={"navg": 2}).startswith(
        "option method_params={'navg': 2} for things-eeg-rsa-correlation (correlation takes no parameter 'navg')")
    load_benchmark("things-eeg-rsa-decoding-lda", method_params={"shrinkage": 0.2, "navg": 2})
    assert "shrinkage=2: outside [0.0, 1.0]" in _message("things-eeg-rsa-decoding-lda",
                                                          method_params={"shrinkage": 2})


def test_direct_construction_checks_the_same_values():
    with pytest.raises(BenchmarkOptionError, match=r"^option window='0-0\.5' for things-eeg-rsa \(a str\)"):
        ThingsEEGRsaBenchmark(window="0-0.5")
    with pytest.raises(BenchmarkOptionError, match=r"^option method='kendall' for x \(did you mean kendall_tau_a"):
        RoiRsaBenchmark("x", lambda: None, method="kendall")
    with pytest.raises(BenchmarkOptionError, match=r"^option epsilons=\[-0\.1\] for fgsm-robustness \(a value below"):
        RobustnessBenchmark("fgsm", epsilons=[-0.1])


@pytest.mark.parametrize(("identifier", "options", "expected"), [
    ("kriegeskorte2008-hit-rsa", {"n_bootstrap": -1}, "option n_bootstrap=-1 for kriegeskorte2008-hit-rsa "
                                                      "(below 0): expected an integer >= 0"),
    ("things-fmri-roi.V1", {"rois": "V1"}, "option rois='V1' for things-fmri-roi.V1 (a str): expected a list of ROI"),
    ("shen2019-fmri-roi", {"layer": ["IT"]}, "unknown option 'layer' for shen2019-fmri-roi; valid: layers, method, "
                                             "n_bootstrap, nan_policy, place_on_screen, require_equal_repetitions, "
                                             "rois, root, seed (did you mean layers?)"),
    ("things-fmri-roi", {"nan_policy": "drop"}, "option nan_policy='drop' for things-fmri-roi"),
    ("pgd-robustness", {"epsilons": 0.03}, "option epsilons=0.03 for pgd-robustness (a float): expected a non-empty"),
    ("fgsm-robustness", {"batch_size": 0}, "option batch_size=0 for fgsm-robustness (below 1): expected an integer"),
])
def test_other_benchmarks_check_their_options(identifier, options, expected):
    assert _message(identifier, **options).startswith(expected)


def test_every_registered_benchmark_declares_its_options_and_their_examples_are_valid():
    for identifier in list_benchmarks():
        if identifier.startswith(("lbtest-", "test-")):  # benchmarks registered by tests (signature-derived names)
            continue
        table = benchmark_options(identifier)
        assert table, f"{identifier} declares no options"
        for name, option in table.items():
            check_value(identifier, name, option, option.example)  # the example a message shows is accepted


def test_option_tables_match_the_constructors():
    check_signature(options_table(), ThingsEEGRsaBenchmark.__init__, exclude=["method", "identifier"])
    check_signature(ROI_OPTIONS, RoiRsaBenchmark.__init__, exclude=["identifier", "load", "bibtex", "version"])
    check_signature(ROBUSTNESS_OPTIONS, RobustnessBenchmark.__init__, exclude=["attack"])
    with pytest.raises(TypeError, match=r"only in the table \['extra'\], only in the signature \[\]"):
        check_signature({**ROBUSTNESS_OPTIONS, "extra": None}, RobustnessBenchmark.__init__, exclude=["attack"])


def test_undeclared_benchmarks_get_the_names_of_their_signature():
    class Plain:
        def __init__(self, offset: float = 0.0):
            self.offset = offset

    register_benchmark("test-options-plain", Plain)
    register_benchmark("test-options-open", lambda **options: Plain(**options))
    assert load_benchmark("test-options-plain", offset=2).offset == 2
    assert _message("test-options-plain", ofset=1) == (
        "unknown option 'ofset' for test-options-plain; valid: offset (did you mean offset?)")
    with pytest.raises(TypeError):  # **options: names unknown to the registry, the factory answers
        load_benchmark("test-options-open", ofset=1)
