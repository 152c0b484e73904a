"""Render the report model as a Markdown summary (report/README.md) that renders on a code-hosting site."""

from __future__ import annotations

from urllib.parse import quote

from repro.report import fmt
from repro.report.data import VERDICTS
from repro.report.model import ReportModel, ShownFigure
from repro.report.summary import claim_rows, verdict_counts


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def image(fig: ShownFigure) -> str:
    where = f" ({fig.experiment}, {fig.tier} tier)" if fig.tier else ""
    alt = fig.title.replace("[", "(").replace("]", ")")
    return f"![{alt}]({quote(fig.src)})\n\n*{fig.title}{where}.* {fig.caption}".rstrip()


def render(model: ReportModel, title: str) -> str:
    out = [
        f"# {title}",
        "",
        f"Tiers: {', '.join(model.tiers) or 'none'} · built {model.build.get('built (UTC)', '')} UTC at commit "
        f"`{model.build.get('commit', '')}` · regenerate with `python -m repro report` · full page: "
        "[index.html](index.html)",
        "",
    ]
    if model.warnings:
        out += ["> **Problems found**", ">"] + [f"> - {w}" for w in model.warnings] + [""]
    counts = verdict_counts(model.rows)
    out += [
        "## At a glance",
        "",
        table(
            ["Paper", *VERDICTS],
            [[p, *[str(verdict_counts(model.paper_rows(p)).get(v, 0)) for v in VERDICTS]] for p in model.papers]
            + [["**all**", *[f"**{counts.get(v, 0)}**" for v in VERDICTS]]],
        ),
        "",
    ]
    if "smoke" in model.tiers:
        out += ["> Smoke-tier rows prove the pipeline runs; their numbers are not evidence.", ""]

    out += ["## Summary of claims", ""]
    rows = []
    for r in claim_rows(model.rows):
        ours = fmt.value_pm(r) + (f" {r.unit}" if r.value is not None and r.unit else "")
        rows.append(
            [
                r.paper,
                f"`{r.claim_id}`",
                f"{r.metric} · {r.dataset}",
                f"{r.source} ({r.confidence})".strip(),
                fmt.claimed(r),
                ours,
                fmt.delta(r),
                r.tier or fmt.MISSING,
                r.protocol or fmt.MISSING,
                f"**{r.verdict}**",
                r.reason if r.verdict in ("not comparable", "not reproduced") else "",
                fmt.provenance(r) or fmt.MISSING,
            ]
        )
    head = [
        "Paper",
        "Claim",
        "Metric · dataset",
        "Source (confidence)",
        "Paper value",
        "Ours ± stderr",
        "Δ",
        "Tier",
        "Protocol",
        "Verdict",
        "Reason",
        "Provenance",
    ]
    out += [table(head, rows) if rows else "No claims found.", ""]

    for paper in model.papers:
        out += [f"## {fmt.paper_title(paper)}", ""]
        for fig in (model.claim_figures.get(paper), model.timing_figures.get(paper)):
            if fig:
                out += [image(fig), ""]
        for experiment in model.experiments(paper):
            figs = model.experiment_figures.get(f"{paper}/{experiment}", [])
            if figs:
                out += [f"### {paper}/{experiment}", ""] + [line for f in figs for line in (image(f), "")]

    out += ["## Workflow progress and timing", ""]
    out += [
        table(
            ["Tier", "Experiment", "Stages (seconds)", "Wall", "Status"],
            [
                [
                    p.tier,
                    f"{p.paper}/{p.experiment}",
                    ", ".join(f"{s} {v:.1f}" for s, v in p.stages.items()) or fmt.MISSING,
                    fmt.seconds(p.wall),
                    p.status,
                ]
                for p in model.progress
            ],
        )
        if model.progress
        else "Nothing has run yet.",
        "",
    ]
    if "" in model.timing_figures:
        out += [image(model.timing_figures[""]), ""]
    out += [
        "## Provenance",
        "",
        table(["Item", "Value"], [[k, v] for k, v in {**model.build, **model.versions}.items()]),
        "",
        "Results files: " + (", ".join(f"[{f}]({quote(f)})" for f in model.data_files) or "none"),
        "",
    ]
    return "\n".join(out)
