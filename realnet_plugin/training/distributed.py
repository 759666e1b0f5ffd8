"""Multi-process data-parallel training (``torchrun``): process context, batch shards, a differentiable gather.

Launch: ``torchrun --nproc_per_node N -m realnet_plugin.cli train ...`` (``--master_addr 127.0.0.1`` on one
machine). torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`from_environment` reads them. Backend: NCCL on CUDA, gloo on CPU.

How the global batch is kept: every process takes a contiguous share of each global batch (the batch a single
process would use), and the generation loss, whose correlation term pairs every image with every other image of
the batch, is computed on the rows gathered from all processes (:func:`gather_rows`, differentiable). The
cross-entropy is local, weighted by ``world_size x local / global batch size``. DDP averages the gradients, which
then equal the gradient of the single-process loss on the global batch.

Every process gets at least 2 images of every batch, as the single-process trainer needs 2 per batch: BatchNorm in
training mode cannot normalise one image whose map is 1 x 1 (small images at IT), and one rank failing stops all.
So a last batch of fewer than ``2 x N`` images is dropped (:func:`min_batch`; one process drops it below 2), and
a global ``batch_size`` below ``2 x N`` is refused before training (:func:`check_batch_size`). With N > 1 the run
may therefore skip a short last batch that one process would train on.

BatchNorm is the one thing that still differs: in training mode each process normalises with its own share's
statistics. ``batch_norm='sync'`` converts to ``SyncBatchNorm`` (CUDA only; torch does not support it on CPU),
``batch_norm='frozen'`` uses the running statistics (BN in eval mode, affine parameters still trained); with
either, N processes give the weights of one process up to floating-point summation order.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a data-parallel job; ``world_size == 1`` means no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, logs and the registered model."""
        return self.rank == 0


SINGLE_PROCESS = DistributedContext()
_GATHER_GROUP: dist.ProcessGroup | None = None


def from_environment() -> DistributedContext:
    """The context torchrun describes in ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK``; single process if unset."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE_PROCESS
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank)


def initialize(context: DistributedContext, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo on CPU) and create the group used by :func:`gather_rows`."""
    global _GATHER_GROUP
    if not context.enabled or dist.is_initialized():
        return
    if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        raise RuntimeError(f"WORLD_SIZE={context.world_size} but MASTER_ADDR/MASTER_PORT are not set; launch with "
                           "torchrun (e.g. torchrun --nproc_per_node 2 --master_addr 127.0.0.1 -m "
                           "realnet_plugin.cli train ...)")
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=context.rank, world_size=context.world_size)
    # a separate group, so the gather's backward all-reduce never interleaves with DDP's gradient buckets
    _GATHER_GROUP = dist.new_group(backend=backend)


def shutdown() -> None:
    """Leave the process group (no-op when none was joined)."""
    global _GATHER_GROUP
    if dist.is_initialized():
        dist.destroy_process_group()
    _GATHER_GROUP = None


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


MIN_PER_PROCESS = 2  # images each process needs per batch (BatchNorm statistics; the single process's minimum)


def min_batch(world_size: int) -> int:
    """Smallest global batch that gives every one of ``world_size`` processes :data:`MIN_PER_PROCESS` images
    (shorter last batches are dropped, as the single-process trainer drops a last batch of one image)."""
    return MIN_PER_PROCESS * max(1, world_size)


def check_batch_size(batch_size: int, context: DistributedContext) -> None:
    """``ValueError`` (before any training) when a global batch of ``batch_size`` would leave a process fewer
    than :data:`MIN_PER_PROCESS` images."""
    if batch_size < min_batch(context.world_size):
        raise ValueError(f"batch_size {batch_size} gives some of the {context.world_size} processes fewer than "
                         f"{MIN_PER_PROCESS} images per step (BatchNorm in training mode needs {MIN_PER_PROCESS}); "
                         f"use batch_size >= {min_batch(context.world_size)} or fewer processes")


def shard_sizes(batch_size: int, world_size: int) -> list[int]:
    """How a global batch of ``batch_size`` is shared: as even as possible, earlier ranks take the remainder."""
    return [len(part) for part in np.array_split(np.arange(batch_size), world_size)]


def shard(batch: np.ndarray, context: DistributedContext) -> np.ndarray:
    """This process's contiguous share of a global batch of indices."""
    if not context.enabled:
        return batch
    if len(batch) < min_batch(context.world_size):
        raise ValueError(f"a batch of {len(batch)} images cannot give each of {context.world_size} processes "
                         f"{MIN_PER_PROCESS} images; batches shorter than {min_batch(context.world_size)} are dropped")
    return np.array_split(batch, context.world_size)[context.rank]


class _GatherRows(torch.autograd.Function):
    """Concatenate every process's (n_r, D) rows; backward sums the incoming gradients over processes (each
    process computed the same global loss) and returns this process's slice."""

    @staticmethod
    def forward(ctx, rows: torch.Tensor, sizes: tuple[int, ...], rank: int) -> torch.Tensor:
        ctx.sizes, ctx.rank = sizes, rank
        padded = rows.new_zeros((max(sizes), *rows.shape[1:]))
        padded[:rows.shape[0]] = rows
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous(), group=_GATHER_GROUP)
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=_GATHER_GROUP)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


def gather_rows(rows: torch.Tensor, sizes: list[int], context: DistributedContext) -> torch.Tensor:
    """All processes' rows (sum(sizes), D), in rank order; gradients flow back to each process's own rows."""
    if not context.enabled:
        return rows
    if rows.shape[0] != sizes[context.rank]:
        raise ValueError(f"rank {context.rank} holds {rows.shape[0]} rows, expected {sizes[context.rank]}")
    return _GatherRows.apply(rows, tuple(sizes), context.rank)


def _collective_device() -> torch.device:
    """NCCL only moves CUDA tensors; gloo moves CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum a tensor over processes (returns it unchanged in a single process), on the tensor's device."""
    if not context.enabled:
        return values
    summed = values.to(_collective_device(), copy=True)
    dist.all_reduce(summed)
    return summed.to(values.device)


def all_gather_labels(labels: torch.Tensor, sizes: list[int], context: DistributedContext) -> torch.Tensor:
    """Concatenate every process's 1-d tensor (lengths ``sizes``), no gradient."""
    if not context.enabled:
        return labels
    padded = labels.new_zeros(max(sizes), device=_collective_device())
    padded[:len(labels)] = labels.to(padded.device)
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)]).to(labels.device)
