"""Render the report model as one static, self-contained HTML page (inline CSS, no scripts, relative images)."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from urllib.parse import quote

from repro.provenance import recorded_versions
from repro.report import fmt, papertables
from repro.report.claimlines import STATUSES, ClaimLine, claim_lines, shown_statuses, shown_verdict, status_counts
from repro.report.data import stage_rank
from repro.report.model import Progress, ReportModel, ShownFigure
from repro.report.preregistration import rule_text
from repro.report.summary import Row

STYLE = (Path(__file__).with_name("style.css")).read_text()
COLLAPSE_AFTER = 15  # measurement tables longer than this start folded


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", p) for p in parts)


def claim_anchor(claim_id: str) -> str:
    return anchor("claim", claim_id)


def badge(verdict: str) -> str:
    return f'<span class="badge {anchor(verdict).replace("_", "-")}">{escape(verdict)}</span>'


def _table(head: list[str], body: list[str], cls: str = "", widths: list[int] | None = None, fit: bool = False) -> str:
    """A table in a scrolling wrapper; `widths` are column width hints in percent, `fit` sizes it to its content."""
    ths = "".join(f"<th>{escape(h)}</th>" for h in head)
    cols = "".join(f'<col style="width:{w}%">' for w in widths) if widths else ""
    return (
        f'<div class="tablewrap{" fit" if fit else ""}"><table class="{cls}">'
        f"{f'<colgroup>{cols}</colgroup>' if cols else ''}"
        f"<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def clip(text: str, limit: int = 90) -> str:
    """Long text folded after about `limit` characters into a <details> element (no script needed to open it)."""
    if len(text) <= limit:
        return escape(text)
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return f'<details class="clip"><summary>{escape(text[:cut])} …</summary>… {escape(text[cut:].lstrip())}</details>'


def _figure(fig: ShownFigure, wide: bool = False) -> str:
    where = f' <span class="muted">({escape(fig.experiment)}, {escape(fig.tier)} tier)</span>' if fig.tier else ""
    src = escape(quote(fig.src))
    return (
        f'<figure{" class=wide" if wide else ""}><a href="{src}"><img src="{src}" alt="{escape(fig.title)}"></a>'
        f"<figcaption><b>{escape(fig.title)}</b>{where}<br>{escape(fig.caption)}</figcaption></figure>"
    )


def _claim_cell(line: ClaimLine, model_experiments: set[str]) -> str:
    row = line.first
    exp = escape(f"{row.paper}/{row.experiment}")
    if f"{row.paper}/{row.experiment}" in model_experiments:
        exp = f'<a href="#{anchor("exp", row.paper, row.experiment)}">{exp}</a>'
    setting = line.setting_text()
    setting_html = f'<br><span class="muted setting">{escape(setting)}</span>' if setting else ""
    check = ' <span class="kind">check</span>' if line.is_check else ""
    return (
        f"<td><code>{escape(row.claim_id)}</code>{check}<br>{escape(row.metric)} · {escape(row.dataset)}"
        f'<br><span class="muted">{exp}</span>{setting_html}</td>'
    )


def _ours_cell(line: ClaimLine) -> str:
    """One value ± stderr with its provenance, or the range of N measurements."""
    row, rng = line.first, line.value_range
    if rng is None:
        return "<td>not measured</td>"
    if line.n == 1:
        one = line.measured[0]
        prov = fmt.provenance(one)
        return (
            f'<td><span class="num">{escape(fmt.value_pm(one))}</span> {escape(one.unit)}'
            f"{f'<br><span class=muted>{escape(prov)}</span>' if prov else ''}</td>"
        )
    commits = sorted({r.commit for r in line.measured if r.commit})
    where = f" · commit {', '.join(commits)}" if commits else ""
    return (
        f'<td><span class="num">{escape(fmt.value_range(*rng, row.unit))}</span>'
        f'<br><span class="muted">range of {line.n} measurements{escape(where)}</span></td>'
    )


def _verdict_cell(line: ClaimLine) -> str:
    compared = [r for r in line.measured if r.verdict in ("reproduced", "not reproduced")]
    of_n = ""
    if len(line.measured) > 1:
        word = "pass" if line.is_check else "reproduced"
        of_n = f'<div class="muted">{line.n_reproduced} of {line.n} {word}</div>'
    elif compared and line.n > len(compared):
        of_n = f'<div class="muted">{len(compared)} of {line.n} comparable</div>'
    return f'<td class="verdict">{badge(line.shown)}{of_n}</td>'


def _reason_cell(line: ClaimLine) -> str:
    why = line.first.why
    parts = [f"<b>check</b>: {clip(why, 120)}" if why else ""] + [clip(line.reasons(), 160)]
    return f'<td class="reason">{"<br>".join(p for p in parts if p)}</td>'


def _summary_row(line: ClaimLine, experiments: set[str]) -> str:
    row = line.first
    confidence = f'<div class="muted">{clip(row.confidence, 60)}</div>' if row.confidence else ""
    drange = line.delta_range
    delta = fmt.delta(line.measured[0]) if line.n == 1 else (fmt.delta_range(*drange) if drange else fmt.MISSING)
    return (
        f'<tr class="claim{" check" if line.is_check else ""}" id="{claim_anchor(line.claim_id)}">'
        f"{_claim_cell(line, experiments)}"
        f"<td>{clip(row.source or fmt.MISSING, 60)}{confidence}</td>"
        f'<td class="claimed">{escape(fmt.claimed(row))}</td>'
        f"{_ours_cell(line)}"
        f'<td class="num">{escape(delta)}</td>'
        f"<td>{escape(', '.join(line.tiers) or fmt.MISSING)}</td>"
        f'<td class="protocol">{clip(row.protocol or fmt.MISSING)}</td>'
        f"{_verdict_cell(line)}{_reason_cell(line)}"
        "</tr>"
    )


SUMMARY_WIDTHS = [17, 12, 8, 14, 7, 4, 13, 10, 15]
SUMMARY_HEAD = [
    "Claim",
    "Source · confidence",
    "Paper value (or our threshold)",
    "Ours (± stderr) · provenance",
    "Δ (ours − claimed)",
    "Tier",
    "Protocol (paper)",
    "Verdict",
    "Reason",
]


def summary_section(model: ReportModel) -> str:
    experiments = {f"{p}/{e}" for p in model.papers for e in model.experiments(p)}
    body = []
    for paper in model.papers:
        lines = claim_lines(model.paper_rows(paper))
        if not lines:
            continue
        body.append(
            f'<tr class="group"><th colspan="{len(SUMMARY_HEAD)}">'
            f'<a href="#{anchor("paper", paper)}">{escape(fmt.paper_title(paper))}</a></th></tr>'
        )
        body += [_summary_row(line, experiments) for line in lines]
    if not body:
        return '<section id="summary"><h2>Summary of claims</h2><p class="note">No claims found.</p></section>'
    return (
        '<section id="summary"><h2>Summary of claims</h2>'
        '<p class="lead">One line per claim of every paper: where the paper states it, the paper\'s value (or '
        "<b>our threshold</b> where the number is one we chose to test a qualitative statement), ours with its "
        "provenance (the range when a claim is measured at several settings), the difference, the protocol the "
        "claim needs and the verdict of the rule written in <code>papers/&lt;paper&gt;/claims.yaml</code> before "
        "running: a claim measured N times is reproduced only if every comparable measurement is. "
        "<b>Checks</b> (identities, closed forms, bounds by construction) cannot fail when our code is right; they "
        "are shown but never counted as reproductions. Claims we could not run stay as lines."
        f"</p>{_table(SUMMARY_HEAD, body, 'summary', SUMMARY_WIDTHS)}</section>"
    )


def _count_line(counts: dict[str, int], statuses: tuple[str, ...]) -> list[str]:
    return [f'<td class="num">{counts.get(s, 0)}</td>' for s in statuses]


def _checks_text(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "none"
    rest = total - counts.get("reproduced", 0) - counts.get("not reproduced", 0)
    return f"{counts.get('reproduced', 0)} pass, {counts.get('not reproduced', 0)} fail" + (
        f", {rest} not run or not comparable" if rest else ""
    )


def glance_section(model: ReportModel) -> str:
    lines = claim_lines(model.rows)
    counts, checks = status_counts(lines), status_counts(lines, "check")
    statuses = shown_statuses(lines)
    cards = "".join(
        f'<div class="card {anchor(v).replace("_", "-")}"><div class="n">{counts.get(v, 0)}</div>'
        f'<div class="l">claims {escape(v)}</div></div>'
        for v in statuses
    )
    cards += (
        f'<div class="card checks"><div class="n">{sum(checks.values())}</div>'
        f'<div class="l">checks (not counted): {escape(_checks_text(checks))}</div></div>'
    )
    body = []
    for paper in model.papers:
        plines = claim_lines(model.paper_rows(paper))
        pc, pk = status_counts(plines), status_counts(plines, "check")
        body.append(
            f'<tr><td><a href="#{anchor("paper", paper)}">{escape(paper)}</a></td>{"".join(_count_line(pc, statuses))}'
            f'<td class="num">{sum(pc.values())}</td><td class="num">{sum(pk.values())}</td>'
            f'<td class="num">{sum(len(line.measured) for line in plines)}</td></tr>'
        )
    tiers = "".join(f"<li><b>{escape(t)}</b>: {escape(fmt.TIER_NOTES.get(t, ''))}</li>" for t in model.tiers)
    smoke = (
        (
            '<p class="note">Smoke-tier rows prove that the pipeline runs end to end; their numbers are not '
            "evidence for or against any claim.</p>"
        )
        if "smoke" in model.tiers
        else ""
    )
    head = ["Paper", *statuses, "claims", "checks", "measurements"]
    return (
        '<section id="glance"><h2>At a glance</h2>'
        '<p class="lead">Counts are of <b>claims</b>, not of results rows: a claim measured at many settings counts '
        "once. Checks are counted apart.</p>"
        f'<div class="cards">{cards}</div>'
        f"{_table(head, body, 'counts', fit=True)}"
        f"<h4>Tiers in this report</h4><ul>{tiers or '<li>none</li>'}</ul>{smoke}</section>"
    )


MEASURE_HEAD = [
    "Dataset",
    "Setting",
    "Metric",
    "Value ± stderr",
    "Unit",
    "n",
    "Seed",
    "Tier",
    "Device",
    "Wall",
    "Commit",
    "Claim",
    "Verdict",
]


def _measure_row(row: Row) -> str:
    claim = f'<a href="#{claim_anchor(row.claim_id)}"><code>{escape(row.claim_id)}</code></a>' if row.claim_id else ""
    synth = ' <span class="muted">(synthetic data)</span>' if row.synthetic else ""
    return (
        f"<tr><td>{escape(row.dataset)}</td><td>{_code(row.setting)}</td><td>{escape(row.metric)}</td>"
        f'<td class="num">{escape(fmt.value_pm(row))}</td><td>{escape(row.unit)}</td>'
        f'<td class="num">{escape(row.n_samples)}</td><td>{escape(row.seed)}</td><td>{escape(row.tier)}{synth}</td>'
        f'<td>{escape(row.device)}</td><td class="num">{escape(fmt.seconds(row.wall_seconds))}</td>'
        f"<td>{_code(row.commit)}</td><td>{claim}</td>"
        f'<td class="verdict">{badge(shown_verdict(row.verdict, row.kind))}</td></tr>'
    )


def _experiment_block(model: ReportModel, paper: str, experiment: str) -> str:
    rows = [r for r in model.paper_rows(paper) if r.experiment == experiment and r.value is not None]
    figs = model.experiment_figures.get(f"{paper}/{experiment}", [])
    prog = [p for p in model.progress if p.paper == paper and p.experiment == experiment]
    status = "; ".join(f"{p.tier}: {p.status}, {fmt.seconds(p.wall)}" for p in prog) or "not run"
    parts = [
        f'<h3 id="{anchor("exp", paper, experiment)}">{escape(paper)}/{escape(experiment)}</h3>',
        f'<p class="muted">{escape(status)}</p>',
    ]
    if figs:
        parts.append(f'<div class="figs">{"".join(_figure(f) for f in figs)}</div>')
    if rows:
        table = _table(MEASURE_HEAD, [_measure_row(r) for r in rows], "measurements")
        if len(rows) > COLLAPSE_AFTER:
            table = f"<details><summary>All {len(rows)} measurements with provenance</summary>{table}</details>"
        parts.append(table)
    elif not figs:
        parts.append('<p class="muted">No measurements or figures yet.</p>')
    return "".join(parts)


def paper_section(model: ReportModel, paper: str) -> str:
    lines = claim_lines(model.paper_rows(paper))
    counts, checks = status_counts(lines), sum(status_counts(lines, "check").values())
    line = ", ".join(f"{counts[v]} {v}" for v in STATUSES if counts.get(v)) or "no claims"
    line = f"claims: {line}" + (f" · {checks} check{'s' if checks != 1 else ''}" if checks else "")
    parts = [
        f'<section id="{anchor("paper", paper)}"><div class="paperhead"><h2>{escape(fmt.paper_title(paper))}</h2>'
        f'<span class="muted">{escape(line)}</span></div>'
    ]
    claims, timing = model.claim_figures.get(paper), model.timing_figures.get(paper)
    own = ([_figure(claims, wide=True)] if claims else []) + ([_figure(timing)] if timing else [])
    if paper not in model.claim_figures:
        parts.append(
            '<p class="muted">No claimed-vs-measured figure: no comparable claim has a numeric measured '
            "value at these tiers.</p>"
        )
    if own:
        parts.append(f'<div class="figs">{"".join(own)}</div>')
    parts += [_experiment_block(model, paper, e) for e in model.experiments(paper)]
    return "".join(parts) + "</section>"


def _progress_row(p: Progress, stage_names: list[str]) -> str:
    cells = []
    for s in stage_names:
        if s in p.stages:
            cells.append(f'<td class="num">{escape(fmt.seconds(p.stages[s]))}</td>')
        else:
            cells.append(f'<td class="num muted">{"pending" if s in p.expected else fmt.MISSING}</td>')
    return (
        f'<tr><td>{escape(p.tier)}</td><td><a href="#{anchor("exp", p.paper, p.experiment)}">'
        f"{escape(p.paper)}/{escape(p.experiment)}</a></td>{''.join(cells)}"
        f'<td class="num">{escape(fmt.seconds(p.stage_total))}</td>'
        f'<td class="num">{escape(fmt.seconds(p.csv_wall))}</td><td>{escape(p.status)}</td>'
        f'<td class="nowrap muted">{escape(p.finished or fmt.MISSING)}</td></tr>'
    )


def timing_section(model: ReportModel) -> str:
    names = sorted({s for p in model.progress for s in (*p.stages, *p.expected)}, key=stage_rank)
    head = ["Tier", "Experiment", *names, "Sum of stages", "CSV wall_seconds", "Status", "Last stage finished"]
    total = sum(p.wall or 0.0 for p in model.progress)
    fig = model.timing_figures.get("")
    return (
        '<section id="timing"><h2>Workflow progress and timing</h2>'
        f'<p class="lead">Stage times come from <code>runs/&lt;tier&gt;/&lt;paper&gt;/&lt;experiment&gt;/'
        f"stage_&lt;name&gt;.json</code>; the CSV column is the time the results rows record. "
        f"Total wall time of everything shown: <b>{escape(fmt.seconds(total))}</b>.</p>"
        f"{_table(head, [_progress_row(p, names) for p in model.progress]) if model.progress else ''}"
        f"{_figure(fig, wide=True) if fig else ''}</section>"
    )


def _code(text: str) -> str:
    return f"<code>{escape(text)}</code>" if text else fmt.MISSING


def _kv(items: dict[str, str]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items.items()) + "</dl>"


def _versions_row(versions: dict[str, str]) -> str:
    return "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in versions.values()) + "</tr>"


def provenance_section(model: ReportModel) -> str:
    body = []
    for run in model.runs:
        rows = [
            r
            for r in model.rows
            if (r.tier, r.paper, r.experiment) == (run.tier, run.paper, run.experiment) and r.value is not None
        ]
        meta = run.metrics or {}
        seeds = ", ".join(sorted({r.seed for r in rows if r.seed})) or fmt.MISSING
        samples = ", ".join(sorted({r.n_samples for r in rows if r.n_samples}, key=lambda s: (len(s), s)))
        versions = recorded_versions(run.metrics)
        body.append(
            f"<tr><td>{escape(run.tier)}</td><td>{escape(run.key)}</td><td>{_code(str(meta.get('commit', '')))}"
            f"</td><td>{escape(str(meta.get('device', fmt.MISSING)))}</td>"
            f"<td>{'yes' if meta.get('synthetic_data') else ('no' if meta else fmt.MISSING)}</td>"
            f"<td>{escape(seeds)}</td><td>{escape(samples or fmt.MISSING)}</td>"
            f'<td class="num">{escape(fmt.seconds(meta.get("wall_seconds")))}</td>'
            f"<td>{escape(', '.join(f'{k} {v}' for k, v in versions.items()) or 'not recorded')}</td></tr>"
        )
    head = [
        "Tier",
        "Experiment",
        "Commit",
        "Device",
        "Synthetic data",
        "Seeds",
        "Samples",
        "Wall (metrics.json)",
        "Versions recorded by the run",
    ]
    files = "".join(f'<li><a href="{escape(quote(f))}">{escape(f)}</a></li>' for f in model.data_files)
    return (
        '<section id="provenance"><h2>Provenance</h2>'
        '<p class="lead">What each run recorded in its <code>metrics.json</code>; every number in the tables '
        "above also carries its own commit, device, seed, sample count and wall time.</p>"
        f"{_table(head, body) if body else '<p class=muted>No run directories found.</p>'}"
        "<h4>Environment when this report was built</h4>"
        f"{_kv(model.build)}<h4>Package versions (report time)</h4>"
        f"{_table(list(model.versions), [_versions_row(model.versions)], 'versions')}"
        f"<h4>Results files</h4><ul>{files or '<li>none</li>'}</ul></section>"
    )


def preregistration_section(model: ReportModel) -> str:
    """Rules changed after a claim's first committed result (both versions and the commit), or that none changed."""
    log = model.preregistration
    head = '<section id="preregistration"><h2>Pre-registration</h2>'
    lead = (
        '<p class="lead">Each claim\'s rule (value, tol, rule, tiers, and the metric and setting it is judged on) '
        "as <code>claims.yaml</code> held it in the commit that first added a measured result of the claim to "
        "<code>results/</code>, compared with today's. "
        "A rule changed after its first result is listed here; nothing is hidden.</p>"
    )
    if log is None:
        return f'{head}{lead}<p class="note">Not checked: the report was built without claims files.</p></section>'
    if not log.available:
        return f'{head}{lead}<p class="note">Not checked: {escape(log.note)}.</p></section>'
    if not log.changes:
        return (
            f'{head}{lead}<p class="prereg-none">No rule changed after its first result '
            f"({log.checked} claims with committed results checked).</p></section>"
        )
    body = [
        f'<tr><td><a href="#{claim_anchor(c.claim_id)}"><code>{escape(c.claim_id)}</code></a></td>'
        f"<td>{_code(c.commit[:12])}</td><td>{escape(rule_text(c.then))}</td><td>{escape(rule_text(c.now))}</td></tr>"
        for c in log.changes
    ]
    table = _table(["Claim", "First-result commit", "Rule then", "Rule now"], body, "prereg")
    return (
        f'{head}{lead}<p class="note warn">{len(log.changes)} of {log.checked} claims with committed results have a '
        f"rule changed after their first result.</p>{table}</section>"
    )


def paper_tables_section(model: ReportModel) -> str:
    """The papers' own tables with ours beside them (repro.report.papertables)."""
    if not model.paper_tables:
        return ""

    def figure(f: papertables.TableFigure) -> str:
        return _figure(ShownFigure(f.src, f.title, f.caption), wide=True)

    tables = "".join(papertables.table_html(t, _table, figure) for t in model.paper_tables)
    return (
        '<section id="papertables"><h2>The papers\' tables</h2>'
        '<p class="lead">Each table as the paper prints it, the paper\'s numbers (from <code>claims.yaml</code>, '
        "shaded) beside ours (from the results CSVs, each with its tier and commit). A cell no run has measured says "
        "which tier would measure it; cited baselines are not re-measured. Our laptop-scale analogues follow each "
        "table: they measure a related quantity on other data and are never the paper's number.</p>"
        f"{tables}</section>"
    )


def render(model: ReportModel, title: str) -> str:
    nav = ['<a href="#glance">At a glance</a>', '<a href="#summary">Summary</a>']
    nav += ['<a href="#papertables">The papers\' tables</a>'] if model.paper_tables else []
    nav += [f'<a href="#{anchor("paper", p)}">{escape(p)}</a>' for p in model.papers]
    nav += ['<a href="#preregistration">Pre-registration</a>', '<a href="#timing">Timing</a>']
    nav.append('<a href="#provenance">Provenance</a>')
    warnings = ""
    if model.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in model.warnings)
        warnings = (
            f'<section id="warnings"><div class="note warn"><b>Problems found</b><ul>{items}</ul></div></section>'
        )
        nav.append('<a href="#warnings">Problems</a>')
    tiers = ", ".join(model.tiers) or "none"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{STYLE}</style>
</head>
<body>
<header class="top"><h1>{escape(title)}</h1>
<p>Tiers: {escape(tiers)} · built {escape(model.build.get("built (UTC)", ""))} UTC at commit
<code>{escape(model.build.get("commit", ""))}</code> · regenerate with <code>python -m repro report</code></p></header>
<nav>{" ".join(nav)}</nav>
<main>
{warnings}
{glance_section(model)}
{summary_section(model)}
{paper_tables_section(model)}
{"".join(paper_section(model, p) for p in model.papers)}
{preregistration_section(model)}
{timing_section(model)}
{provenance_section(model)}
<footer>Generated by <code>repro.report.build_report</code> from <code>results/*.csv</code> and the run directories;
nothing is retrained. Claimed values come only from <code>papers/&lt;paper&gt;/claims.yaml</code>.</footer>
</main>
</body>
</html>
"""
