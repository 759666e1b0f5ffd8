"""THINGS-EEG2 time-resolved RSA: ``things-eeg-rsa`` (decoding-svm) and ``things-eeg-rsa-<method>``."""
from ..registry import register_benchmark, register_benchmark_family
from ..rsa import EEG_RDM_METHODS
from .benchmark import options_for, options_table, things_eeg_rsa

register_benchmark("things-eeg-rsa", lambda **options: things_eeg_rsa("things-eeg-rsa", **options),
                   options=options_table())
register_benchmark_family(r"things-eeg-rsa-[a-z\-]+", things_eeg_rsa,
                          lambda: [f"things-eeg-rsa-{method}" for method in EEG_RDM_METHODS], options=options_for)
