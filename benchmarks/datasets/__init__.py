"""The datasets room: one subpackage per dataset with its loader, format readers and synthetic generator.

``things_eeg2``, ``kriegeskorte2008``, ``things_fmri``, ``shen2019``; ``image_sets`` (images for the robustness
benchmarks); ``fmri_common`` (what the fMRI loaders share); ``errors`` (the error base classes every loader raises);
``_pickle`` (the one restricted unpickler). Loaders return data that is already validated. Nothing here imports a
benchmark: benchmarks and the trainer import datasets, never the other way (see ``.importlinter``).
"""
