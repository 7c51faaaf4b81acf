"""Wheel-shaped zips for the offline fetch tests: pip accepts them (``pip download --no-index
--find-links``) as the real packages of the same name and version.

Example:
    >>> import tempfile, pathlib
    >>> path, sha = build_wheel(pathlib.Path(tempfile.mkdtemp()), "my-pkg", "1.0", {"my_pkg/x.txt": b"x"})
    >>> path.name
    'my_pkg-1.0-py3-none-any.whl'
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

__all__ = ["build_wheel"]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> tuple[Path, str]:
    """A wheel pip accepts (name, METADATA, WHEEL, RECORD); returns its path and sha256."""
    stem = dist.replace("-", "_")
    info = f"{stem}-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()
