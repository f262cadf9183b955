"""The driver every standalone reproducer carries (its source is copied into the script).

It needs only the standard library and NumPy. The script defines ``CASE`` (the runs and
the comparisons, as JSON-ready data) and the backend's ``forward(case, weights, inputs)``
and ``gradients(case, weights, inputs)`` (see :mod:`adapters.standalone`), then calls
:func:`main`. The backend runs in a child process of the same interpreter (the script
itself, with ``--child``), so a crash or an abort is reported as the run failing, and the
parent judges what the child wrote.

``CASE``: ``data`` (the ``.npz`` beside the script), ``runs`` (each ``{"kind": "forward"
or "gradients", "inputs": prefix, "h0_shape", "c0_shape"}``: the run's input arrays are
``prefix + name`` in the data, and the backend sees ``CASE`` with the run's keys over it), ``comparisons`` (each ``{"label", "quantities", "actual", "expected",
"tolerance"}``: the quantities of the suite it holds, ``actual`` and ``expected`` each a
run's result ``{"run", "name", "mask", "batch"}`` or ``{"stored": key}``), ``shows`` (the
quantities the deviation names; ``run`` when it is a failed run) and ``deviation`` (''
for a case without one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# The longest a run may take before it counts as hanging (seconds).
RUN_TIMEOUT = 600


def run_inputs(data, prefix: str) -> dict:
    """The arrays of one run: every data key under ``prefix``, without it."""
    return {key[len(prefix) :]: data[key] for key in data.files if key.startswith(prefix)}


def child(case: dict, data, forward, gradients, out: Path) -> None:
    """Run every run of the case (the backend given the case with the run's keys over it) and
    save each result array as ``run<i>.<name>``."""
    weights = run_inputs(data, "weights.")
    results = {}
    for index, run in enumerate(case["runs"]):
        compute = gradients if run["kind"] == "gradients" else forward
        for name, value in compute({**case, **run}, weights, run_inputs(data, run["inputs"])).items():
            results[f"run{index}.{name}"] = np.asarray(value, dtype=np.float64)
    np.savez(out, **results)


def run_in_child(script: str) -> tuple[dict, str]:
    """The child's results, and '' or why the run failed (its exit, its error's last lines)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "results.npz"
        flags = ["-I"] if sys.flags.isolated else []
        try:
            finished = subprocess.run(
                [sys.executable, *flags, script, "--child", str(out)], capture_output=True, text=True, timeout=RUN_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            return {}, f"the run did not finish within {RUN_TIMEOUT} s"
        if finished.returncode != 0 or not out.exists():
            code = finished.returncode
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            tail = "\n".join(finished.stderr.strip().splitlines()[-12:])
            return {}, f"the run failed ({how}):\n{tail}"
        with np.load(out) as results:
            return {key: results[key] for key in results.files}, ""


def values_of(where: dict, results: dict, data):
    """The compared values ``where`` names: stored in the data, or a run's result, masked
    (``mask``: a boolean data array over the first two axes) or cut to one batch row
    (``batch``: [axis, row])."""
    if "stored" in where:
        return data[where["stored"]]
    values = results[f"run{where['run']}.{where['name']}"]
    if where.get("mask"):
        values = values[data[where["mask"]]]
    if where.get("batch"):
        axis, row = where["batch"]
        values = np.take(values, [row], axis=axis)
    return values


def max_error(actual, expected) -> tuple[float, str]:
    """max |actual - expected|, and a note: a shape mismatch, or non-finite values where the
    expected value is finite (NaN against NaN and the same infinity are equal)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return float("inf"), f"shape {actual.shape}, expected {expected.shape}"
    if actual.size == 0:
        return 0.0, ""
    same = (np.isnan(actual) & np.isnan(expected)) | (np.isinf(actual) & (actual == expected))
    difference = np.abs(np.where(same, 0.0, actual) - np.where(same, 0.0, expected))
    bad = int(np.count_nonzero(~np.isfinite(difference)))
    return (float("inf"), f"{bad} non-finite values") if bad else (float(difference.max()), "")


def judge(case: dict, data, results: dict, failure: str) -> int:
    """Print every comparison; 1 when the deviation shows (any compared quantity it names is
    beyond its tolerance, or the run failed where it names ``run``), else 0. A case without
    a deviation shows when anything is beyond its tolerance or the run failed."""
    shows = set(case["shows"])
    named = (lambda quantities: bool(shows & set(quantities))) if case["deviation"] else (lambda quantities: True)
    if failure:
        print(failure)
        return 1 if named(["run"]) else 0
    shown = False
    width = max([len("quantity"), *(len(comparison["label"]) for comparison in case["comparisons"])])
    print(f"{'quantity':<{width}} {'max abs error':>14} {'tolerance':>12}  verdict")
    for comparison in case["comparisons"]:
        error, note = max_error(values_of(comparison["actual"], results, data), values_of(comparison["expected"], results, data))
        beyond = not error <= comparison["tolerance"]
        mark = ("DIFFERS" if beyond else "ok") + (" (the deviation's)" if beyond and named(comparison["quantities"]) else "")
        print(f"{comparison['label']:<{width}} {error:>14.3e} {comparison['tolerance']:>12.3e}  {mark}{'  ' + note if note else ''}")
        shown |= beyond and named(comparison["quantities"])
    return 1 if shown else 0


def main(case: dict, forward, gradients) -> None:
    """Run the case (``--child OUT``: in this process, saving results to OUT) and exit 1 when
    the deviation shows, 0 when it does not."""
    script = os.path.abspath(sys.argv[0])
    data = np.load(Path(script).with_name(case["data"]))
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(case, data, forward, gradients, Path(sys.argv[2]))
        return
    results, failure = run_in_child(script)
    shown = judge(case, data, results, failure)
    subject = f"deviation {case['deviation']}" if case["deviation"] else "a difference from the expected values"
    print(f"{subject}: {'SHOWS' if shown else 'does not show'}")
    sys.exit(shown)
