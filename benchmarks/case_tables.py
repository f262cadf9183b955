"""What a pytest-xdist worker saves by reading the case tables another worker made, in one process.

Makes every selected backend's forward and gradient tables once, writing them where
workers share them (:mod:`conformance.run.table_sharing`), then reads them as a second
worker would, each with its own pool of isolated backend processes started beforehand.
Prints the seconds of each and the ratio: making waits for each backend's framework
to import and answers the support questions; reading asks a backend nothing.
Run: ``python benchmarks/case_tables.py [--depth quick|full] [--interpreter NAME=PYTHON ...] [BACKEND ...]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from conformance.cases.depth import DEPTHS
from conformance.run.backends import BackendPool, default_references
from conformance.run.isolation import parse_interpreters
from conformance.run.table_sharing import TableSharing


def timed_tables(pool: BackendPool) -> tuple[float, int, int]:
    """Wall seconds for the pool's forward and gradient tables (made or read on first
    use), and how many cases each holds in all."""
    start = time.perf_counter()
    forward, gradients = pool.case_tables, pool.gradient_case_tables
    return time.perf_counter() - start, sum(map(len, forward.values())), sum(map(len, gradients.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*")
    parser.add_argument("--depth", choices=sorted(DEPTHS), default="quick")
    parser.add_argument("--interpreter", action="append", default=[], metavar="NAME=PYTHON")
    args = parser.parse_args()
    references = args.backends or default_references()
    interpreters = parse_interpreters(args.interpreter, references)
    with tempfile.TemporaryDirectory() as folder:
        seconds = {}
        for role, worker in (("make", 0), ("read", 1)):
            pool = BackendPool(references, interpreters=interpreters, depth=DEPTHS[args.depth], sharing=TableSharing(Path(folder), worker, 2))
            try:
                seconds[role], forward, gradients = timed_tables(pool)
                print(f"{role}: {seconds[role]:.2f} s, {forward} forward and {gradients} gradient cases")
            finally:
                pool.close()
    print(f"{len(references)} backends at --depth {args.depth}: reading takes {seconds['read'] / seconds['make']:.3f} of making")


if __name__ == "__main__":
    main()
