"""Shen et al. 2019 (natural-image fMRI): loader (``data``), BData HDF5 reader (``bdata``), synthetic generator
(``synth``)."""
