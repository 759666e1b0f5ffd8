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
"""
from __future__ import annotations

import io
import pickle
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["WeightsFileError", "load_weights", "read_state_dict", "check_state_dict"]

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
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"cannot read weights file {path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise WeightsFileError(f"cannot read weights file {path}: the file is empty (0 bytes); expected a state "
                               "dict written by torch.save")
    try:
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


def load_weights(network: nn.Module, path_or_state: str | Path | Mapping[str, torch.Tensor], *,
                 source: str | None = None, key: str | None = "state_dict", model_name: str | None = None,
                 rename: Callable[[str], str] | None = None,
                 explain: Callable[[str, tuple, tuple], str | None] | None = None) -> nn.Module:
    """Load weights strictly into ``network`` (in place) and return it.

    ``path_or_state``: a file written by ``torch.save`` (read by :func:`read_state_dict`, ``{key: state}``
    unwrapped) or a state dict ``{name: tensor}`` already in memory. ``source`` names it in messages (default:
    the path, else ``'state dict'``); ``model_name`` names the architecture (default: the network's class).
    ``rename`` maps each key (default: remove one leading ``module.``). ``explain(key, found_shape,
    expected_shape)`` may return a hint added to a shape error.

    Every check (:func:`read_state_dict`, :func:`check_state_dict`) runs before any value is copied, so on error
    the network is unchanged. Raises :class:`WeightsFileError` (a ``ValueError``), one line naming the file and
    the first key or tensor at fault.
    """
    if isinstance(path_or_state, Mapping):
        label = source or "state dict"
        _check_tensors(path_or_state, label)
        state = path_or_state
    else:
        label = source or str(path_or_state)
        state = read_state_dict(path_or_state, key=key)
    state = _strip(state, rename, label)
    check_state_dict(network, state, source=label, model_name=model_name, explain=explain)
    network.load_state_dict(state, strict=True)
    return network
