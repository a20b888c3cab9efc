"""Render ``docs/benchmarks.md`` and its plots from the benches' results (``bench/results/*.json``).

``python -m bench.docs [--results DIR] [--out DIR]``

Reads every ``<bench>.json`` that ``bench.toolkit.report.emit`` wrote and writes ``<out>/benchmarks.md``:

* the machine the figures were measured on, and how to reproduce them;
* one table per bench (figure, value, unit, ceiling, ratio, target, met), and every known bench without a
  result listed as not run;
* "Gaps to targets": every figure whose target was not met, value against target;
* the plots, written to ``<out>/img/``: ``lateness.png`` (histograms of lateness, chronohook's ``lateness``
  bench against ``peer_celery``, per rate) and ``faults.png`` (deliveries/s and accepted/s through the fault
  run, each fault marked). A plot whose data is missing is skipped, and a stale image of it removed.

Everything below the line ``<!-- generated above, notes below -->`` in an existing ``benchmarks.md`` is kept
verbatim: profiles and analysis are written there by hand. A file without the line keeps its old text below it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure as Plot

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
OUT = REPO / "docs"
MARKER = "<!-- generated above, notes below -->"

# The benches that should have a result, in the order they are shown, with the command that runs each. Benches
# found in bench/ that call emit() are added after these.
EXPECTED: dict[str, str] = {
    "kafka_raw": "python -m bench.kafka_raw",
    "ingest": "python -m bench.ingest",
    "delivery": "python -m bench.delivery",
    "lateness": "python -m bench.lateness",
    "faults": "python -m bench.faults",
    "peer_celery": "python -m bench.peer_celery",
    "burst": "python -m bench.burst --jobs 100000",
    "burst-blackhole": "python -m bench.burst --scenario blackhole",
    "burst-cron-flood": "python -m bench.burst --scenario cron-flood",
}
# The scenarios of ``bench.burst``, rendered together under "Bursts and neighbours" rather than one section each.
BURSTS: dict[str, str] = {
    "burst": "N jobs due at one instant",
    "burst-1000000": "1,000,000 jobs due at one instant",
    "burst-blackhole": "3,000 jobs due at once to a host that never answers",
    "burst-cron-flood": "3,000 `* * * * * *` crons asked for",
}
# Columns of the summary, each the figure whose name holds the key.
BURST_COLUMNS: dict[str, str] = {
    "B p50 (ms)": "neighbour B lateness p50",
    "B p99 (ms), target <= 250": "neighbour B lateness p99",
    "drain (deliveries/s), target >= 3,000": "drain, instant to last delivery",
    "lost": "jobs lost",
    "restarts": "service restarts",
    "timer peak RSS (MiB)": "timer peak RSS",
}
_EMIT = re.compile(r"\bemit\(\s*\"([A-Za-z0-9_\-]+)\"")


@dataclass
class Result:
    bench: str
    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def figures(self) -> list[dict[str, Any]]:
        figures = self.data.get("figures")
        return [f for f in figures if isinstance(f, dict)] if isinstance(figures, list) else []

    @property
    def machine(self) -> dict[str, Any]:
        machine = self.data.get("machine")
        return machine if isinstance(machine, dict) else {}

    @property
    def command(self) -> str:
        return str(self.data.get("command") or EXPECTED.get(self.bench, ""))


def load_results(results: Path) -> dict[str, Result]:
    found: dict[str, Result] = {}
    for path in sorted(results.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            found[path.stem] = Result(path.stem, path, error=f"unreadable: {exc}")
            continue
        if not isinstance(data, dict):
            found[path.stem] = Result(path.stem, path, error="unreadable: not a JSON object")
            continue
        bench = str(data.get("bench") or path.stem)
        found[bench] = Result(bench, path, data)
    return found


def known_benches(source: Path = REPO / "bench") -> dict[str, str]:
    """EXPECTED, then every other bench whose module calls ``emit("<name>", ...)``."""
    benches = dict(EXPECTED)
    for path in sorted(source.rglob("*.py")):
        try:
            text = path.read_text()
        except OSError:
            continue
        for name in _EMIT.findall(text):
            if name in benches:
                continue
            parts = list(path.relative_to(source.parent).with_suffix("").parts)
            if parts[-1] in ("__main__", "__init__"):
                parts.pop()
            benches[name] = f"python -m {'.'.join(parts)}"
    return benches


# --------------------------------------------------------------------------- markdown


def fmt(value: object) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def met_cell(met: object) -> str:
    if met is None:
        return ""
    return "yes" if met else "**no**"


def bench_table(result: Result) -> list[str]:
    lines = [
        "| figure | value | unit | ceiling | ratio | target | met? |",
        "|---|--:|---|---|--:|---|---|",
    ]
    for f in result.figures:
        ceiling = f.get("ceiling")
        ceiling_text = fmt(ceiling) if ceiling is not None else "-"
        if f.get("ceiling_name"):
            ceiling_text += f" ({f['ceiling_name']})"
        lines.append(
            "| "
            + " | ".join(
                cell(x)
                for x in (
                    f.get("name", "?"),
                    fmt(f.get("value")),
                    f.get("unit", ""),
                    ceiling_text,
                    fmt(f.get("ratio")),
                    f.get("target") or "",
                    met_cell(f.get("met")),
                )
            )
            + " |"
        )
    return lines


def run_line(machine: dict[str, Any], header: dict[str, Any]) -> str:
    parts = [f"run {machine.get('date', '?')}", f"commit `{machine.get('commit') or '?'}`"]
    if any(machine.get(k) != header.get(k) for k in ("cpus", "cpu", "memory_gb", "python")):
        parts.append(
            f"on {machine.get('cpus', '?')} CPUs ({machine.get('cpu') or '?'}), "
            f"{machine.get('memory_gb', '?')} GB, Python {machine.get('python', '?')}"
        )
    return "_" + ", ".join(parts) + "_"


def bench_section(result: Result, level: str, header: dict[str, Any], out_dir: Path) -> list[str]:
    rel = os.path.relpath(result.path, out_dir)
    out = ["", f"{level} {result.bench}", ""]
    if result.error:
        return [*out, f"Not rendered: `{rel}` is {result.error}."]
    out.append(f"`{cell(result.command)}`: {run_line(result.machine, header)}. Details: [{rel}]({rel}).")
    out.append("")
    return out + (bench_table(result) if result.figures else ["No figures."])


def _figure(result: Result, key: str) -> dict[str, Any] | None:
    return next((f for f in result.figures if key in str(f.get("name", ""))), None)


def _summary_cell(figure: dict[str, Any] | None) -> str:
    if figure is None:
        return "-"
    text = fmt(figure.get("value"))
    if figure.get("met") is False:
        text = f"**{text}** (gap)"
    return text


def bursts_section(results: dict[str, Result], header: dict[str, Any], out_dir: Path) -> list[str]:
    """One summary table over the scenarios of ``bench.burst`` (each beside neighbour B, due at 20 jobs/s), then
    each scenario's own table."""
    out = [
        "",
        "## Bursts and neighbours",
        "",
        "Each scenario runs on a fresh stack beside a neighbour tenant B whose jobs fall due at 20/s across it; B's "
        "lateness is arrival minus due (a job not arrived 30 s after it was due counts as infinitely late: `inf`). "
        "Targets on this 2-core machine: drain >= 3,000 deliveries/s (beside the raw client's ceiling in the same "
        "run), B's p99 <= 250 ms in every scenario, nothing lost, no service restart. A target not met is marked "
        "**(gap)**.",
        "",
        "| scenario | " + " | ".join(BURST_COLUMNS) + " |",
        "|---|" + "--:|" * len(BURST_COLUMNS),
    ]
    present = [bench for bench in BURSTS if bench in results and not results[bench].error]
    for bench in present:
        result = results[bench]
        cells = [_summary_cell(_figure(result, key)) for key in BURST_COLUMNS.values()]
        out.append(f"| {cell(BURSTS[bench])} (`{cell(result.command)}`) | " + " | ".join(cells) + " |")
    # The million is run on its own (not by `make bench`): shown when there, never asked for.
    missing = [bench for bench in BURSTS if bench not in present and bench in EXPECTED]
    if missing:
        out += ["", f"Not run: {', '.join(f'`{EXPECTED.get(b, b)}`' for b in missing)}."]
    for bench in BURSTS:
        if bench in results:
            out += bench_section(results[bench], "###", header, out_dir)
    return out


def render(results: dict[str, Result], benches: dict[str, str], plots: dict[str, str], out_dir: Path) -> str:
    readable = [r for r in results.values() if not r.error]
    latest = max(readable, key=lambda r: str(r.machine.get("date", "")), default=None)
    header = latest.machine if latest else {}
    commits = sorted({str(r.machine.get("commit")) for r in readable if r.machine.get("commit")})
    order = [b for b in benches if b in results] + sorted(b for b in results if b not in benches)
    not_run = [b for b in benches if b not in results]

    out: list[str] = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench.docs` from `bench/results/*.json`; do not edit above the marker line, "
        "write notes below it.",
        "",
        "## Machine",
        "",
    ]
    if header:
        out += [
            f"- CPUs: {header.get('cpus', '?')} ({header.get('cpu') or 'unknown model'})",
            f"- Memory: {header.get('memory_gb', '?')} GB",
            f"- Python: {header.get('python', '?')}",
            f"- Date: {header.get('date', '?')} (the latest run; each bench's own date is under its table)",
            f"- Commit: {', '.join(f'`{c}`' for c in commits) or '?'}",
        ]
    else:
        out.append("No results yet.")
    out += [
        "",
        "Every bench shares this machine's cores with the broker and the services it measures (and with "
        "whatever else ran at the time), so figures move between runs; the ceilings are measured in the same "
        "run for that reason.",
        "",
        "## Reproduce",
        "",
        "`make bench` runs every bench; `python -m bench.docs` then rewrites this page and its plots. One bench:",
        "",
        "| bench | command |",
        "|---|---|",
    ]
    for bench in order + not_run:
        command = results[bench].command if bench in results else benches.get(bench, "")
        out.append(f"| {cell(bench)} | {f'`{cell(command)}`' if command else '-'} |")

    for bench in order:
        if bench in BURSTS:
            continue
        out += bench_section(results[bench], "##", header, out_dir)
    if any(bench in results for bench in BURSTS):
        out += bursts_section(results, header, out_dir)
    if not_run:
        out += ["", "## Not run", ""]
        out += [f"- {bench}: `{benches[bench]}`" for bench in not_run]

    out += ["", "## Gaps to targets", ""]
    gaps = [
        (bench, f)
        for bench in order
        for f in results[bench].figures
        if not results[bench].error and f.get("met") is False
    ]
    if gaps:
        for bench, f in gaps:
            ceiling = ""
            if f.get("ratio") is not None:
                ceiling = f"; ratio {fmt(f['ratio'])} to the ceiling ({fmt(f.get('ceiling'))} {f.get('unit', '')})"
            out.append(
                f"- {bench}: {f.get('name', '?')}: {fmt(f.get('value'))} {f.get('unit', '')}, "
                f"target {f.get('target') or '?'}{ceiling}"
            )
    elif readable:
        out.append("None: every figure with a target met it.")
    else:
        out.append("Nothing measured yet.")
    if not_run:
        out += ["", f"Not measured (no result): {', '.join(not_run)}."]

    out += ["", "## Plots", ""]
    if plots:
        for name, caption in plots.items():
            out += [f"![{caption}](img/{name})", "", f"_{caption}_", ""]
        out.pop()
    else:
        out.append("None yet: they need the results of `lateness`/`peer_celery` and `faults`.")
    return "\n".join(out) + "\n"


def with_notes(generated: str, existing: str | None) -> str:
    """The generated page, the marker, then the hand-written notes kept verbatim (or an empty notes section)."""
    if existing is None:
        notes = "\n## Notes\n\n"
    else:
        lines = existing.splitlines(keepends=True)
        index = next((i for i, line in enumerate(lines) if line.strip() == MARKER), None)
        if index is None:
            # No marker: the whole old page is kept as notes rather than lost.
            print(f"no '{MARKER}' line: the old page is kept below it", file=sys.stderr)
            notes = "\n## Notes\n\n" + existing
        else:
            notes = "".join(lines[index + 1 :])
    return generated + "\n" + MARKER + "\n" + notes


# --------------------------------------------------------------------------- plots


def _samples(result: Result | None) -> dict[float, list[float]]:
    if result is None or result.error:
        return {}
    raw = result.data.get("lateness_samples")
    if not isinstance(raw, dict):
        return {}
    out: dict[float, list[float]] = {}
    for rate, values in raw.items():
        try:
            key = float(rate)
        except ValueError:
            continue
        if isinstance(values, list):
            clean = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
            if clean:
                out[key] = clean
    return out


def _edges(values: Sequence[float], count: int = 60) -> tuple[np.ndarray[Any, np.dtype[np.float64]], str]:
    """Histogram bin edges and the x scale: log-spaced when the values span more than two decades."""
    lo, hi = min(values), max(values)
    if hi <= lo:
        return np.linspace(lo - 0.5, hi + 0.5, 3), "linear"
    positive = [v for v in values if v > 0]
    wide = bool(positive) and hi / max(min(positive), 1e-3) > 100
    if not wide:
        return np.linspace(lo, hi, count + 1), "linear"
    if lo > 0:
        return np.geomspace(lo, hi, count + 1), "log"
    # Early (<= 0 ms) deliveries as well as a long tail: log-spaced on both sides of a linear band of +-1 ms.
    pos = np.geomspace(1.0, max(hi, 1.0 + 1e-9), count // 2 + 1)
    neg = -np.geomspace(1.0, max(-lo, 1.0 + 1e-9), count // 4 + 1)[::-1] if lo < -1 else np.array([-1.0])
    return np.concatenate([neg, np.linspace(-1.0, 1.0, 21)[1:-1], pos]), "symlog"


def _pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def plot_lateness(results: dict[str, Result], path: Path) -> str | None:
    series = {
        "chronohook": _samples(results.get("lateness")),
        "Celery (eta, Redis)": _samples(results.get("peer_celery")),
    }
    rates = sorted({rate for s in series.values() for rate in s})
    if not rates:
        return None
    plot = Plot(figsize=(8, 2.6 * len(rates) + 0.6), layout="constrained")
    axes = plot.subplots(len(rates), 1, squeeze=False)[:, 0]
    colors = {"chronohook": "tab:blue", "Celery (eta, Redis)": "tab:orange"}
    for ax, rate in zip(axes, rates, strict=True):
        present = {label: s[rate] for label, s in series.items() if rate in s}
        edges, scale = _edges([v for values in present.values() for v in values])
        for label, values in present.items():
            ax.hist(
                values,
                bins=edges,
                histtype="stepfilled",
                alpha=0.45,
                color=colors[label],
                label=f"{label}: n={len(values):,}, p50 {fmt(_pct(values, 0.5))} ms, p99 {fmt(_pct(values, 0.99))} ms",
            )
            ax.axvline(_pct(values, 0.99), color=colors[label], linestyle="--", linewidth=1)
        missing = [label for label, s in series.items() if s and label not in present]
        if scale == "symlog":
            ax.set_xscale("symlog", linthresh=1.0)
        elif scale == "log":
            ax.set_xscale("log")
        ax.set_title(f"{rate:,g} jobs due/s" + (f" (no {', '.join(missing)} run at this rate)" if missing else ""))
        ax.set_xlabel("lateness (ms, delivery minus due time; dashed: p99)")
        ax.set_ylabel("jobs")
        ax.legend(fontsize="small")
    absent = [label for label, s in series.items() if not s]
    plot.suptitle("Lateness: chronohook vs Celery" + (f" (no {', '.join(absent)} result)" if absent else ""))
    plot.savefig(path, dpi=110)
    labels = [label for label, s in series.items() if s]
    return f"Lateness histograms per rate ({' and '.join(labels)})"


def _as_counts(value: object) -> list[float]:
    if not isinstance(value, list):
        return []
    return [float(v) if isinstance(v, int | float) else 0.0 for v in value]


def _label_faults(ax: Axes, faults: object) -> None:
    """A dotted line at each fault, labelled in the headroom above the curves (staggered so labels do not collide)."""
    if not isinstance(faults, list):
        return
    marked = [f for f in faults if isinstance(f, dict) and isinstance(f.get("at_s"), int | float)]
    for i, fault in enumerate(sorted(marked, key=lambda f: float(f["at_s"]))):
        at = float(fault["at_s"])
        ax.axvline(at, color="tab:red", linestyle=":", linewidth=1.2)
        ax.text(
            at,
            0.97 - 0.065 * (i % 4),
            f" {fault.get('what', '')}",
            transform=ax.get_xaxis_transform(),
            va="top",
            ha="left",
            fontsize="small",
            color="tab:red",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )


def plot_faults(result: Result | None, path: Path) -> str | None:
    if result is None or result.error or not isinstance(result.data.get("timeline"), dict):
        return None
    timeline: dict[str, Any] = result.data["timeline"]
    bin_ms = timeline.get("bin_ms")
    if not isinstance(bin_ms, int | float) or bin_ms <= 0:
        return None
    per_s = 1000.0 / bin_ms
    lines = {
        "deliveries/s": _as_counts(timeline.get("arrivals")),
        "accepted/s": _as_counts(timeline.get("accepted")),
    }
    if not any(lines.values()):
        return None
    plot = Plot(figsize=(10, 4.5), layout="constrained")
    ax = plot.subplots()
    for label, counts in lines.items():
        if counts:
            x = [(i + 0.5) * bin_ms / 1000 for i in range(len(counts))]
            ax.plot(x, [c * per_s for c in counts], label=label, linewidth=1.2)
    peak = max((c * per_s for counts in lines.values() for c in counts), default=0.0)
    ax.set_ylim(0, max(peak, 1.0) * 1.35)  # headroom for the fault labels
    _label_faults(ax, timeline.get("faults"))
    ax.set_xlabel(f"seconds since the start of the run ({bin_ms:g} ms bins)")
    ax.set_ylabel("per second")
    ax.set_title("Throughput through the fault run")
    ax.legend(loc="lower right", framealpha=0.9)
    plot.savefig(path, dpi=110)
    return "Deliveries/s and accepted/s through the fault run; dotted lines: the faults"


def make_plots(results: dict[str, Result], img: Path) -> dict[str, str]:
    img.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    for name in ("lateness.png", "faults.png"):
        path = img / name
        caption = plot_lateness(results, path) if name == "lateness.png" else plot_faults(results.get("faults"), path)
        if caption:
            made[name] = caption
            print(f"wrote {path}")
        elif path.exists():
            path.unlink()  # no data for it any more: no stale image
    return made


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the <bench>.json files are")
    parser.add_argument("--out", type=Path, default=OUT, help="where benchmarks.md and img/ go")
    args = parser.parse_args(argv)
    results_dir: Path = args.results.resolve()
    out_dir: Path = args.out.resolve()
    results = load_results(results_dir) if results_dir.is_dir() else {}
    if not results:
        print(f"no results in {results_dir}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = make_plots(results, out_dir / "img")
    page = out_dir / "benchmarks.md"
    existing = page.read_text() if page.exists() else None
    page.write_text(with_notes(render(results, known_benches(), plots, out_dir), existing))
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
