#!/usr/bin/env python3
"""Writes docs/PERFORMANCE.md and one SVG chart per benchmark (docs/perf/)
from the raw side-by-side results in bench/results/results.json. No
third-party packages: the charts are plain SVG.

    python3 scripts/perf-report.py

Each chart shows, per metric, how many times better Caravel is than the
reference (throughput: Caravel / reference; time and memory: reference /
Caravel), on a log scale with a line at 1x; bars left of it are worse."""

import json
import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "results.json")
DOCS = os.path.join(ROOT, "docs")


def advantage(ref, ours, better):
    return ours / ref if better == "higher" else ref / ours


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chart(run):
    rows = run["metrics"]
    label_w, plot_w, bar_h, gap, top = 330, 420, 18, 8, 40
    height = top + len(rows) * (bar_h + gap) + 40
    width = label_w + plot_w + 90
    lo, hi = 0.1, 100.0  # the log axis: 0.1x to 100x

    def x(v):
        v = min(max(v, lo), hi)
        return label_w + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{esc(run["title"])}</text>',
        f'<text x="10" y="34" fill="#555">times better than {esc(run["reference"])} (log scale)</text>',
    ]
    for tick in [0.1, 0.3, 1, 3, 10, 30, 100]:
        tx = x(tick)
        color = "#000" if tick == 1 else "#ddd"
        out.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height - 30}" stroke="{color}"/>')
        out.append(f'<text x="{tx:.1f}" y="{height - 14}" text-anchor="middle">{tick:g}x</text>')
    for i, (name, ref, ours, better) in enumerate(rows):
        y = top + i * (bar_h + gap)
        a = advantage(ref, ours, better)
        x0, x1 = sorted([x(1), x(a)])
        color = "#2b7a3d" if a >= 1 else "#b23a3a"
        out.append(f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{esc(name)}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<text x="{max(x(a), x(1)) + 4:.1f}" y="{y + 13}">{a:.2f}x</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def fmt(v):
    return f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}"


def main():
    with open(RESULTS) as f:
        data = json.load(f)
    os.makedirs(os.path.join(DOCS, "perf"), exist_ok=True)
    md = [
        "# Performance",
        "",
        "Caravel side by side with the Debian packages a mail administrator would",
        "otherwise run (Postfix + Dovecot), on the same 2-core, 24 GiB machine, with",
        "the shared harness (`../shared/bench`). Each table is one run; the machine is",
        "a noisy VM, and repeated runs have varied by about ±20 %.",
        "",
        "This page and its charts are generated from the raw results in",
        "`bench/results/results.json` by `python3 scripts/perf-report.py`; a new",
        "measurement is a new entry there. In the charts, bars right of 1x are where",
        "Caravel is better (faster, or less memory), left of it where it is worse.",
        "",
    ]
    for run in data["runs"]:
        svg = os.path.join("perf", f'{run["id"]}.svg')
        with open(os.path.join(DOCS, svg), "w") as f:
            f.write(chart(run))
        md += [
            f'## {run["title"]}',
            "",
            f'Measured {run["date"]}, at {run["commit"]}. Reproduce: `{run["command"]}`.',
            "",
            f'![{run["title"]}]({svg})',
            "",
            f'| metric | {run["reference"]} | Caravel | Caravel is |',
            "|---|---|---|---|",
        ]
        for name, ref, ours, better in run["metrics"]:
            a = advantage(ref, ours, better)
            verdict = f"{a:.2f}x better" if a >= 1 else f"{1 / a:.2f}x worse"
            md.append(f"| {name} | {fmt(ref)} | {fmt(ours)} | {verdict} |")
        md.append("")
    md += [
        "## Not measured side by side yet",
        "",
        "- The cost of the filter pipeline per message beyond SPF/DKIM/DMARC (spam,",
        "  antivirus and rules arrive with their issues and add their rows here).",
        "- IMAP with many signed-in clients at once (the stress run of the IMAP-at-scale issue).",
        "",
    ]
    with open(os.path.join(DOCS, "PERFORMANCE.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
