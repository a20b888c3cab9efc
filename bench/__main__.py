"""``python -m bench`` (what ``make bench`` runs): every figure, one bench after another, then docs/benchmarks.md.

Each bench runs in its own process, prints its figures with the ceiling measured in the same run and their
ratio, and saves them under bench/results/; a bench that fails does not stop the others, but the exit status
says so. ``--quick`` passes ``--quick``/``--short`` to each for a smoke run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

BENCHES: list[tuple[str, list[str], list[str]]] = [
    # (module, arguments, quick arguments)
    ("bench.kafka_raw", [], ["--quick"]),
    ("bench.ingest", [], ["--quick"]),
    ("bench.delivery", [], ["--quick"]),
    ("bench.lateness", [], ["--quick"]),
    ("bench.peer_celery", [], ["--quick"]),
    ("bench.faults", [], ["--short"]),
    ("bench.fairness", [], ["--quick"]),
    ("bench.queue_slots", [], ["--quick"]),
    ("bench.replay", [], ["--quick"]),
    # Bursts and neighbours (issue 14): 100,000 jobs at one instant keeps `make bench` within minutes; the full
    # million is `python -m bench.burst` on its own.
    ("bench.burst", ["--jobs", "100000"], ["--quick"]),
    ("bench.burst", ["--scenario", "blackhole"], ["--scenario", "blackhole", "--quick"]),
    ("bench.burst", ["--scenario", "cron-flood"], ["--scenario", "cron-flood", "--quick"]),
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", help="module names, e.g. bench.ingest")
    args = parser.parse_args(argv)
    failed: list[str] = []
    for module, full, quick in BENCHES:
        if args.only and module not in args.only:
            continue
        started = time.monotonic()
        arguments = quick if args.quick else full
        name = " ".join([module, *arguments])
        print(f"\n### {name}", flush=True)
        rc = subprocess.call([sys.executable, "-m", module, *arguments])
        print(f"### {name}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    subprocess.call([sys.executable, "-m", "bench.docs"])
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
