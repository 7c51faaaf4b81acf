"""Loading causal language models and their tokenizers, offline built-ins included.

``load_model_and_tokenizer`` accepts a local model directory, a hub name (needs network), or a
built-in name that resolves offline:

* ``smollm2-135m``: SmolLM2-135M-Instruct (Llama architecture, Apache-2.0), fetched on first use
  (or by ``targetsel models fetch``) into ``$TARGETSEL_CACHE/models`` and read from there offline
  afterwards (:mod:`targetsel.models.builtin`).

Example:
    >>> model, tok = load_model_and_tokenizer("smollm2-135m")  # doctest: +SKIP
    >>> model.config.model_type  # doctest: +SKIP
    'llama'
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from targetsel.errors import ConfigurationError, MissingArtifactError
from targetsel.models.builtin import BUILTIN_MODELS, builtin_model_path, check_builtin

logger = logging.getLogger(__name__)

__all__ = [
    "DEVICES",
    "DTYPES",
    "DTYPE_NAMES",
    "check_model_available",
    "dtype_name",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "model_load_error",
    "model_not_found",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_path",
]

DTYPES = ("float32", "bfloat16", "float16", "auto")
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}
#: Every name :func:`resolve_dtype` accepts.
DTYPE_NAMES = (*DTYPES, *_DTYPE_ALIASES)


def dtype_name(dtype: str) -> str:
    """The canonical name of a model dtype (``bf16`` → ``bfloat16``), checked without importing torch.

    Example:
        >>> dtype_name("bf16")
        'bfloat16'
    """
    name = _DTYPE_ALIASES.get(dtype, dtype)
    if name not in DTYPES:
        raise ConfigurationError(f"dtype must be one of {', '.join(DTYPES)} (or bf16/fp16/fp32), got {dtype!r}")
    return name


def resolve_dtype(dtype: str) -> Any:
    """Map a dtype name (``float32``, ``bfloat16``/``bf16``, ``float16``/``fp16``, ``auto``) to torch.

    Example:
        >>> resolve_dtype("bf16")
        torch.bfloat16
    """
    import torch

    name = dtype_name(dtype)
    return "auto" if name == "auto" else getattr(torch, name)


#: The devices a model or a scoring pass runs on (``cuda:N``: the GPU numbered N).
DEVICES = ("cpu", "cuda", "cuda:N", "auto")
_DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?|auto")


def resolve_device(device: str | None, *, what: str = "device") -> str:
    """``None``/``auto`` → ``cuda`` when available, else ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` checked.

    Anything else (``gpu``, ``CUDA``, ``" cuda"``) is refused rather than run on the CPU, and so is
    ``cuda``/``cuda:N`` where torch sees no such GPU. ``what`` names the setting in the message
    (``--device`` in the command line).

    Example:
        >>> resolve_device("cpu")
        'cpu'
        >>> resolve_device("gpu", what="--device")
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: --device must be one of cpu, cuda, cuda:N or auto, got 'gpu'
    """
    text = "auto" if device is None or device == "" else str(device)
    if not _DEVICE.fullmatch(text):
        raise ConfigurationError(f"{what} must be one of cpu, cuda, cuda:N or auto, got {text!r}")
    if text == "cpu":
        return text
    import torch

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ConfigurationError(
            f"{what} {text}: CUDA is not available on this machine (torch {torch.__version__} sees no GPU); "
            f"use {what} cpu"
        )
    index, count = int(text.partition(":")[2] or 0), torch.cuda.device_count()
    if index >= count:
        raise ConfigurationError(f"{what} {text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return text


def _hub_offline() -> bool:
    """Whether the hub libraries are told not to download (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``)."""
    from huggingface_hub import constants

    env = (os.environ.get(k, "").strip().lower() for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(v not in ("", "0", "false", "no", "off") for v in env)


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _in_hub_cache(model: str) -> bool:
    """Whether a snapshot of hub model ``model`` (or ``sentence-transformers/model``) is in the cache."""
    names = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for name in names:
        snapshots = _hub_cache() / f"models--{name.replace('/', '--')}" / "snapshots"
        if snapshots.is_dir() and any(snapshots.iterdir()):
            return True
    return False


def _looks_local(model: str) -> bool:
    """A path rather than a hub name (``org/name`` or ``name``)."""
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def model_not_found(model: str) -> MissingArtifactError:
    """The one-line error of a model that is neither a folder, a built-in nor in the hub cache.

    Example:
        >>> str(model_not_found("./my-model")).split(";")[0]
        "model './my-model' not found: no folder ./my-model"
    """
    if _looks_local(model):
        return MissingArtifactError(
            f"model {model!r} not found: no folder {model}; give a model folder (with config.json), "
            f"a built-in name ({', '.join(BUILTIN_MODELS)}) or a hub name"
        )
    where = f"model {model!r} not found: no folder ./{model} and not in the hub cache {_hub_cache()}"
    if _hub_offline():
        return MissingArtifactError(
            f"{where}; fetch it with `hf download {model}`, or set HF_HUB_OFFLINE=0 with network access"
        )
    return MissingArtifactError(
        f"{where}, and downloading it failed (no network, or no such model on the hub); "
        f"fetch it with `hf download {model}` where there is network"
    )


def check_model_available(model: str) -> None:
    """Refuse, before any work, a model that cannot be loaded without a download that will not happen.

    A built-in name that is cached or may be fetched, an existing folder or a hub name with a
    snapshot in the hub cache passes; so does any hub name when downloads are allowed (the library
    fetches it). A missing path, or a
    hub name neither cached nor downloadable (``HF_HUB_OFFLINE=1``), raises one line saying where
    the model was looked for and how to fetch it.

    Raises:
        MissingArtifactError: see above; also a file given where a model folder is expected.

    Example:
        >>> import tempfile
        >>> check_model_available(tempfile.mkdtemp())  # an existing folder passes
    """
    if model in BUILTIN_MODELS:
        check_builtin(model)
        return
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise MissingArtifactError(f"model {model!r} is a file; give a model folder (with config.json)")
        return
    if _looks_local(model) or (_hub_offline() and not _in_hub_cache(model)):
        raise model_not_found(model)


def model_load_error(model: str, what: str, exc: BaseException) -> MissingArtifactError:
    """One line for a failed ``from_pretrained``: not found (where it was looked for, how to fetch it), or the
    library's reason on one line.

    Example:
        >>> str(model_load_error("smollm2-135m", "the config", OSError("bad\\nfile"))).split("; ")[0]
        "cannot load the config of 'smollm2-135m' (OSError: bad file)"
    """
    if not Path(model).expanduser().exists() and model not in BUILTIN_MODELS and not _in_hub_cache(model):
        return model_not_found(model)
    reason = " ".join(str(exc).split())
    return MissingArtifactError(
        f"cannot load {what} of {model!r} ({type(exc).__name__}: {reason}); "
        "its files may be incomplete or corrupt: fetch or save them again"
    )


def _unreadable_weights() -> tuple[type[BaseException], ...]:
    """What loading a model or adapter raises for missing, truncated or corrupt weight files."""
    from safetensors import SafetensorError

    return (OSError, ValueError, RuntimeError, SafetensorError)


def resolve_model_path(model: str) -> str:
    """Local directory (or hub name) to load ``model`` from; fetches and builds a built-in model on first use.

    Raises:
        MissingArtifactError: :func:`check_model_available` refuses ``model``.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()  # a local model folder is used as it is
        >>> resolve_model_path(folder) == folder
        True
    """
    if model not in BUILTIN_MODELS:
        check_model_available(model)
        return model
    return str(builtin_model_path(model))


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
        raise model_load_error(model, "the tokenizer", exc) from exc
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
        lm: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except _unreadable_weights() as exc:
        raise model_load_error(model, "the weights", exc) from exc
    if adapter is not None:
        from peft import PeftModel

        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise MissingArtifactError(f"{adapter} is not a peft adapter directory (no adapter_config.json)")
        try:
            lm = PeftModel.from_pretrained(lm, str(adapter), is_trainable=trainable_adapter)
        except _unreadable_weights() as exc:
            raise model_load_error(str(adapter), "the adapter", exc) from exc
    lm.to(dev)
    lm.eval()
    return lm, tok
