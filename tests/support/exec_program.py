"""A backend in another language, as the process protocol sees it (``adapters.exec_backend``):
a program that answers JSON lines on its standard input and computes each run with the
float64 oracle, reading and writing nothing but JSON and ``.npy`` files.

``--mode`` makes it misbehave on every run, as a broken program would: ``crash`` (exits
with status 3), ``hang`` (never answers), ``garbage`` (answers a line that is not JSON),
``wrong-shape`` (writes outputs one step short), ``nothing`` (answers ok, writes nothing),
``error`` (reports an error), ``hang-with-helper`` (starts a process of its own, as a
program driving a browser or a server does, and never answers). ``--timeout-s`` declares how long a request may take. ``--stored-as`` stores values in a narrower dtype than the run's,
as a kernel with a precision bug would. ``--declared-layout`` makes it read its weights in a
layout of its own, declared as data (:data:`DECLARED_LAYOUT`), and map them back by hand.
``--threaded-runs`` declares ``threaded_runs``; ``--threaded-drift`` then moves the outputs
of a run asked on more than one thread by one part in 10**4 (a kernel whose thread split
loses precision). A run request carrying ``threads`` it did not declare is answered with
an error: it was sent what it never declared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from reference import LSTMSpec
from reference.params import cell_param_shapes

from .vector_program import compute_case

MODES = ("ok", "crash", "hang", "hang-with-helper", "garbage", "wrong-shape", "nothing", "error")
DESCRIPTION = {
    "name": "oracle-program",
    "parameter_layout": "canonical",
    "gradients": True,
    "supports": {
        "features": ["layers", "projection", "no_bias", "lengths", "zero_length", "initial_states", "batch_first", "peepholes"],
        "directions": ["forward", "bidirectional", "reverse"],
        "dtypes": ["float32", "float64"],
    },
}


# Keras's arrays with the input and forget gate blocks swapped (f, i, g, o), under its own name.
DECLARED_LAYOUT = {
    "name": "gates-fiog",
    "counted_as": "keras",
    "cells": "layer_direction",
    "gate_order": ["f", "i", "g", "o"],
    "arrays": [
        {"name": "{cell}.kernel", "parts": [["w_ih"]], "transposed": True},
        {"name": "{cell}.recurrent", "parts": [["w_hh"]], "transposed": True},
        {"name": "{cell}.bias", "parts": [["b_ih", "b_hh"]]},
    ],
}


def answer(reply: dict) -> None:
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()


def count(spec: LSTMSpec) -> int:
    """The parameters the program holds: every array of every cell."""
    cells = [cell_param_shapes(spec, layer) for layer in range(spec.num_layers) for _ in range(spec.num_directions)]
    return sum(int(np.prod(shape)) for shapes in cells for shape in shapes.values())


def canonical_from_declared(folder: Path, manifest: dict) -> None:
    """Write the :data:`DECLARED_LAYOUT` weights of the run as canonical ``cell<k>.<name>``
    files and name them in ``manifest`` (written out here, not with the suite's mapping)."""
    spec, weights = LSTMSpec(**manifest["spec"]), manifest["weights"][DECLARED_LAYOUT["name"]]

    def canonical_gates(array: np.ndarray) -> np.ndarray:
        blocks = np.split(array, 4)
        return np.concatenate([blocks[1], blocks[0], blocks[2], blocks[3]])

    canonical = {}
    for layer in range(spec.num_layers):
        for direction in range(spec.num_directions):
            prefix = f"layer{layer}." + ("backward" if direction or spec.reverse else "forward")
            cell = f"cell{layer * spec.num_directions + direction}"
            arrays = {"w_ih": np.load(folder / weights[f"{prefix}.kernel"]).T, "w_hh": np.load(folder / weights[f"{prefix}.recurrent"]).T}
            if spec.bias:
                arrays["b_ih"] = np.load(folder / weights[f"{prefix}.bias"])
                arrays["b_hh"] = np.zeros_like(arrays["b_ih"])
            for name, array in arrays.items():
                np.save(folder / f"{cell}.{name}.npy", canonical_gates(array), allow_pickle=False)
                canonical[f"{cell}.{name}"] = f"{cell}.{name}.npy"
    manifest["weights"]["canonical"] = canonical


def run(folder: Path, mode: str, stored_as: str | None, threaded_drift: float = 0.0) -> dict:
    manifest = json.loads((folder / "case.json").read_text())
    if DECLARED_LAYOUT["name"] in manifest["weights"]:
        canonical_from_declared(folder, manifest)
    if mode == "crash":
        os._exit(3)
    if mode == "hang-with-helper":
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    if mode.startswith("hang"):
        time.sleep(3600)
    if mode == "error":
        return {"ok": False, "error": "the LSTM kernel failed"}
    # Stored in the run's dtype at every step, as a kernel computing in it does.
    arrays = compute_case(folder, manifest, stored_as or manifest["dtype"])
    if mode == "wrong-shape":
        arrays["outputs"] = arrays["outputs"][:-1]
    arrays["outputs"] = arrays["outputs"] * (1.0 + threaded_drift)
    if mode != "nothing":
        for name in manifest["returns"]:
            np.save(folder / f"{name}.npy", arrays[name], allow_pickle=False)
    return {"ok": True}


def main(arguments: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--stored-as", default=None)
    parser.add_argument("--timeout-s", type=float, default=None)
    parser.add_argument("--declared-layout", action="store_true")
    parser.add_argument("--threaded-runs", action="store_true")
    parser.add_argument("--threaded-drift", action="store_true")
    options = parser.parse_args(arguments)
    declared = {} if options.timeout_s is None else {"timeout_s": options.timeout_s}
    if options.declared_layout:
        declared["layout"] = DECLARED_LAYOUT
    if options.threaded_runs:
        declared["threaded_runs"] = True
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "describe":
            answer({"ok": True, "version": "1.0", **DESCRIPTION, **declared})
        elif request["op"] == "count":
            answer({"ok": True, "count": count(LSTMSpec(**request["spec"]))})
        elif options.mode == "garbage":
            sys.stdout.write("Segmentation fault (not JSON)\n")
            sys.stdout.flush()
        elif "threads" in request and not options.threaded_runs:
            answer({"ok": False, "error": f"sent threads={request['threads']!r}, which this program never declared"})
        else:
            drift = 1e-4 if options.threaded_drift and request.get("threads", 1) > 1 else 0.0
            answer(run(Path(request["dir"]), options.mode, options.stored_as, drift))


if __name__ == "__main__":
    main(sys.argv[1:])
