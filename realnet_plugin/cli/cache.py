"""``realnet cache list|size|prune``: what the activation, RDM, teacher-label, dataset-array and weights caches hold
under ``$REALNET_HOME``, and removing the oldest or largest part of it.

Entries: every cache kind ``$REALNET_HOME/cache/<kind>/`` (``activations``, ``rdms``, ``teacher_labels``,
``stimuli`` ...; one entry per key: a folder or an ``.npz`` file, in two-character shard folders) and every
downloaded file in ``$REALNET_HOME/weights/``. Trained models (``$REALNET_HOME/models``) and datasets are never
touched. An entry's age is the time of its newest file. Entries being written (hidden ``.<key>.*`` folders) and
activation entries whose lock another process holds are skipped, so pruning never pulls data from under a running
extraction; every cache verifies its entries when it reads them and recomputes what is gone.
"""
from __future__ import annotations

import argparse
import fcntl
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .registry import command

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3,
          "t": 1024 ** 4, "tb": 1024 ** 4}
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class CacheEntry:
    """One removable unit: ``kind`` (``'activations'``, ``'weights'`` ...), its path, bytes and newest mtime (s)."""

    kind: str
    path: Path
    size: int
    mtime: float


def _home() -> Path:
    from model_registry.storage.paths import realnet_home

    return realnet_home()


def _tree_stats(path: Path) -> tuple[int, float]:
    if path.is_file():
        stat = path.stat()
        return stat.st_size, stat.st_mtime
    size, newest = 0, path.stat().st_mtime
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            stat = item.stat()
            size += stat.st_size
            newest = max(newest, stat.st_mtime)
    return size, newest


def _candidates(folder: Path):
    """Entries of one cache kind folder: children of two-character shard folders, or direct children."""
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.suffix == ".lock":
            continue
        if child.is_dir() and len(child.name) == 2 and not child.suffix:
            for entry in sorted(child.iterdir()):
                if not entry.name.startswith(".") and entry.suffix != ".lock":
                    yield entry
        else:
            yield child


def cache_entries(kinds: list[str] | None = None, home: str | Path | None = None) -> list[CacheEntry]:
    """Every cache entry under ``home`` (default ``$REALNET_HOME``), optionally only of ``kinds``.

    Raises ``ValueError`` naming the known kinds for an unknown kind."""
    home = Path(home) if home is not None else _home()
    folders = {}
    if (home / "cache").is_dir():
        folders = {p.name: p for p in sorted((home / "cache").iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if (home / "weights").is_dir():
        folders["weights"] = home / "weights"
    if kinds:
        unknown = sorted(set(kinds) - set(folders))
        if unknown:
            raise ValueError(f"no cache kind {', '.join(unknown)} under {home}; present: "
                             f"{', '.join(folders) or 'none'}")
        folders = {kind: folders[kind] for kind in kinds}
    entries = []
    for kind, folder in folders.items():
        for path in _candidates(folder):
            try:
                size, mtime = _tree_stats(path)
            except FileNotFoundError:  # removed meanwhile by its cache
                continue
            entries.append(CacheEntry(kind, path, size, mtime))
    return entries


def parse_size(text: str) -> int:
    """``'500M'`` -> 524288000 bytes (B, K, M, G, T; binary units). ``ValueError`` for anything else."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"--max-size expects a size such as 500M, 2G or 0, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_age(text: str) -> float:
    """``'7d'`` -> seconds (s, m, h, d, w; a bare number is days). ``ValueError`` for anything else."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise ValueError(f"--older-than expects an age such as 30d, 12h or 2w, got {text!r}")
    return float(match.group(1)) * _AGES[match.group(2) or "d"]


def human(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def select_prune(entries: list[CacheEntry], *, older_than: float | None = None, max_size: int | None = None,
                 now: float | None = None) -> list[CacheEntry]:
    """Entries to remove: those older than ``older_than`` seconds, then the oldest of the rest until the total
    is at most ``max_size`` bytes. Oldest first."""
    now = time.time() if now is None else now
    ordered = sorted(entries, key=lambda e: (e.mtime, str(e.path)))
    chosen = [e for e in ordered if older_than is not None and now - e.mtime > older_than]
    if max_size is not None:
        kept = [e for e in ordered if e not in chosen]
        total = sum(e.size for e in kept)
        for entry in kept:
            if total <= max_size:
                break
            chosen.append(entry)
            total -= entry.size
    return sorted(chosen, key=lambda e: (e.mtime, str(e.path)))


def _lock_path(entry: CacheEntry) -> Path | None:
    lock = entry.path.parent / f"{entry.path.name}.lock"
    return lock if lock.exists() else None


def remove_entry(entry: CacheEntry) -> bool:
    """Remove one entry (a folder is first renamed aside, so a reader never sees half of it). ``False`` when
    another process holds its lock (left alone) or it is already gone."""
    lock = _lock_path(entry)
    handle = open(lock, "a+") if lock else None
    try:
        if handle is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
        if entry.path.is_dir():
            aside = entry.path.with_name(f".removing.{entry.path.name}")
            try:
                entry.path.rename(aside)
            except FileNotFoundError:
                return False
            shutil.rmtree(aside, ignore_errors=True)
        else:
            try:
                entry.path.unlink()
            except FileNotFoundError:
                return False
        if lock is not None:
            lock.unlink(missing_ok=True)
        return True
    finally:
        if handle is not None:
            handle.close()


def _summary(entries: list[CacheEntry]) -> dict[str, tuple[int, int, float, float]]:
    table: dict[str, tuple[int, int, float, float]] = {}
    for e in entries:
        n, size, oldest, newest = table.get(e.kind, (0, 0, e.mtime, e.mtime))
        table[e.kind] = (n + 1, size + e.size, min(oldest, e.mtime), max(newest, e.mtime))
    return table


def _age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f}{unit}"
    return f"{seconds:.0f}s"


@command("cache")
def _add_cache(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cache", help="list, size or prune the caches under $REALNET_HOME",
                            description=__doc__.split("\n\n")[0].replace("``", "'"))
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="one line per cache kind (or per entry with --entries)")
    listing.add_argument("--entries", action="store_true", help="one line per entry, oldest first")
    size = verbs.add_parser("size", help="bytes per cache kind and in all")
    prune = verbs.add_parser("prune", help="remove old entries, or the oldest until the caches fit a size")
    prune.add_argument("--older-than", default=None, metavar="AGE", help="remove entries older than AGE (30d, 12h)")
    prune.add_argument("--max-size", default=None, metavar="SIZE",
                       help="then remove the oldest entries until the total is at most SIZE (500M, 2G)")
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    for verb in (listing, size, prune):
        verb.add_argument("--kind", action="append", default=None,
                          help="only this cache kind (activations, rdms, teacher_labels, weights ...); repeatable")
    parser.set_defaults(run=_run_cache)


def _run_cache(args: argparse.Namespace) -> int:
    if args.verb == "prune":
        if args.older_than is None and args.max_size is None:
            raise ValueError("prune needs --older-than AGE and/or --max-size SIZE")
        older = parse_age(args.older_than) if args.older_than is not None else None
        limit = parse_size(args.max_size) if args.max_size is not None else None
    entries = cache_entries(args.kind)
    now = time.time()
    if args.verb == "list" and args.entries:
        for e in sorted(entries, key=lambda e: e.mtime):
            print(f"{e.kind:<16} {human(e.size):>10}  {_age(now - e.mtime):>7}  {e.path}")
        return 0
    if args.verb in ("list", "size"):
        table = _summary(entries)
        for kind, (n, total, oldest, newest) in sorted(table.items()):
            extra = f"  oldest {_age(now - oldest)}, newest {_age(now - newest)}" if args.verb == "list" else ""
            print(f"{kind:<16} {n:>6} entries {human(total):>10}{extra}")
        print(f"{'total':<16} {len(entries):>6} entries {human(sum(e.size for e in entries)):>10}  ({_home()})")
        return 0
    chosen = select_prune(entries, older_than=older, max_size=limit, now=now)
    removed = [e for e in chosen if args.dry_run or remove_entry(e)]
    verb = "would remove" if args.dry_run else "removed"
    skipped = len(chosen) - len(removed)
    print(f"{verb} {len(removed)} entries, {human(sum(e.size for e in removed))}"
          + (f"; {skipped} in use left alone" if skipped else "")
          + f"; {human(sum(e.size for e in entries) - sum(e.size for e in removed))} kept")
    return 0
