"""Validation of user-given settings with pydantic, reported as one-line configuration errors.

Three things live here:

* Field types for the experiment config's pydantic models (:data:`PositiveInt`,
  :data:`NonNegativeInt`, :data:`PositiveFloat`, :data:`Flag`, :func:`one_of`) whose failures read
  ``<field> must be a positive integer, got 0``, and :func:`validate_model`, which runs a model and
  turns pydantic's ``ValidationError`` into one :class:`~targetsel.errors.ConfigurationError` line
  naming the dotted field path (``quantile.bins must be ...``).
* :class:`Section`, the base of the config's models (strict types, unknown keys named, a string
  shorthand), and :func:`resolve_path` for paths relative to the config file.
* :func:`validate_params`: the parameters a user gives a registered class (``--param``,
  ``--method-param``, a config's ``params:``) checked against the class's ``__init__`` signature.
  An unknown name lists the valid ones; a wrong type names the parameter and the expected type.
  Text is read as a number where the parameter is declared a number (``reg_m_query=inf``): the
  one place where a command-line or YAML string becomes ``float("inf")``.
* :func:`describe_component` and :func:`describe_params` (:mod:`targetsel.params.describe`): the
  same signature read for help: one row per parameter (name, type in words, default, the help line
  of the docstring's ``Args:``), which ``targetsel components`` and the CLI's help pages print.

Example:
    >>> class Toy:
    ...     def __init__(self, dim: int = 8, scale: float = 1.0) -> None: ...
    >>> validate_params(Toy, {"dim": 4, "scale": "inf"}, what="representation 'toy'")
    {'dim': 4, 'scale': inf}
    >>> validate_params(Toy, {"dims": 4}, what="representation 'toy'")
    Traceback (most recent call last):
    ...
    targetsel.errors.ConfigurationError: bad parameters for representation 'toy': unknown parameter 'dims'; valid ...
"""

from __future__ import annotations

# One former module split by concern: ``fields`` (field types, validate_model), ``sections`` (the
# Section base, config-relative paths), ``signature`` (validate_params), ``describe`` (parameter
# help). Every name stays importable from here.
from targetsel.params.describe import ComponentInfo, ParamInfo, describe_component, describe_params
from targetsel.params.fields import (
    FieldError,
    Flag,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    described,
    field_path,
    one_of,
    text,
    validate_model,
)
from targetsel.params.sections import Section, base_folder, resolve_path
from targetsel.params.signature import describe_type, read_signature, validate_params

__all__ = [
    "ComponentInfo",
    "FieldError",
    "Flag",
    "NonNegativeInt",
    "ParamInfo",
    "PositiveFloat",
    "PositiveInt",
    "Section",
    "base_folder",
    "describe_component",
    "describe_params",
    "describe_type",
    "described",
    "field_path",
    "one_of",
    "read_signature",
    "resolve_path",
    "text",
    "validate_model",
    "validate_params",
]
