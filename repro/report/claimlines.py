"""Claims, not rows: every results row of one claim gathered into one line with its value range and one verdict."""

from __future__ import annotations

from dataclasses import dataclass

from repro.report.summary import Row, claim_rows

# What a claim line can say; 'not measured' is the report's word for a claim no measured row has.
STATUSES = ("reproduced", "not reproduced", "not comparable", "smoke", "not measured")
COMPARED = ("reproduced", "not reproduced")


def combined_status(rows: list[Row]) -> str:
    """One verdict for all rows of a claim.

    Smoke rows count only when nothing else was measured. Among the other measured rows: 'not reproduced' when
    any comparable one fails, 'reproduced' when every comparable one passes (the line says how many of N),
    'not comparable' when none is comparable; 'not measured' when no row has a value.
    """
    measured = [r for r in rows if r.value is not None]
    if not measured:
        return "not measured"
    real = [r for r in measured if r.verdict != "smoke"]
    if not real:
        return "smoke"
    compared = [r for r in real if r.verdict in COMPARED]
    if not compared:
        return "not comparable"
    return "not reproduced" if any(r.verdict == "not reproduced" for r in compared) else "reproduced"


def shown_verdict(verdict: str, kind: str) -> str:
    """A check's verdict reads 'check passed' / 'check failed' (it is not a reproduction); others are unchanged."""
    if kind == "check" and verdict in COMPARED:
        return "check passed" if verdict == "reproduced" else "check failed"
    return verdict


def _pairs(setting: str) -> dict[str, str]:
    return dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in setting.split(";") if kv)


@dataclass(frozen=True)
class ClaimLine:
    """One claim of claims.yaml (or one claim id of the CSVs) with all its rows, measured or not."""

    rows: tuple[Row, ...]
    status: str

    @property
    def first(self) -> Row:
        return self.rows[0]

    @property
    def claim_id(self) -> str:
        return self.first.claim_id

    @property
    def paper(self) -> str:
        return self.first.paper

    @property
    def kind(self) -> str:
        return self.first.kind

    @property
    def is_check(self) -> bool:
        return self.kind == "check"

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.rows if r.value is not None]

    @property
    def n(self) -> int:
        """How many measurements the claim has."""
        return len(self.measured)

    @property
    def n_reproduced(self) -> int:
        return sum(r.verdict == "reproduced" for r in self.measured)

    @property
    def value_range(self) -> tuple[float, float] | None:
        values = [r.value for r in self.measured if r.value is not None]
        return (min(values), max(values)) if values else None

    @property
    def delta_range(self) -> tuple[float, float] | None:
        deltas = [d for r in self.measured if (d := r.delta) is not None]
        return (min(deltas), max(deltas)) if deltas else None

    @property
    def shown(self) -> str:
        """The verdict as the report prints it."""
        return shown_verdict(self.status, self.kind)

    @property
    def tiers(self) -> list[str]:
        return sorted({r.tier for r in self.rows if r.tier})

    def setting_text(self) -> str:
        """The setting pairs all rows share, plus which keys vary and over how many settings."""
        settings = [_pairs(r.setting) for r in (self.measured or list(self.rows))]
        if len({r.setting for r in (self.measured or list(self.rows))}) <= 1:
            return self.first.setting if not self.measured else self.measured[0].setting
        common = {k: v for k, v in settings[0].items() if all(s.get(k) == v for s in settings)}
        varying = sorted({k for s in settings for k in s} - set(common))
        text = ";".join(f"{k}={v}" for k, v in common.items())
        distinct = len({tuple(sorted(s.items())) for s in settings})
        return f"{text}{'; ' if text else ''}{', '.join(varying)} varies ({distinct} settings)"

    def reasons(self) -> str:
        """Why the claim is not reproduced / not comparable (distinct row reasons), or why a check cannot fail."""
        if self.status == "not reproduced":
            failing = [r for r in self.measured if r.verdict == "not reproduced"]
            head = f"{len(failing)} of {self.n} measurements fail: " if self.n > 1 else ""
            return head + "; ".join(dict.fromkeys(r.reason for r in failing if r.reason))
        if self.status in ("not comparable", "not measured"):
            pool = [r for r in self.rows if r.verdict == "not comparable"] or list(self.rows)
            return "; ".join(dict.fromkeys(r.reason for r in pool if r.reason))
        return ""


def claim_lines(rows: list[Row]) -> list[ClaimLine]:
    """One line per claim id, in the order the rows come (claims.yaml order)."""
    groups: dict[str, list[Row]] = {}
    for row in claim_rows(rows):
        groups.setdefault(row.claim_id, []).append(row)
    return [ClaimLine(tuple(g), combined_status(g)) for g in groups.values()]


def status_counts(lines: list[ClaimLine], kind: str = "claim") -> dict[str, int]:
    """How many lines of `kind` ('claim' or 'check') have each status."""
    counts: dict[str, int] = {}
    for line in lines:
        if line.is_check == (kind == "check"):
            counts[line.status] = counts.get(line.status, 0) + 1
    return counts


def shown_statuses(lines: list[ClaimLine]) -> tuple[str, ...]:
    """The statuses a report counts: all but 'smoke', which only when some claim is smoke-only."""
    smoke = any(line.status == "smoke" for line in lines)
    return tuple(s for s in STATUSES if s != "smoke" or smoke)
