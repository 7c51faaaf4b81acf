"""What the plan measures: token counts of the data, and the speed of this machine and of named GPUs.

* :func:`count_tokens` tokenises every example for real, one at a time (nothing but two integers
  per row is kept), with the model's tokenizer and the project's chat formatting
  (:func:`targetsel.chat.tokenize_example`): the lengths the encode will see.
* :func:`time_rows` times a representation's own ``encode_rows`` on a few examples: the
  calibration of this machine.
* :func:`gpu_throughput` gives a named GPU's peak bf16 FLOP/s and the model FLOP utilisation
  (MFU) assumed for it: the stated default, or the one ``bench/gpu_bench.py`` measured.

Example:
    >>> gpu_throughput("h100", mfu=0.5, bench=None)["flops_per_s"]
    494500000000000.0
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.progress import progress

if TYPE_CHECKING:
    from targetsel.chat import LossOn, LossTokens
    from targetsel.data.messages import TextTurns

__all__ = [
    "DEFAULT_MFU",
    "GPU_PEAK_TFLOPS",
    "count_text_tokens",
    "count_tokens",
    "default_bench_path",
    "gpu_throughput",
    "matmul_flops_per_s",
    "time_rows",
]

#: Dense bf16 peak of each GPU the plan knows (TFLOP/s; SXM parts where there are several).
GPU_PEAK_TFLOPS = {"h100": 989.0, "h200": 989.0, "a100": 312.0, "l40s": 362.0, "a10g": 125.0, "l4": 121.0}
#: Model FLOP utilisation assumed on a GPU when no measured one is at hand.
DEFAULT_MFU = 0.40


def _stream_messages(examples: ExampleSet, batch_rows: int = 512) -> Any:
    """Each row's ``messages``, read from the (memory-mapped) dataset a batch at a time."""
    for batch in examples.dataset.iter(batch_size=batch_rows):
        yield from batch["messages"]


def count_tokens(
    examples: ExampleSet,
    tokenizer: Any,
    *,
    max_length: int,
    loss_on: LossOn = "all_assistant",
    loss_tokens: LossTokens = "assistant",
    desc: str = "count tokens",
) -> tuple[np.ndarray, np.ndarray]:
    """Tokens and loss tokens of every example, as the gradient and hidden engines tokenise them.

    Returns:
        ``(lengths, loss_lengths)``, both ``(n,)`` int64.

    Example:
        >>> # lengths, loss = count_tokens(pool, load_tokenizer("smollm2-135m"), max_length=512)
    """
    from targetsel.chat import IGNORE_INDEX, tokenize_example

    n = len(examples)
    lengths, losses = np.zeros(n, np.int64), np.zeros(n, np.int64)
    with progress(total=n, desc=desc, unit="ex") as bar:
        for i, msgs in enumerate(_stream_messages(examples)):
            enc = tokenize_example(tokenizer, msgs, max_length=max_length, loss_on=loss_on, loss_tokens=loss_tokens)
            lengths[i] = len(enc["input_ids"])
            losses[i] = sum(lab != IGNORE_INDEX for lab in enc["labels"][1:])
            bar.update(1)
    return lengths, losses


def count_text_tokens(
    examples: ExampleSet, tokenizer: Any | None, *, max_length: int | None, turns: TextTurns
) -> np.ndarray:
    """Tokens of each example's rendered text (``embed``), or its words (``lexical``, no tokenizer).

    Example:
        >>> es = ExampleSet.from_records([{"prompt": "add 2 and 3", "completion": "5"}])
        >>> count_text_tokens(es, None, max_length=None, turns="all").tolist()
        [7]
    """
    from targetsel.data import render_text

    out = np.zeros(len(examples), np.int64)
    with progress(total=len(examples), desc="count tokens", unit="ex") as bar:
        for i, msgs in enumerate(_stream_messages(examples)):
            text = render_text(msgs, turns)
            if tokenizer is None:
                out[i] = len(text.split())
            else:
                ids = tokenizer(text, truncation=max_length is not None, max_length=max_length)["input_ids"]
                out[i] = len(ids)
            bar.update(1)
    return out


def time_rows(rep: Any, sample: ExampleSet, role: str = "candidate") -> tuple[float, float]:
    """``(first-call seconds, seconds)``: ``rep.encode_rows`` on the first row, then on all rows.

    The first call loads the model (it is the load time of each checkpoint's model); the second
    is timed with the model loaded, tokenisation included, as the encode runs it.

    Example:
        >>> from targetsel.represent import LexicalRepresentation
        >>> es = ExampleSet.from_records([{"prompt": "add 2 and 3", "completion": "5"}] * 4)
        >>> load_s, run_s = time_rows(LexicalRepresentation(dim=16), es)
        >>> run_s >= 0
        True
    """
    t0 = time.perf_counter()
    rep.encode_rows(sample, 0, 1, role)
    t1 = time.perf_counter()
    rep.encode_rows(sample, 0, len(sample), role)
    return t1 - t0, time.perf_counter() - t1


def matmul_flops_per_s(dim: int, rows: int = 256, cols: int = 2048, repeats: int = 2) -> float:
    """float32 FLOP/s of a ``(rows, dim) × (dim, cols)`` product on this machine (best of ``repeats``).

    The shape of one scoring tile: queries against a chunk of candidates.

    Example:
        >>> matmul_flops_per_s(64, rows=8, cols=64, repeats=1) > 0
        True
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, dim), dtype=np.float32)
    b = rng.standard_normal((dim, cols), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * rows * dim * cols / max(best, 1e-9)


def default_bench_path() -> Path:
    """Where :func:`gpu_throughput` looks for a ``bench/gpu_bench.py --json`` result by default:
    ``$TARGETSEL_CACHE/gpu_bench.json`` (``~/.cache/targetsel/gpu_bench.json``)."""
    from targetsel.fetching import cache_root

    return cache_root() / "gpu_bench.json"


def _bench_results(data: Any) -> list[dict[str, Any]]:
    """Every result object in a gpu_bench JSON (one result, or device_check's summary of several)."""
    if isinstance(data, dict) and "mfu" in data:
        return [data]
    if isinstance(data, dict):
        return [r for v in data.values() for r in _bench_results(v)]
    return []


def gpu_throughput(
    gpu: str, *, mfu: float | None = None, peak_tflops: float | None = None, bench: Path | None = None
) -> dict[str, Any]:
    """Peak, MFU and effective FLOP/s of one ``gpu`` (a name of :data:`GPU_PEAK_TFLOPS`).

    The MFU is, in order: ``mfu`` when given; the ``mfu`` a ``bench/gpu_bench.py --json`` result in
    ``bench`` measured on a device of that name (a device check's ``summary.json`` works too; the
    best of its runs); else :data:`DEFAULT_MFU`.

    Raises:
        ConfigurationError: an unknown GPU without ``peak_tflops``, or an MFU outside (0, 1].
        InvalidDataError: ``bench`` is not JSON.

    Example:
        >>> gpu_throughput("a100", bench=None)["mfu_source"]
        'stated default'
    """
    key = gpu.lower()
    if peak_tflops is None:
        if key not in GPU_PEAK_TFLOPS:
            raise ConfigurationError(
                f"unknown GPU {gpu!r}; use one of {', '.join(GPU_PEAK_TFLOPS)} or give --peak-tflops"
            )
        peak_tflops = GPU_PEAK_TFLOPS[key]
    elif peak_tflops <= 0:
        raise ConfigurationError(f"--peak-tflops must be positive, got {peak_tflops}")
    source = "given"
    if mfu is None:
        mfu, source = DEFAULT_MFU, "stated default"
        if bench is not None and bench.is_file():
            try:
                results = _bench_results(json.loads(bench.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidDataError(f"{bench}: not a gpu_bench JSON result ({exc})") from exc
            mine = [r for r in results if key in str(r.get("device", "")).lower() and r.get("mfu")]
            if mine:
                mfu = max(float(r["mfu"]) for r in mine)
                source = f"measured by bench/gpu_bench.py ({bench})"
    if not 0 < mfu <= 1:
        raise ConfigurationError(f"MFU must be in (0, 1], got {mfu}")
    return {
        "gpu": key,
        "peak_tflops": float(peak_tflops),
        "mfu": float(mfu),
        "mfu_source": source,
        "flops_per_s": float(peak_tflops) * 1e12 * float(mfu),
    }
