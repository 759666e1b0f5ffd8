"""Where leaderboard work runs: in this process, a local process pool, or a Dask distributed cluster.

Each backend offers ``submit(fn, *args) -> future``, ``wait_any(futures) -> done`` and ``result(future)``, so the
runner's loop is the same everywhere. Local pools use the ``spawn`` start method (safe with torch threads).
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Collection

from . import tasks


class SerialBackend:
    """Runs each task in this process when it is submitted (no parallelism; easiest to debug)."""

    name = "serial"
    slots = 1

    def submit(self, fn: Callable, *args) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as error:  # tasks return errors as data; this is a bug in the task itself
            future.set_exception(error)
        return future

    def wait_any(self, futures: Collection[cf.Future]) -> set:
        return {f for f in futures if f.done()}

    def result(self, future: cf.Future):
        return future.result()

    def close(self) -> None:
        tasks.forget_models()


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessPoolBackend:
    """``workers`` local processes (spawn); each scores one pair at a time and returns plain data."""

    name = "processes"

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.slots = workers
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker, initargs=(threads,))

    def submit(self, fn: Callable, *args) -> cf.Future:
        return self._pool.submit(fn, *args)

    def wait_any(self, futures: Collection[cf.Future]) -> set:
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, future: cf.Future):
        return future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """A Dask distributed cluster at ``scheduler`` (``tcp://host:port``) or an existing ``distributed.Client``.

    Workers must have realnet-plugin (and any ``imports`` modules) installed; they need no access to the
    database, which only this process writes.
    """

    name = "dask"

    def __init__(self, scheduler, *, connect_timeout: float = 30.0):
        try:
            import distributed
        except ImportError as error:
            raise ImportError("--scheduler needs the 'distributed' package: pip install distributed") from error
        self._distributed = distributed
        if isinstance(scheduler, distributed.Client):
            self._client, self._owns_client = scheduler, False
        else:
            if not str(scheduler).startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
                raise ValueError(f"scheduler must be an address like tcp://host:8786, got {scheduler!r}")
            try:
                self._client = distributed.Client(scheduler, timeout=connect_timeout)
            except OSError as error:
                raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
            self._owns_client = True
        self.slots = max(1, sum(self._client.nthreads().values()))

    def submit(self, fn: Callable, *args):
        # pure=False: the same task submitted twice (e.g. by two runs) must run, not be deduplicated
        return self._client.submit(fn, *args, pure=False)

    def wait_any(self, futures: Collection) -> set:
        done, _ = self._distributed.wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def result(self, future):
        return future.result()

    def close(self) -> None:
        try:
            self._client.run(tasks.forget_models)
        finally:
            if self._owns_client:
                self._client.close()


def make_backend(workers: int = 1, scheduler=None):
    """Dask when ``scheduler`` is given, a process pool when ``workers > 1``, else serial in this process."""
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if scheduler is not None:
        return DaskBackend(scheduler)
    if workers is None or workers <= 1:
        return SerialBackend()
    return ProcessPoolBackend(workers)
