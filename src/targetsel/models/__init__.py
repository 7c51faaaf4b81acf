"""Models: loading causal LMs and tokenizers (:mod:`~targetsel.models.load`) and the built-in models
fetched on first use into the cache (:mod:`~targetsel.models.builtin`).

Example:
    >>> from targetsel.models import resolve_dtype
    >>> resolve_dtype("bf16")
    torch.bfloat16
"""

from __future__ import annotations

from targetsel.models.builtin import (
    BUILTIN_MODELS,
    BuiltinModel,
    ModelEntry,
    builtin_model_path,
    fetch_model,
    list_models,
    model_cache_dir,
)
from targetsel.models.load import (
    DEVICES,
    DTYPE_NAMES,
    DTYPES,
    check_model_available,
    dtype_name,
    load_model_and_tokenizer,
    load_tokenizer,
    model_load_error,
    model_not_found,
    resolve_device,
    resolve_dtype,
    resolve_model_path,
)

__all__ = [
    "BUILTIN_MODELS",
    "DEVICES",
    "DTYPES",
    "DTYPE_NAMES",
    "BuiltinModel",
    "ModelEntry",
    "builtin_model_path",
    "check_model_available",
    "dtype_name",
    "fetch_model",
    "list_models",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "model_cache_dir",
    "model_load_error",
    "model_not_found",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_path",
]
