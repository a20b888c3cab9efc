"""Profiles of the hottest paths with py-spy: ingest under single creates, and delivery of due jobs.

``python -m bench.profile [--seconds S] [--rate R] [--workloads ingest delivery] [--out docs/profiles]``

Starts the whole stack, drives one workload at a time, and samples every service process with
``py-spy record`` (100 Hz, GIL-holding and idle threads left out) while the workload runs. For each
(workload, service) it writes a flame graph (``.svg``) and a text summary (``.txt``: the functions with the
most samples, by own time and by inclusive time), which is what docs/benchmarks.md quotes.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.ingest import single_bodies
from bench.toolkit.expect import expect_load
from bench.toolkit.jobs import Planned, create
from bench.toolkit.load import LoadGenerator
from bench.toolkit.receiver import RecordingReceiver
from bench.toolkit.stack import BenchStack

OUT = Path(__file__).resolve().parent.parent / "docs" / "profiles"
NOISE = ("typer/", "click/", "<frozen runpy>", "threading.py:10", "chronohook/cli.py")


def summarise(raw: Path, top: int = 25) -> str:
    """Own and inclusive sample shares per function from py-spy's raw (collapsed stack) output."""
    total = 0
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            if not any(x in frame for x in NOISE):
                inclusive[frame] += n
    if total == 0:
        return "no samples\n"
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def record(stack: BenchStack, workload: str, seconds: float, out: Path, spy: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for name, child in stack.supervisor.children.items():
        assert child.process is not None
        for fmt, suffix in (("raw", "raw"), ("flamegraph", "svg")):
            procs.append(
                subprocess.Popen(
                    [
                        *(spy, "record", "--pid", str(child.process.pid), "--duration", str(int(seconds))),
                        *("--rate", "100", "--nonblocking", "--format", fmt),
                        *("-o", str(out / f"{workload}-{name}.{suffix}")),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    return procs


def finish(procs: Sequence[subprocess.Popen[bytes]], out: Path, workload: str) -> None:
    for p in procs:
        p.wait(120)
    for raw in sorted(out.glob(f"{workload}-*.raw")):
        raw.with_suffix(".txt").write_text(summarise(raw))
        raw.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rate", type=int, default=1_500, help="due jobs per second in the delivery workload")
    parser.add_argument("--workloads", nargs="+", choices=("ingest", "delivery"), default=["ingest", "delivery"])
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="chronohook-bench-profile-") as tmp,
        RecordingReceiver() as receiver,
        LoadGenerator() as gen,
        BenchStack(Path(tmp)) as stack,
    ):
        stack.warm_up(receiver.url("/warmup"), lambda: receiver.count() >= 1)
        if "ingest" in args.workloads:
            # Ingest: single creates, closed loop, as in bench.ingest.
            load = gen.start(
                f"{stack.base_url}/api/jobs",
                single_bodies(100_000, "p"),
                headers=stack.auth,
                concurrency=32,
                max_seconds=args.seconds + 4,
            )
            time.sleep(2)  # past the generator's start-up, into steady load
            finish(record(stack, "ingest", args.seconds, out, spy), out, "ingest")
            expect_load(load.result(), "POST /api/jobs under the profiler")
        if "delivery" in args.workloads:
            # Delivery: jobs created ahead, falling due at ``rate`` a second for the profile's length; the first due
            # late enough that the stack has folded the creations (else the profile is theirs as much as delivery's).
            n = int(args.rate * (args.seconds + 4))
            start_ms = int(time.time() * 1000) + int(n / 1.5) + 5_000
            plan = [Planned(i, start_ms + int(i * 1000 / args.rate)) for i in range(n)]
            create(gen, stack.base_url, stack.auth, receiver, "p", plan)
            time.sleep(max(0.0, start_ms / 1000 - time.time() + 2))
            finish(record(stack, "delivery", args.seconds, out, spy), out, "delivery")
            receiver.wait_for_count(n, timeout=60)
    print(f"profiles in {out}: " + ", ".join(sorted(p.name for p in out.glob("*.txt"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
