"""THINGS-fMRI (Hebart et al. 2023): loader (``data``), pandas fixed-format HDF5 reader (``pandas_hdf``),
synthetic generator (``synth``)."""
