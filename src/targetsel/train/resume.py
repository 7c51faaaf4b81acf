"""Resuming an interrupted training run from its last saved step.

While :func:`targetsel.train.train_model` runs, its output folder ``OUT`` holds::

    OUT/resume/targetsel_resume.json  settings of the run, and the epoch checkpoints it has written
    OUT/resume/checkpoint-STEP/       Trainer checkpoints every ``save_steps`` optimizer steps (last 2 kept)
    OUT/checkpoint-epoch-E/           per-epoch (LESS) checkpoints; full Trainer checkpoints as well

A checkpoint is *complete* once its ``param_names.json`` exists: targetsel writes that file after
the Trainer has written everything else (weights, optimizer, scheduler, RNG and trainer state), so
a process killed in the middle of a save leaves a folder that is ignored (and deleted before the
next attempt). Two step checkpoints are kept so that the one before a half-written save is still
there.

On start, :func:`find_resume_point` picks the latest complete checkpoint of the interrupted run:
the step checkpoints under ``OUT/resume`` and the epoch checkpoints its manifest lists (a
``checkpoint-epoch-E`` that the manifest does not list may be left over from an older run and is
never resumed from). The run continues from it with ``Trainer.train(resume_from_checkpoint=...)``
when the manifest's settings equal the current ones. When the run finishes, ``OUT/resume`` is
removed: a finished output folder holds ``checkpoint-epoch-E``, ``final/`` and the info files
only, and a new run in it starts from the first step.

Example:
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> find_resume_point(out, {"base_model": "m"}, resume=None) is None  # nothing to resume
    True
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from targetsel.atomic import atomic_write_text
from targetsel.errors import ArtifactMismatchError, InvalidDataError, MissingArtifactError
from targetsel.params.artifacts import check_artifact, read_json_artifact
from targetsel.train.checkpoints import PARAM_NAMES_FILE

logger = logging.getLogger(__name__)

__all__ = [
    "RESUME_DIR",
    "RESUME_KEEP",
    "RESUME_MANIFEST",
    "ResumePoint",
    "checkpoint_callback",
    "find_resume_point",
    "finish_run",
    "has_progress",
    "prepare_resume",
    "read_checkpoint_state",
    "start_run",
]

RESUME_DIR = "resume"
RESUME_MANIFEST = "targetsel_resume.json"
#: Step checkpoints kept (``save_total_limit``): the newest, and the one before in case the newest is half-written.
RESUME_KEEP = 2
_FORMAT = 1
_STEP_RE = re.compile(r"checkpoint-(\d+)")


@dataclass(frozen=True)
class ResumePoint:
    """A complete checkpoint an interrupted run can continue from.

    Attributes:
        path: The checkpoint folder (``OUT/resume/checkpoint-STEP`` or ``OUT/checkpoint-epoch-E``).
        global_step: Optimizer steps done when it was saved.
        max_steps: Optimizer steps of the whole run.
        epoch: Fractional epoch when it was saved (``2.0``: the end of epoch 2).

    Example:
        >>> p = ResumePoint(Path("OUT/resume/checkpoint-6"), global_step=6, max_steps=6, epoch=2.0)
        >>> p.finished, p.closes_epoch
        (True, 2)
    """

    path: Path
    global_step: int
    max_steps: int
    epoch: float

    @property
    def finished(self) -> bool:
        """All optimizer steps of the run were done before the interruption."""
        return self.max_steps > 0 and self.global_step >= self.max_steps

    @property
    def closes_epoch(self) -> int | None:
        """The epoch ``E`` whose last step this checkpoint saved (the run's last step counts), else ``None``."""
        if abs(self.epoch - round(self.epoch)) < 1e-9 and round(self.epoch) >= 1:
            return round(self.epoch)
        return max(1, math.ceil(self.epoch - 1e-6)) if self.finished else None


def read_checkpoint_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The trainer state of a complete checkpoint folder; ``None`` when it is incomplete or unreadable.

    Example:
        >>> import tempfile
        >>> read_checkpoint_state(tempfile.mkdtemp()) is None  # an empty folder is no checkpoint
        True
    """
    path = Path(path)
    if not (path / PARAM_NAMES_FILE).is_file():
        return None
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return None
    return state


def _point(path: Path, state: dict[str, Any]) -> ResumePoint:
    return ResumePoint(
        path, int(state["global_step"]), int(state.get("max_steps") or 0), float(state.get("epoch") or 0)
    )


class ResumeManifest(BaseModel):
    """``OUT/resume/targetsel_resume.json``: the run's settings and the epoch checkpoints it wrote.

    Unknown keys are ignored (a newer targetsel may add some); the ones below are checked on read.
    """

    model_config = ConfigDict(strict=True, extra="allow")

    format: Literal[1]
    settings: dict[str, Any] | None = None
    epoch_checkpoints: dict[str, int] = {}


_RESUME_FIX = "pass --no-resume (resume=False) to discard the interrupted run"


def _read_manifest(out: Path) -> dict[str, Any] | None:
    path = out / RESUME_DIR / RESUME_MANIFEST
    if not path.is_file():
        return None
    data = read_json_artifact(path, fix=_RESUME_FIX)
    if isinstance(data, dict) and data.get("format") != _FORMAT:
        raise InvalidDataError(f"{path} is not a targetsel resume manifest; {_RESUME_FIX}")
    check_artifact(ResumeManifest, data, source=path, fix=_RESUME_FIX)
    assert isinstance(data, dict)  # check_artifact refuses anything but a JSON object
    return data


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(out / RESUME_DIR / RESUME_MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _candidates(out: Path, manifest: dict[str, Any] | None) -> list[ResumePoint]:
    found = []
    rdir = out / RESUME_DIR
    if rdir.is_dir():
        for p in rdir.iterdir():
            if p.is_dir() and _STEP_RE.fullmatch(p.name) and (state := read_checkpoint_state(p)) is not None:
                found.append(_point(p, state))
    for name, step in ((manifest or {}).get("epoch_checkpoints") or {}).items():
        state = read_checkpoint_state(out / name)
        if state is not None and state["global_step"] == step:
            found.append(_point(out / name, state))
    return found


def has_progress(output_dir: str | os.PathLike[str]) -> bool:
    """Whether ``output_dir`` holds a complete checkpoint of its current run (something to resume from).

    A run that fails before its first complete checkpoint has nothing a rerun could continue
    from, and leaves nothing behind (:func:`targetsel.cleanup.undo_on_failure`); one that fails
    later keeps its checkpoints for the rerun.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> start_run(out, {"base_model": "m"})
        >>> has_progress(out)  # a manifest, no checkpoint yet
        False
    """
    out = Path(output_dir)
    return bool(_candidates(out, _read_manifest(out)))


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out.extend(_differences(old.get(k), new.get(k), f"{prefix}{k}."))
        return out
    return [] if old == new else [f"{prefix[:-1]}: {_short(old)} then, {_short(new)} now"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def find_resume_point(
    output_dir: str | os.PathLike[str], settings: dict[str, Any], *, resume: bool | None = None
) -> ResumePoint | None:
    """The checkpoint an interrupted run in ``output_dir`` continues from, or ``None`` to start over.

    Reads only; nothing on disk changes.

    Args:
        output_dir: The run's output folder.
        settings: The settings of the run about to start (JSON-like; compared with the interrupted run's).
        resume: ``None`` (default): resume when an interrupted run with equal settings left a
            complete checkpoint, start over when there is none. ``True``: the same, but having
            nothing to resume is an error. ``False``: always start over.

    Returns:
        The latest complete checkpoint of the interrupted run, or ``None``.

    Raises:
        ArtifactMismatchError: the interrupted run had other settings (``resume`` not ``False``).
        MissingArtifactError: ``resume=True`` and there is nothing to resume.

    Example:
        >>> import tempfile
        >>> find_resume_point(tempfile.mkdtemp(), {}, resume=False) is None
        True
    """
    out = Path(output_dir)
    if resume is False:
        return None
    manifest = _read_manifest(out)
    points = _candidates(out, manifest)
    if not points:
        if resume:
            raise MissingArtifactError(
                f"nothing to resume: {out} holds no interrupted run (no complete checkpoint in {out / RESUME_DIR}); "
                "run without --resume (resume=True) to start one"
            )
        return None
    if manifest is None:
        raise InvalidDataError(
            f"{out / RESUME_DIR} has checkpoints but no {RESUME_MANIFEST}; pass --no-resume to start over"
        )
    diffs = _differences(manifest.get("settings"), json.loads(json.dumps(settings)))
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise ArtifactMismatchError(
            f"{out} holds an interrupted run with other settings ({shown}); rerun with its settings to resume it, "
            "or pass --no-resume (resume=False) to discard it and start over"
        )
    return max(points, key=lambda p: (p.global_step, p.path.parent == out / RESUME_DIR))


def start_run(output_dir: str | os.PathLike[str], settings: dict[str, Any]) -> None:
    """Begin a fresh run: drop what an interrupted run left in ``OUT/resume``, write the new manifest.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> start_run(out, {"base_model": "m"})
        >>> sorted(p.name for p in (out / RESUME_DIR).iterdir())
        ['targetsel_resume.json']
        >>> finish_run(out)
        >>> (out / RESUME_DIR).exists()
        False
    """
    rdir = Path(output_dir) / RESUME_DIR
    if rdir.exists():
        shutil.rmtree(rdir)
    rdir.mkdir(parents=True)
    _write_manifest(Path(output_dir), {"format": _FORMAT, "settings": settings, "epoch_checkpoints": {}})


def record_epoch_checkpoint(output_dir: str | os.PathLike[str], name: str, global_step: int) -> None:
    """List ``OUT/name`` in the manifest as this run's checkpoint of ``global_step``.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> start_run(out, {})
        >>> record_epoch_checkpoint(out, "checkpoint-epoch-1", 12)
        >>> _read_manifest(out)["epoch_checkpoints"]
        {'checkpoint-epoch-1': 12}
    """
    out = Path(output_dir)
    manifest = _read_manifest(out)
    if manifest is None:  # the caller did not go through start_run (e.g. a bare Trainer); nothing to record
        return
    manifest.setdefault("epoch_checkpoints", {})[name] = int(global_step)
    _write_manifest(out, manifest)


def _epoch_target(out: Path, epoch: float) -> Path:
    return out / f"checkpoint-epoch-{max(1, math.ceil(float(epoch or 0) - 1e-6))}"


def prepare_resume(output_dir: str | os.PathLike[str], point: ResumePoint, *, save_every_epoch: bool) -> None:
    """Tidy ``OUT`` before continuing from ``point``.

    Deletes incomplete step checkpoints (a later save of the same step must not land in a
    half-written folder). When ``point`` is a step checkpoint that closes an epoch whose
    ``checkpoint-epoch-E`` was not written yet (the run died between the two), copies it there,
    since the continued run starts with the next epoch and would never write it.

    Example:
        >>> point = find_resume_point(out, settings)  # doctest: +SKIP
        >>> if point is not None:  # doctest: +SKIP
        ...     prepare_resume(out, point, save_every_epoch=True)
    """
    out = Path(output_dir)
    rdir = out / RESUME_DIR
    for p in rdir.iterdir() if rdir.is_dir() else ():
        if p.is_dir() and _STEP_RE.fullmatch(p.name) and read_checkpoint_state(p) is None:
            logger.info("removing the incomplete checkpoint %s", p)
            shutil.rmtree(p)
    epoch = point.closes_epoch
    if not save_every_epoch or epoch is None or point.path.parent != rdir:
        return
    target = out / f"checkpoint-epoch-{epoch}"
    listed = (_read_manifest(out) or {}).get("epoch_checkpoints") or {}
    if listed.get(target.name) == point.global_step:
        return
    tmp = out / f".{target.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(point.path, tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    record_epoch_checkpoint(out, target.name, point.global_step)


def finish_run(output_dir: str | os.PathLike[str]) -> None:
    """Remove ``OUT/resume`` (step checkpoints and manifest) after the run has saved its final model.

    Example: see :func:`start_run`.
    """
    shutil.rmtree(Path(output_dir) / RESUME_DIR, ignore_errors=True)


def checkpoint_callback(output_dir: str | os.PathLike[str], *, save_every_epoch: bool) -> Any:
    """The ``TrainerCallback`` that shapes the Trainer's saves into targetsel's layout.

    After every save it writes ``param_names.json`` (optimizer index → parameter name, so that
    Adam moments can be matched by name; its presence also marks the checkpoint complete). At the
    end of each epoch (``save_every_epoch``) it makes the Trainer save, or reuses the step save
    of that very step, and moves the folder to ``OUT/checkpoint-epoch-E``. Set its ``trainer``
    attribute to the Trainer before training.

    Example:
        >>> callback = checkpoint_callback("OUT", save_every_epoch=True)  # doctest: +SKIP
        >>> trainer = Trainer(model, TrainingArguments("OUT/resume", ...), callbacks=[callback])  # doctest: +SKIP
        >>> callback.trainer = trainer  # doctest: +SKIP
    """
    from transformers import TrainerCallback

    out = Path(output_dir)

    class _Checkpoints(TrainerCallback):
        def __init__(self) -> None:
            self.trainer: Any = None
            self._epoch_end = False
            self._saved_step = -1

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # every rank keeps the same bookkeeping, so that all take the same save decisions
            self._saved_step = state.global_step
            epoch_end, self._epoch_end = self._epoch_end, False
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            opt = self.trainer.optimizer if self.trainer is not None else None
            if not args.should_save or opt is None or not folder.is_dir():
                return
            by_id = {id(p): n for n, p in self.trainer.model.named_parameters()}
            names = [by_id[id(p)] for g in opt.param_groups for p in g["params"]]
            atomic_write_text(folder / PARAM_NAMES_FILE, json.dumps(names, indent=1) + "\n")
            if epoch_end:
                self._to_epoch(folder, state)

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not save_every_epoch:
                return
            if self._saved_step == state.global_step:  # a step save of this very state: move it, do not save twice
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if args.should_save and folder.is_dir():
                    self._to_epoch(folder, state)
            else:
                self._epoch_end = True
                control.should_save = True

        def _to_epoch(self, folder: Path, state: Any) -> None:
            target = _epoch_target(out, state.epoch)
            if target.exists():
                shutil.rmtree(target)
            os.replace(folder, target)
            record_epoch_checkpoint(out, target.name, state.global_step)

    return _Checkpoints()
