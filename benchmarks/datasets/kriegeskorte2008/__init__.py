"""Kriegeskorte et al. 2008 (92 images, human-IT RDMs): loader (``data``), synthetic generator (``synth``)."""
