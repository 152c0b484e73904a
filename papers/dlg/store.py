"""A point's samples on disk: kept under the settings that made them, and resumable inside a point.

A point (`papers.dlg.images`) is sampled in units: a batch of the plain arm, a round of the DLG chains. At the
paper tier one point is 50k samples and can take GPU-hours, so every 1/`SAVES` of its units, and at least every
`SAVE_SECONDS`, the samples since the last save go to `samples/<name>.parts/` (uint8, as the point stores them)
and the sampler's state to `state.pt` beside them; a killed job goes on from there (on a CPU it ends with the
same samples bit for bit). Each save also logs the progress and the time left. A finished point is `<name>.npz` and
`<name>.json` (its NFE accounting and the settings' fingerprint): a point made under other settings is refused,
naming what changed, never silently reused.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro import checkpoint
from repro.atomic import atomic_path
from repro.progress import status
from repro.run import Run
from repro.sampling import to_uint8

SAVES = 20  # a partial save every 1/20 of a point's units ...
SAVE_SECONDS = 600.0  # ... or sooner, once this long has passed since the last one
_RESAMPLE = "they are not reused: delete them to sample this point again"


def _paths(run: Run, name: str) -> tuple[Path, Path]:
    folder = run.root / "samples"
    return folder / f"{name}.npz", folder / f"{name}.json"


def _parts(run: Run, name: str) -> Path:
    return run.root / "samples" / f"{name}.parts"


def remove_parts(run: Run, name: str) -> None:
    """Drop a point's partial saves once the finished point is on disk."""
    shutil.rmtree(_parts(run, name), ignore_errors=True)


def _check(where: Path, stored: dict[str, Any], settings: dict[str, Any], what: str) -> None:
    """Refuse `what` at `where` unless it was made under `settings`, naming the keys that changed."""
    changed = checkpoint.changed_settings(stored, settings)
    if changed is not None:
        raise RuntimeError(f"{where} holds {what} made under other settings ({changed}); {_RESAMPLE}")


def finished(run: Run, name: str, settings: dict[str, Any]) -> bool:
    """Whether the point is on disk, made under `settings` (an error if under others)."""
    _, info = _paths(run, name)
    if not info.exists():
        return False
    _check(info, run.load_json(f"samples/{info.name}"), settings, "a finished point")
    return True


def save(run: Run, name: str, samples: np.ndarray, info: dict[str, Any], settings: dict[str, Any]) -> None:
    """The finished point: uint8 samples [N, H, W, C], then its record (the record marks it finished)."""
    path, _ = _paths(run, name)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, samples=samples)
    record = {**info, "fingerprint": checkpoint.fingerprint(settings), "settings": settings}
    run.save_json(f"samples/{name}.json", record)


def load(run: Run, name: str, settings: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """A finished point's samples and record; refused if missing or made under other settings."""
    path, info = _paths(run, name)
    if not info.exists():
        raise FileNotFoundError(f"{info} is missing: run the sample stage of {run.paper}/{run.experiment} first")
    record = run.load_json(f"samples/{info.name}")
    _check(info, record, settings, "a point")
    return np.load(path)["samples"], record


class Partial:
    """A point's units so far: their samples in parts on disk, and the state its sampler goes on from.

    `state` is what the last save recorded (empty on a fresh start); `done` counts the units behind it."""

    def __init__(
        self,
        run: Run,
        name: str,
        settings: dict[str, Any],
        units: int,
        unit: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run, self.name, self.units, self.unit, self.clock = run, name, units, unit, clock
        self.folder = _parts(run, name)
        self.settings, self.fingerprint = settings, checkpoint.fingerprint(settings)
        self.every = max(1, -(-units // SAVES))
        self.state: dict[str, Any] = {}
        self.done = self.parts = 0
        self._pending: list[torch.Tensor] = []
        state_path = self.folder / "state.pt"
        if state_path.exists():
            stored = checkpoint.load(state_path)
            _check(state_path, stored, settings, "a partly sampled point")
            self.done, self.parts, self.state = stored["done"], stored["parts"], stored["state"]
            run.log(f"{name}: resuming after {self.done}/{units} {unit}, from {self.folder}")
        self._start_done, self._t0 = self.done, clock()
        self._saved_at, self._saved_done = self._t0, self.done

    def add(self, x: torch.Tensor, state: Callable[[], dict[str, Any]]) -> None:
        """One unit's samples (floats in [0, 1], any device); saves, with `state()`, when a save is due."""
        self._pending.append(to_uint8(x.cpu()))
        self.done += 1
        if self.done == self.units:
            return  # `samples` takes the last parts from memory
        due = self.done - self._saved_done >= self.every or self.clock() - self._saved_at >= SAVE_SECONDS
        if due:
            self._save(state())

    def _save(self, state: dict[str, Any]) -> None:
        part = self.folder / f"part_{self.parts:05d}.npy"
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(part) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, torch.cat(self._pending).numpy())
        self.parts += 1
        self._pending.clear()
        record = {"done": self.done, "parts": self.parts, "state": state, "fingerprint": self.fingerprint}
        checkpoint.save(self.folder / "state.pt", {**record, "settings": self.settings})
        self._saved_at, self._saved_done = self.clock(), self.done
        self._log_progress()

    def _log_progress(self) -> None:
        here = status(self.done, self.units, self.clock() - self._t0, self.done - self._start_done)
        self.run.log(f"{self.name}: {self.unit} {here}; saved")

    def samples(self) -> np.ndarray:
        """Every unit's samples in order: the saved parts, then those since the last save."""
        saved = [np.load(self.folder / f"part_{i:05d}.npy") for i in range(self.parts)]
        return np.concatenate((saved + [torch.cat(self._pending).numpy()]) if self._pending else saved)
