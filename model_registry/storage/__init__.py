"""The storage ground floor: where files live and how they are written, fetched, cached and checked.

``paths`` (REALNET_HOME / REALNET_DATA_DIR folders), ``atomic`` (atomic writes), ``cleanup`` (temporary files of
killed writers, disk-full detection, SIGTERM), ``download`` (the one checksummed, resumable downloader),
``array_cache`` (the one checksummed cache of named arrays: RDMs, teacher labels, fMRI patterns), ``activation_cache``
(its streaming, memory-mapped variant for activations), ``fingerprint`` (content hashes of network weights),
``safe_zip`` (archives read and written safely). Nothing here knows about models, benchmarks or datasets.
"""
