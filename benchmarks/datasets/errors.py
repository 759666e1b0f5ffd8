"""The error kinds every dataset loader and format reader raises, so callers catch one family.

- :class:`DatasetError`: base of all of them.
- :class:`DatasetFormatError` (a ``ValueError``): a file exists but does not hold what the official release holds;
  the message names the file and what was expected.
- :class:`DatasetNotFoundError` (a ``FileNotFoundError``): a dataset folder or file is missing; the message names the
  path and how to provide it.

Dataset-specific classes derive from these (``ThingsEEG2FormatError``, ``UnsafePickleError`` ...), so both
``except DatasetFormatError`` and the older ``except ValueError`` / ``except FileNotFoundError`` hold.
"""
from __future__ import annotations


class DatasetError(Exception):
    """Base of every dataset loading error (format or missing file)."""


class DatasetFormatError(DatasetError, ValueError):
    """A dataset file exists but does not hold what the official release holds (the message names the file)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset folder or file is missing (the message names the path and how to provide it)."""
