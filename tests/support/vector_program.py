"""A stand-in for an LSTM written in another language: it reads test vectors with nothing but
JSON and ``.npy`` files (as a C or JavaScript program would), computes each case with the
float64 oracle, and writes its results for ``lstm-parity check-vectors``. ``stored_as``
rounds what it writes to a narrower dtype, as a program that computes in that dtype would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reference import CellParams, LSTMSpec, lstm_backward, lstm_forward
from reference.formats import round_to_format


def read(folder: Path, name: str | None) -> np.ndarray | None:
    return None if name is None else np.load(folder / name, allow_pickle=False)


def compute_case(folder: Path, manifest: dict, stored_as: str = "float64") -> dict[str, np.ndarray]:
    """Every array the run in ``folder`` (described by ``manifest``) can return, by name;
    ``stored_as``: the dtype its kernels store values in (see :func:`reference.lstm_forward`)."""
    spec = LSTMSpec(**manifest["spec"])
    inputs = manifest["inputs"]
    x = read(folder, inputs["x"])
    lengths = read(folder, inputs["lengths"])
    h0, c0 = read(folder, inputs["h0"]), read(folder, inputs["c0"])
    weights = manifest["weights"]["canonical"]
    cells = sorted({int(name.split(".")[0].removeprefix("cell")) for name in weights})
    params = tuple(
        CellParams(**{name.split(".")[1]: read(folder, file) for name, file in weights.items() if name.startswith(f"cell{cell}.")})
        for cell in cells
    )
    arguments = dict(lengths=lengths, initial_states=None if h0 is None else (h0, c0), batch_first=manifest["batch_first"], stored_as=stored_as)
    result = lstm_forward(spec, params, x, **arguments)
    arrays = {"outputs": result.outputs, "h_n": result.h_n, "c_n": result.c_n}
    if "upstream" in manifest:
        upstream = [read(folder, manifest["upstream"][name]) for name in ("outputs", "h_n", "c_n")]
        grads = lstm_backward(spec, params, x, *upstream, **arguments)
        arrays.update(grad_x=grads.x, grad_h0=grads.h0, grad_c0=grads.c0)
        for index, cell in enumerate(grads.params):
            arrays.update({f"grad_cell{index}.{name}": array for name, array in cell.arrays().items()})
    return arrays


def run_case(folder: Path, out: Path, stored_as: str = "float64") -> None:
    """Compute the case in ``folder`` and write every array it returns into ``out``."""
    manifest = json.loads((folder / "case.json").read_text())
    arrays = compute_case(folder, manifest)
    out.mkdir(parents=True, exist_ok=True)
    for name in manifest["returns"]:
        np.save(out / f"{name}.npy", round_to_format(arrays[name], stored_as), allow_pickle=False)


def run_all(vectors: Path, results: Path, stored_as: str = "float64") -> None:
    """Every case of the vectors directory, into ``results/<case id>/``."""
    for case_id in json.loads((vectors / "index.json").read_text())["cases"]:
        run_case(vectors / case_id, results / case_id, stored_as)
