"""``python -m bench.faults [--short] [--rate R] [--seed S] [--api-workers N] [--kill-gap S] [--keep]``."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.faults.harness import BROKER, RECOVERY_BOUND_S, SERVICES, FaultReport, run_faults
from bench.toolkit.report import Figure, emit


def figures(report: FaultReport) -> list[Figure]:
    out = [
        Figure(
            "faults: lost jobs (201, never delivered)",
            report.lost,
            "jobs",
            target="= 0",
            met=report.lost == 0,
            detail={"accepted": report.accepted, "delivered": report.delivered, "lost_seqs": report.lost_seqs[:50]},
        ),
        Figure(
            "faults: duplicate deliveries (at-least-once)",
            report.duplicates,
            "deliveries",
            detail={
                "created_twice": report.created_twice,
                "due_twice": report.due_twice,
                "unconfirmed": report.unconfirmed,
            },
        ),
        Figure(
            "faults: duplicate deliveries per 10,000 delivered jobs",
            round(report.duplicates_per_10k, 1),
            "per 10k",
            detail={"duplicates": report.duplicates, "delivered": report.delivered},
        ),
    ]
    for target in (*SERVICES, BROKER):
        if target not in report.recoveries:
            continue
        value = report.recoveries[target]
        kills = [f for f in report.faults if f.target == target]
        bound = RECOVERY_BOUND_S[target]
        out.append(
            Figure(
                f"faults: recovery after {kills[0].what.split(' ')[0] if target != BROKER else 'restart'} "
                f"{target} (max of {len(kills)})",
                float("inf") if value is None else value,
                "s",
                target=f"<= {bound:g} s",
                met=value is not None and value <= bound,
                detail={"each_s": [f.recovery_s for f in kills], "back_s": [f.back_s for f in kills]},
            )
        )
    out.append(
        Figure(
            "faults: max lateness (first delivery vs planned due)",
            report.max_lateness_s,
            "s",
            detail={"vs_scheduled_at_s": report.max_lateness_scheduled_s},
        )
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--short", action="store_true", help="CI form: one kill of each service, one broker restart")
    parser.add_argument("--rate", type=float, default=None, help="jobs per second (default 10 short, 25 long)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--kill-gap", type=float, default=None, help="seconds from a kill to the next fault (12)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (kept anyway when a job is lost)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="chronohook-faults-"))
    print(f"work dir {workdir}", flush=True)
    ok = False
    try:
        report = run_faults(
            workdir,
            short=args.short,
            rate=args.rate,
            seed=args.seed,
            api_workers=args.api_workers,
            kill_gap_s=args.kill_gap,
            progress=lambda msg: print(msg, flush=True),
        )
        command = "python -m bench.faults " + " ".join(argv if argv is not None else sys.argv[1:])
        emit(
            "faults",
            command.strip(),
            figures(report),
            extra={
                "timeline": report.timeline,
                "faults": [asdict(f) for f in report.faults],
                "load": report.load,
                "lost_history": {str(k): v for k, v in report.lost_history.items()},
                "seconds": round(report.seconds, 1),
            },
            quick=args.short,
        )
        for f in report.faults:
            print(
                f"  {f.what:22} back {f.back_s or float('nan'):5.1f} s  recovery {f.recovery_s or float('nan'):5.1f} s"
                f"  late {f.late:5d}  max lateness {f.max_lateness_s:5.1f} s"
            )
        if report.lost:
            print(f"LOST {report.lost} jobs: {report.lost_seqs[:20]}; their events: {report.lost_history}")
            print(f"logs kept in {workdir / 'logs'}")
        ok = report.lost == 0
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
