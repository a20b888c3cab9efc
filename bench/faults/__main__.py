"""``python -m bench.faults [--short] [--rate R] [--burst N] [--seed S] [--api-workers N] [--kill-gap S] [--keep]``;
``python -m bench.faults --scale-out [--stall] [--jobs N] [--keep]`` (``bench/faults/scale_out.py``)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench.faults.harness import BROKER, RECOVERY_BOUND_S, SERVICES, FaultReport, OnceReport, run_faults
from bench.faults.scale_out import JOBS as SCALE_OUT_JOBS
from bench.faults.scale_out import ScaleOutReport, run_scale_out
from bench.toolkit.expect import guarded
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
    if report.once is not None:
        out.extend(once_figures(report.once))
    out.append(
        Figure(
            "faults: max lateness (first delivery vs planned due)",
            report.max_lateness_s,
            "s",
            detail={"vs_scheduled_at_s": report.max_lateness_scheduled_s},
        )
    )
    return out


def once_figures(once: OnceReport) -> list[Figure]:
    due, hook = once.due, once.webhook
    repeated_per_10k = 10_000 * hook.repeated_deliveries / hook.occurrences if hook.occurrences else 0.0
    return [
        Figure(
            "faults: burst jobs lost (created in batches, due in the kills)",
            len(once.burst_lost),
            "jobs",
            target="= 0",
            met=not once.burst_lost,
            detail={"burst": once.burst, "lost_seqs": once.burst_lost[:50]},
        ),
        Figure(
            "faults: committed JobDue per occurrence (max)",
            max([1, *due.repeated.values()]) if due.occurrences else 0,
            "records",
            target="= 1",
            met=due.once,
            detail={
                "jobs": due.jobs,
                "occurrences": due.occurrences,
                "committed": due.committed,
                "repeated": dict(list(due.repeated.items())[:20]),
                "jobs_without_due": due.jobs_without_due,
                "jobs_with_more_runs": due.jobs_with_more_runs,
                "error": due.error,
            },
        ),
        Figure(
            "faults: JobDue copies in aborted transactions (read_uncommitted)",
            due.aborted_copies,
            "records",
            detail={"read_uncommitted": due.uncommitted, "read_committed": due.committed},
        ),
        Figure(
            "faults: repeated HTTP deliveries of one occurrence per 10,000",
            round(repeated_per_10k, 1),
            "per 10k",
            target="same webhook-id",
            met=hook.consistent,
            detail={
                "repeated": hook.repeated_deliveries,
                "occurrences": hook.occurrences,
                "deliveries": hook.deliveries,
                "foreign": hook.foreign[:20],
                "jobs_with_two_ids": hook.jobs_with_two_ids[:20],
            },
        ),
    ]


def scale_out_figures(report: ScaleOutReport) -> list[Figure]:
    out = [
        Figure(
            "scale-out: lost jobs (two timers, join, kill -9, rejoin)",
            len(report.lost_seqs),
            "jobs",
            target="= 0",
            met=not report.lost_seqs,
            detail={"jobs": report.jobs, "delivered": report.delivered, "lost_seqs": report.lost_seqs[:50]},
        ),
        *once_figures(report.once)[1:],
        Figure(
            "scale-out: committed JobDue for jobs deleted before the join",
            report.deleted_fired,
            "records",
            target="= 0",
            met=report.deleted_fired == 0,
            detail={"deleted": report.deleted, "delivered": report.deleted_delivered},
        ),
        Figure(
            "scale-out: max lateness (first delivery vs due)",
            round(report.max_lateness_s, 2),
            "s",
            detail={"late_1s_or_more": report.late_jobs, "duplicates": report.duplicates},
        ),
    ]
    for move in report.moves:
        out.append(
            Figure(
                f"scale-out: {move.what}, until the assignment shows it",
                float("inf") if move.settled_s is None else round(move.settled_s, 2),
                "s",
                detail={"assignment": move.assignment},
            )
        )
    return [
        Figure(f.name.replace("faults: ", "scale-out: "), f.value, f.unit, target=f.target, met=f.met, detail=f.detail)
        for f in out
    ]


def scale_out_main(keep: bool, stall: bool, jobs: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="chronohook-scale-out-"))
    print(f"work dir {workdir}", flush=True)
    report = run_scale_out(workdir, jobs=jobs, stall=stall, progress=lambda msg: print(msg, flush=True))
    figures = scale_out_figures(report)
    command = f"python -m bench.faults --scale-out --jobs {jobs}" + (" --stall" if stall else "")
    bench = "scale_out_stall" if stall else "scale_out"
    emit(bench, command, figures, extra={"seconds": round(report.seconds, 1)})
    ok = not report.lost_seqs and report.once.due.once and report.once.webhook.consistent and not report.deleted_fired
    if ok and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir / 'logs'}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return guarded(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--short", action="store_true", help="CI form: a burst, kills (timer twice), a broker restart")
    parser.add_argument("--rate", type=float, default=None, help="jobs per second (default 10 short, 25 long)")
    parser.add_argument(
        "--burst", type=int, default=None, help="jobs created in batches, due over the first kills (3000 short, 0)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--kill-gap", type=float, default=None, help="seconds from a kill to the next fault (12)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (kept anyway when a job is lost)")
    parser.add_argument("--scale-out", action="store_true", help="two timers: one joins, is killed, rejoins")
    parser.add_argument("--stall", action="store_true", help="with --scale-out: SIGSTOP/SIGCONT instead of kill")
    parser.add_argument("--jobs", type=int, default=SCALE_OUT_JOBS, help="with --scale-out: jobs due (1500)")
    args = parser.parse_args(argv)
    if args.scale_out:
        return scale_out_main(args.keep, args.stall, args.jobs)
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
            burst=args.burst,
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
        ok = report.lost == 0 and (report.once is None or (report.once.due.once and not report.once.burst_lost))
    finally:
        if ok and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
