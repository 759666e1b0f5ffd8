"""Content hashes of network weights, memoised on tensor versions so repeated calls cost nothing."""
from __future__ import annotations

import hashlib
import weakref

import torch

_MEMO: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, str]] = weakref.WeakKeyDictionary()


def _signature(network: torch.nn.Module) -> tuple:
    # data_ptr and _version change whenever a tensor is replaced or modified in place (optimiser steps,
    # load_state_dict), so an unchanged signature means unchanged weights.
    return tuple((name, t.data_ptr(), t._version, str(t.dtype), tuple(t.shape))
                 for name, t in _named_tensors(network))


def _named_tensors(network: torch.nn.Module):
    yield from network.named_parameters()
    yield from ((name, buffer) for name, buffer in network.named_buffers())


def weights_hash(network: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (names, dtypes, shapes, bytes) of ``network``."""
    signature = _signature(network)
    memo = _MEMO.get(network)
    if memo is not None and memo[0] == signature:
        return memo[1]
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in _named_tensors(network):
            flat = tensor.detach().to("cpu").contiguous().reshape(-1)
            digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(flat.view(torch.uint8).numpy().tobytes())
    value = digest.hexdigest()
    _MEMO[network] = (signature, value)
    return value
