"""THINGS-EEG2 (Gifford et al. 2022): loader and validation (``data``), synthetic generator (``synth``)."""
