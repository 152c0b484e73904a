"""Read everything the report shows: results CSVs, claims.yaml files and run directories (never retrains)."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from repro.claims import CLAIM_SCHEMA, VERDICTS
from repro.collect import COLUMNS as RESULT_COLUMNS
from repro.registry import PAPERS as PAPER_ORDER
from repro.registry import STAGE_ORDER

FIGURE_KEYS = ("name", "file", "title", "caption")


@dataclass(frozen=True)
class Figure:
    """One PNG an experiment drew itself, as listed in its figures/index.json."""

    name: str
    path: Path
    title: str
    caption: str


@dataclass
class RunDir:
    """What one `runs/<tier>/<paper>/<experiment>/` holds that the report needs."""

    tier: str
    paper: str
    experiment: str
    root: Path
    figures: list[Figure] = field(default_factory=list)
    missing_figures: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    finished: str = ""  # the latest 'finished' time a stage stamp records

    @property
    def key(self) -> str:
        return f"{self.paper}/{self.experiment}"


def parse_float(text: str) -> float | None:
    """A CSV cell as a finite float, or None when empty or not a number (e.g. a qualitative claim)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_bool(text: str, where: str) -> bool:
    low = str(text).strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{where}: column 'comparable' must be true/false, got {text!r}")


def load_results(results_dir: Path) -> list[dict[str, str]]:
    """All rows of `results_dir/*.csv` as string dicts, after checking the header and the verdict vocabulary."""
    rows: list[dict[str, str]] = []
    for path in sorted(Path(results_dir).glob("*.csv")):
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != RESULT_COLUMNS:
                raise ValueError(f"{path}: header {reader.fieldnames} differs from the results schema {RESULT_COLUMNS}")
            for line, row in enumerate(reader, start=2):
                where = f"{path}:{line}"
                if None in row or None in row.values():
                    raise ValueError(f"{where}: {len(RESULT_COLUMNS)} cells expected, the row has another number")
                if row["verdict"] not in VERDICTS:
                    raise ValueError(f"{where}: verdict {row['verdict']!r} is not one of {VERDICTS}")
                parse_bool(row["comparable"], where)
                row["_file"] = path.name
                row["_where"] = where
                rows.append(row)
    return rows


def load_claims(papers_root: Path | None) -> dict[str, dict[str, Any]]:
    """Claims by id from every `papers_root/<paper>/claims.yaml` (for protocol, confidence, rule and order)."""
    claims: dict[str, dict[str, Any]] = {}
    if papers_root is None:
        return claims
    for path in sorted(Path(papers_root).glob("*/claims.yaml")):
        doc = yaml.safe_load(path.read_text())
        try:
            jsonschema.validate(doc, CLAIM_SCHEMA)
        except jsonschema.ValidationError as err:
            raise ValueError(f"{path}: {'.'.join(map(str, err.absolute_path))}: {err.message}") from err
        for order, claim in enumerate(doc["claims"]):
            claims[str(claim["id"])] = {**claim, "_paper": path.parent.name, "_order": order}
    return claims


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def _figures(root: Path) -> tuple[list[Figure], list[str]]:
    index_path = root / "figures" / "index.json"
    if not index_path.exists():
        return [], []
    index = _load_json(index_path)
    if not isinstance(index, list):
        raise ValueError(f"{index_path}: expected a list of figure entries")
    figures, missing = [], []
    for entry in index:
        absent = [k for k in FIGURE_KEYS if not isinstance(entry, dict) or k not in entry]
        if absent:
            raise ValueError(f"{index_path}: entry {entry!r} lacks {absent}")
        name = str(entry["file"])
        if Path(name).name != name or not name.lower().endswith(".png"):
            raise ValueError(f"{index_path}: file {name!r} must be a bare .png name inside figures/")
        png = root / "figures" / name
        if png.is_file():
            figures.append(Figure(str(entry["name"]), png, str(entry["title"]), str(entry["caption"])))
        else:
            missing.append(str(png))
    return figures, missing


def _stages(root: Path) -> tuple[dict[str, float], str]:
    stages, finished = {}, ""
    for stamp in root.glob("stage_*.json"):
        doc = _load_json(stamp)
        seconds = doc.get("wall_seconds") if isinstance(doc, dict) else None
        if not isinstance(seconds, (int, float)):
            raise ValueError(f"{stamp}: expected a number under 'wall_seconds', got {seconds!r}")
        stages[stamp.stem.removeprefix("stage_")] = float(seconds)
        finished = max(finished, str(doc.get("finished", "")))
    return dict(sorted(stages.items(), key=lambda kv: stage_rank(kv[0]))), finished


def stage_rank(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


def _is_run_dir(path: Path) -> bool:
    """A run directory holds a stage stamp, metrics.json or figures (so e.g. runs/<tier>/logs/ is not one)."""
    if not path.is_dir():
        return False
    return any(path.glob("stage_*.json")) or (path / "metrics.json").is_file() or (path / "figures").is_dir()


def load_runs(runs_root: Path) -> list[RunDir]:
    """Every `runs_root/<tier>/<paper>/<experiment>/` directory, with figures, stage stamps and metrics.json."""
    runs = []
    for root in sorted(p for p in Path(runs_root).glob("*/*/*") if _is_run_dir(p)):
        tier, paper, experiment = root.parts[-3:]
        figures, missing = _figures(root)
        metrics_path = root / "metrics.json"
        metrics = _load_json(metrics_path) if metrics_path.exists() else None
        stages, finished = _stages(root)
        runs.append(RunDir(tier, paper, experiment, root, figures, missing, stages, metrics, finished))
    return runs


def paper_rank(paper: str) -> tuple[int, str]:
    return (PAPER_ORDER.index(paper) if paper in PAPER_ORDER else len(PAPER_ORDER), paper)
