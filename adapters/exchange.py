"""A run as language-neutral files: a JSON manifest and ``.npy`` arrays, read by programs in
any language. Test vectors (``conformance.porting.vectors``) and the process protocol
(:mod:`adapters.exec_backend`) both write runs this way.

A run's folder holds ``case.json`` and the arrays it names, float64 in C order (lengths:
int64). The manifest:

- ``spec``: the LSTM (:class:`reference.LSTMSpec`'s fields); ``dtype``: the dtype to
  compute in (inputs and weights are exactly representable in it); ``batch_first``: ``x``
  and ``outputs`` are [B, T, ...] rather than [T, B, ...]; ``last_output_only``: return
  each sequence's last output only (outputs [B, D*R]; see :class:`adapters.base.RunRequest`);
  ``backend_defaults``: run at the backend's own default settings (sent only to a program
  that declares the feature).
- ``inputs``: the files of ``x``, ``lengths`` (null: every sequence has T steps; the padded
  steps of ``x`` hold values that must not leak into anything), ``h0`` and ``c0`` ([L*D, B, R]
  and [L*D, B, H]; null: zeros).
- ``weights``: per layout, parameter name -> file. ``canonical``: ``cell<k>.<name>`` for
  cell k = layer * D + direction, names as :data:`reference.PARAM_NAMES`, gate blocks in the
  order i, f, g, o (:mod:`reference.params`). The others (:data:`NAMED_LAYOUTS`) are those
  frameworks' own names and arrays.
- ``upstream`` (with gradients only): the files of the loss's gradient with respect to
  ``outputs``, ``h_n`` and ``c_n``: the loss is the sum of upstream * result over the three.
- ``returns``: the names of the arrays to write, each as ``<name>.npy``: ``outputs``, ``h_n``
  and ``c_n`` and, with gradients, ``grad_x``, ``grad_h0``, ``grad_c0`` and
  ``grad_cell<k>.<name>`` (canonical names and shapes, whatever layout the weights were read in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np

from reference import CellParams, LSTMResult, LSTMSpec
from reference.params import cell_param_shapes

from .base import RunRequest
from .keras_lstm import KERAS_LAYOUT
from .layouts import layout_refusals as refusals_of
from .layouts import to_backend
from .onnxruntime_lstm import ONNX_LAYOUT
from .shared_layouts import TORCH_LAYOUT

MANIFEST_NAME = "case.json"
FORWARD_RETURNS = ("outputs", "h_n", "c_n")
GRADIENT_INPUTS = ("grad_x", "grad_h0", "grad_c0")
# The frameworks' layouts a run's weights can be written in beside the canonical one, each
# declared as data by its backend's file (:mod:`adapters.layouts`).
NAMED_LAYOUTS = {layout.name: layout for layout in (TORCH_LAYOUT, ONNX_LAYOUT, KERAS_LAYOUT)}
LAYOUTS = ("canonical", *NAMED_LAYOUTS)
# What a manifest may name as a file: a plain name in the run's folder, never a path.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\.npy")


def cell_arrays(prefix: str, params: tuple[CellParams, ...]) -> dict[str, np.ndarray]:
    """``{prefix}cell<k>.<name>`` -> array for every parameter of every cell."""
    return {f"{prefix}cell{index}.{name}": array for index, cell in enumerate(params) for name, array in cell.arrays().items()}


def file_name(name: str) -> str:
    """A name as a file name of :data:`FILE_NAME`'s form (a framework's ``layer0/kernel`` ->
    ``layer0_kernel.npy``)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name) + ".npy"


def layout_refusals(layout: str, spec: LSTMSpec) -> tuple[str, ...]:
    """Why ``layout`` (one of :data:`NAMED_LAYOUTS`) cannot hold ``spec``'s parameters; empty
    when it can, and always for the canonical layout."""
    if layout == "canonical":
        return ()
    return refusals_of(NAMED_LAYOUTS[layout], spec)


def layout_arrays(layout: str, spec: LSTMSpec, params: tuple[CellParams, ...]) -> dict[str, np.ndarray]:
    """``params`` under ``layout``'s names (see :func:`layout_refusals` first)."""
    if layout == "canonical":
        return cell_arrays("", params)
    return to_backend(NAMED_LAYOUTS[layout], spec, params)


def returned_names(spec: LSTMSpec, gradients: bool) -> list[str]:
    """What a run returns: the forward results, and with ``gradients`` every gradient."""
    if not gradients:
        return list(FORWARD_RETURNS)
    cells = [
        f"grad_cell{spec.cell_index(layer, direction)}.{name}"
        for layer, direction in spec.cells()
        for name in cell_param_shapes(spec, layer)
    ]
    return [*FORWARD_RETURNS, *GRADIENT_INPUTS, *cells]


def run_manifest(request: RunRequest, layouts: Mapping[str, dict[str, np.ndarray]], upstream: LSTMResult | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The manifest of ``request`` (see the module docstring) with its weights in each of
    ``layouts`` (layout -> named arrays), asking for gradients when ``upstream`` is given; and
    the arrays its files hold, by file name."""
    arrays: dict[str, np.ndarray] = {"x.npy": request.x}
    inputs = {"x": "x.npy", "lengths": None, "h0": None, "c0": None}
    if request.lengths is not None:
        arrays["lengths.npy"] = np.asarray(request.lengths, dtype=np.int64)
        inputs["lengths"] = "lengths.npy"
    if request.initial_states is not None:
        arrays["h0.npy"], arrays["c0.npy"] = request.initial_states
        inputs.update(h0="h0.npy", c0="c0.npy")
    weights = {}
    for layout, named in layouts.items():
        weights[layout] = {name: f"{layout}.{file_name(name)}" for name in named}
        arrays.update({weights[layout][name]: array for name, array in named.items()})
    manifest = {
        "spec": asdict(request.spec),
        "dtype": request.dtype,
        "batch_first": request.batch_first,
        "last_output_only": request.last_output_only,
        "backend_defaults": request.backend_defaults,
        "inputs": inputs,
        "weights": weights,
        "returns": returned_names(request.spec, upstream is not None),
    }
    if upstream is not None:
        manifest["upstream"] = {name: f"upstream.{name}.npy" for name in FORWARD_RETURNS}
        arrays.update({f"upstream.{name}.npy": getattr(upstream, name) for name in FORWARD_RETURNS})
    return manifest, arrays


def save_arrays(folder: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Each array as ``folder/<file>``: float64 (int64 for integers), C order."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        kind = np.int64 if np.issubdtype(np.asarray(array).dtype, np.integer) else np.float64
        np.save(folder / name, np.ascontiguousarray(array, dtype=kind), allow_pickle=False)


def load_array(path: Path) -> tuple[np.ndarray | None, str]:
    """The array in the ``.npy`` file ``path`` (never unpickled), or None and why not."""
    if not path.is_file():
        return None, f"missing: no file {path.name}"
    try:
        return np.load(path, allow_pickle=False), ""
    except (OSError, ValueError, EOFError) as error:
        return None, f"unreadable {path.name} ({type(error).__name__}: {error})"
