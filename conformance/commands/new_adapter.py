"""``lstm-parity new-adapter NAME``: write a plug-in package a new backend starts from.

The package (``lstm-NAME/`` unless ``-o`` says where) holds ``pyproject.toml``, which
declares the adapter in the entry-point group the suite reads, a README with the commands,
and ``lstm_NAME/adapter.py``: an adapter written against this interface version whose
backend is the example NumPy LSTM (``adapters.example.keras_style_lstm``), so it runs
green as written. Its author replaces the backend call, the mapping and the declaration
with their framework's. Nothing is written unless every argument is valid, and the folder
appears whole or not at all.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from adapters.registry import BUILTIN_ADAPTERS
from adapters.support import INTERFACE_VERSION

from conformance.outputs import check_creatable_directory, one_line, remove, temporary_sibling

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
USAGE_ERROR = 2

ADAPTER_TEMPLATE = '''"""The {name} backend for the LSTM conformance suite.

Replace the three marked places with your framework's: the declaration of what it runs,
the parameter mapping, and the forward call (and add ``_gradients`` if it has autograd).
Run it: ``pytest --pyargs conformance --adapter {package}.adapter:{cls} --depth quick``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from adapters.base import BaseAdapter, RunConfig, RunRequest
from adapters.example import keras_style_lstm
from adapters.support import Support
from reference import CellParams, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec


class {cls}(BaseAdapter):
    """{name}: one forward layer with bias (what the stand-in backend runs)."""

    name = "{name}"
    parameter_layout = "single_bias"  # one bias per gate block: see reference.LAYOUTS
    # The interface this adapter was written against: a later suite never sends it a
    # feature that came after, unless the adapter lists it below.
    interface_version = {version}
    # (1) Everything it runs; anything else is refused before the adapter is called.
    supports = Support(features={{"initial_states", "batch_first"}}, dtypes={{"float32", "float64"}})
    # The distributions your framework is made of: the report lists their versions.
    packages = ("numpy",)

    def _import_version(self) -> str:
        return np.__version__  # import your framework here and return its version

    def _unsupported(self, config: RunConfig) -> list[str]:
        return []  # reasons for declared features your framework still cannot run in this config

    def parameter_count(self, spec: LSTMSpec) -> int:
        hidden = spec.hidden_size
        return (spec.input_size + hidden + 1) * 4 * hidden  # ask your framework for its count

    # (2) The parameter mapping, both ways: canonical gate blocks are i, f, g, o.
    def canonical_to_backend(self, spec: LSTMSpec, params: LSTMParams) -> dict[str, np.ndarray]:
        cell = params[0]
        return {{"kernel": cell.w_ih.T, "recurrent_kernel": cell.w_hh.T, "bias": cell.b_ih + cell.b_hh}}

    def backend_to_canonical(self, spec: LSTMSpec, backend_params: Mapping[str, np.ndarray]) -> LSTMParams:
        bias = np.asarray(backend_params["bias"])
        return (CellParams(w_ih=np.asarray(backend_params["kernel"]).T, w_hh=np.asarray(backend_params["recurrent_kernel"]).T, b_ih=bias, b_hh=np.zeros_like(bias)),)

    # (3) The forward pass: inputs are time-major float64; return float64 in the request's layout.
    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        dtype = np.dtype(request.dtype)
        weights = {{name: array.astype(dtype) for name, array in self.canonical_to_backend(request.spec, params).items()}}
        outputs, h, c = keras_style_lstm(inputs.x.transpose(1, 0, 2).astype(dtype), **weights, h0=inputs.h0[0].astype(dtype), c0=inputs.c0[0].astype(dtype))
        if not request.batch_first:
            outputs = outputs.transpose(1, 0, 2)
        return LSTMResult(outputs.astype(np.float64), h[None].astype(np.float64), c[None].astype(np.float64))
'''

PYPROJECT_TEMPLATE = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "lstm-{name}"
version = "0.1.0"
description = "The {name} backend for the LSTM conformance suite"
dependencies = ["lstm-conformance"]

[project.entry-points."lstm_conformance.adapters"]
{name} = "{package}.adapter:{cls}"

[tool.setuptools]
packages = ["{package}"]
'''

README_TEMPLATE = '''# lstm-{name}

The {name} backend for the LSTM conformance suite.

    pip install -e .
    pytest --pyargs conformance --backend {name} --depth quick   # then without --depth quick

Without installing: `PYTHONPATH=. pytest --pyargs conformance --adapter {package}.adapter:{cls}`.
`{package}/adapter.py` says what to replace.
'''


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-")) + "Adapter"


def new_adapter(arguments) -> int:
    """Write the package, or say in one line why not (exit status 2)."""
    name = arguments.name
    try:
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"NAME: expected lowercase words of letters and digits joined by '-' (my-backend), got {name!r}")
        if name in BUILTIN_ADAPTERS:
            raise ValueError(f"NAME: expected a name no built-in backend has, got {name!r}")
        folder = Path(arguments.output or f"lstm-{name}")
        if folder.exists() or folder.is_symlink():
            raise ValueError(f"-o: expected a folder that does not exist yet, got {str(folder)!r}, which exists")
        check_creatable_directory("-o", folder)
    except ValueError as error:
        print(f"lstm-parity new-adapter: {one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    package = "lstm_" + name.replace("-", "_")
    fields = {"name": name, "package": package, "cls": class_name(name), "version": INTERFACE_VERSION}
    partial = temporary_sibling(folder)
    try:
        (partial / package).mkdir(parents=True)
        (partial / package / "__init__.py").write_text(f'"""The {name} backend for the LSTM conformance suite."""\n', encoding="utf-8")
        (partial / package / "adapter.py").write_text(ADAPTER_TEMPLATE.format(**fields), encoding="utf-8")
        (partial / "pyproject.toml").write_text(PYPROJECT_TEMPLATE.format(**fields), encoding="utf-8")
        (partial / "README.md").write_text(README_TEMPLATE.format(**fields), encoding="utf-8")
        partial.rename(folder)
    finally:
        remove(partial)
    print(f"wrote {folder}/: {package}/adapter.py ({fields['cls']}), pyproject.toml, README.md")
    print(f"run it: PYTHONPATH={folder} pytest --pyargs conformance --adapter {package}.adapter:{fields['cls']} --depth quick")
    return 0


def add_new_adapter_parser(commands) -> None:
    """The ``new-adapter`` subcommand on ``lstm-parity``'s subparsers."""
    parser = commands.add_parser("new-adapter", help="write a plug-in package for a new backend, green as written")
    parser.add_argument("name", metavar="NAME", help="the backend's name (lowercase, words joined by '-')")
    parser.add_argument("-o", "--output", metavar="DIR", help="the folder to create (default: lstm-NAME)")
    parser.set_defaults(handler=new_adapter)
