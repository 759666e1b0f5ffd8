"""Adversarial robustness benchmarks: ``fgsm-robustness`` and ``pgd-robustness``."""
from ..registry import register_benchmark
from .benchmark import OPTIONS, RobustnessBenchmark

register_benchmark("fgsm-robustness", lambda **options: RobustnessBenchmark("fgsm", **options), options=OPTIONS)
register_benchmark("pgd-robustness", lambda **options: RobustnessBenchmark("pgd", **options), options=OPTIONS)
