"""Known deviations: where a backend really differs from the oracle, named and reproducible.

Each entry names the backend, the checks it shows in (the first one runs its
reproducer), the compared quantities that deviate (``run`` when the run itself fails), which requests show it, the smallest
reproducing case (a case id: ``pytest "<reproducer_test>"`` runs it alone). The backend
versions a built-in deviation was seen on are measured, not written here: the committed
scoreboard (``lstm-parity matrix`` and ``lstm-parity scoreboard``) lists the versions it
reproduced on, and :func:`registered_deviations` reads them from ``versions_seen.json``.
Tests that hit deviations become strict xfails that only accept
:class:`DeviationReproduced`: a mismatch outside the deviations' quantities still
fails, and a deviation that stops reproducing fails the run, so this registry stays true.
A deviation that comes from reading uninitialised memory shows or not by chance: it is
registered with ``strict=False`` (its matching cases may pass), and its reproducer, a
case where it always shows, is still required to reproduce (see the project's tests).

Plug-ins register their own backends' deviations, with the same semantics, through the
entry-point group ``lstm_conformance.deviations`` (see :func:`registered_deviations`).
"""

from __future__ import annotations

from collections.abc import Callable
import json
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from adapters.base import RunRequest
from adapters.onnxruntime_lstm import activation_attributes
from reference import PARAM_NAMES, sigmoid, validate_inputs, validate_params
from reference.forward import forward_with_traces


DEVIATION_ENTRY_POINT_GROUP = "lstm_conformance.deviations"
# The versions each built-in deviation was measured to reproduce on: the committed
# scoreboard's (reports/scoreboard.json), over the default run and the version matrix.
MEASURED_VERSIONS = Path(__file__).with_name("versions_seen.json")


class DeviationReproduced(AssertionError):
    """A known deviation showed up exactly where the registry says it does."""


def release_numbers(version: str) -> tuple[int, ...]:
    """The numbers of a version string's first word: ``3.13.2 on torch 2.13.0`` -> (3, 13, 2)."""
    words = version.split()
    return tuple(int(number) for number in re.findall(r"\d+", words[0])) if words else ()


@dataclass(frozen=True)
class Releases:
    """The releases of a backend a deviation exists in, ``first`` to ``last`` inclusive (''
    for ``last``: every release since ``first``), each as precise as wanted (``3.12`` holds
    3.12.0 to 3.12.x), compared by the numbers of the version's first word
    (``3.13.2 on torch 2.13.0+cpu`` is 3.13.2)."""

    first: str
    last: str = ""

    def __contains__(self, version: str) -> bool:
        numbers, first, last = release_numbers(version), release_numbers(self.first), release_numbers(self.last)
        return first <= numbers[: len(first)] and (not last or numbers[: len(last)] <= last)

    def describe(self) -> str:
        if not self.last:
            return f"{self.first} on"
        return self.first if self.first == self.last else f"{self.first} to {self.last}"


@dataclass(frozen=True)
class KnownDeviation:
    """One registered deviation (see the module docstring)."""

    name: str
    backend: str
    checks: tuple[str, ...]
    summary: str
    quantities: frozenset[str]
    applies: Callable[[RunRequest], bool]
    reproducer: str
    versions_seen: tuple[str, ...] = ()
    strict: bool = True
    releases: Releases | None = None

    @property
    def reproducer_test(self) -> str:
        """The pytest node id that runs the reproducer alone (under the first of its checks)."""
        return f"{CHECK_TESTS[self.checks[0]]}[{self.backend}-{self.reproducer}]"

    def describe(self) -> str:
        releases = f"; exists in releases {self.releases.describe()}" if self.releases else ""
        return f"known deviation {self.name}: {self.summary} (seen on {self.backend} {', '.join(self.versions_seen)}{releases})"

    def exists_in(self, version: str) -> bool:
        """Whether the backend at ``version`` has it: every version unless ``releases`` says
        otherwise ('' , an unknown version, has every deviation)."""
        return self.releases is None or not version or version in self.releases

    def as_record(self) -> dict:
        return {
            "name": self.name,
            "backend": self.backend,
            "checks": list(self.checks),
            "summary": self.summary,
            "quantities": sorted(self.quantities),
            "reproducer": self.reproducer,
            "reproducer_test": self.reproducer_test,
            "versions_seen": list(self.versions_seen),
            "strict": self.strict,
            **({"releases": self.releases.describe(), "releases_range": [self.releases.first, self.releases.last]} if self.releases else {}),
        }


# The test function each check's cases run under (a reproducer is one of its parameters).
CHECK_TESTS = {
    "forward": "conformance/test_forward_parity.py::test_forward_matches_oracle",
    "gradients": "conformance/test_gradient_parity.py::test_gradients_match_oracle",
    "gradients_c_n": "conformance/test_gradient_parity.py::test_gradients_through_final_cell_state_match_oracle",
    "padded_upstream": "conformance/test_gradient_parity.py::test_upstream_at_padded_steps_changes_no_gradient",
    "padding": "conformance/test_invariants.py::test_padding_content_changes_nothing",
    "nan_padding": "conformance/test_invariants.py::test_nan_padding_changes_nothing",
    "final_state_is_last_output": "conformance/test_invariants.py::test_last_valid_output_is_the_final_state",
    "sample_alone": "conformance/test_invariants.py::test_each_sample_alone_equals_its_row_in_the_batch",
    "dropout_inference": "conformance/test_invariants.py::test_dropout_in_inference_mode_changes_nothing",
    "stacking": "conformance/test_invariants.py::test_two_layers_equal_two_stacked_single_layers",
}


FORWARD_QUANTITIES = frozenset({"outputs", "outputs_padded", "h_n", "c_n"})
GRADIENT_QUANTITIES = frozenset(
    {"grad_x", "grad_x_padded", "grad_h0", "grad_c0"} | {f"grad_{name}" for name in PARAM_NAMES}
)
GRADIENT_CHECKS = ("gradients", "gradients_c_n")
# The backend-against-itself checks of conformance/test_invariants.py.
INVARIANT_CHECKS = ("padding", "nan_padding", "final_state_is_last_output", "sample_alone", "dropout_inference", "stacking")


def has_empty_sequence(request: RunRequest) -> bool:
    return request.lengths is not None and bool((np.asarray(request.lengths) == 0).any())


def has_partial_sequence(request: RunRequest) -> bool:
    """Some sequence has 0 < length < T."""
    if request.lengths is None:
        return False
    lengths = np.asarray(request.lengths)
    steps = request.x.shape[1 if request.batch_first else 0]
    return bool(((lengths > 0) & (lengths < steps)).any())


def activation_outputs(request: RunRequest, name: str) -> list[np.ndarray]:
    """What the activation ``name`` puts out, in every role it has in the request's LSTM, at
    valid steps, according to the oracle's trace."""
    spec = request.spec
    if name not in (spec.gate_activation, spec.candidate_activation, spec.cell_activation):
        return []
    inputs = validate_inputs(spec, request.x, lengths=request.lengths, initial_states=request.initial_states, batch_first=request.batch_first)
    _, traces = forward_with_traces(spec, validate_params(spec, request.params), inputs)
    found = []
    for trace in traces:
        valid = np.ones(trace.cells.shape[:2], dtype=bool) if trace.valid is None else trace.valid
        outputs = [trace.gates[:, :3].transpose(0, 2, 1, 3)] if spec.gate_activation == name else []
        outputs += [trace.gates[:, 3]] if spec.candidate_activation == name else []
        outputs += [trace.cell_acts] if spec.cell_activation == name else []
        found += [values[valid] for values in outputs]
    return found


def sigmoid_input_above(request: RunRequest, limit: float) -> bool:
    """Some sigmoid of the request's LSTM gets an input above ``limit`` at a valid step
    (sigmoid is increasing, so its output tells)."""
    threshold = float(sigmoid(np.array(limit)))
    return any((values > threshold).any() for values in activation_outputs(request, "sigmoid"))


def largest_tanh_input(request: RunRequest) -> float:
    """The largest magnitude of any tanh input of the request's LSTM at a valid step (0 without tanh)."""
    outputs = [np.abs(values) for values in activation_outputs(request, "tanh") if values.size]
    return float(np.arctanh(min(max(float(values.max()) for values in outputs), 1 - 1e-16))) if outputs else 0.0


def omits_onnx_parameters_of(request: RunRequest, names: tuple[str, ...]) -> bool:
    """The ONNX model for the request writes no activation_alpha/beta and uses one of ``names``."""
    spec = request.spec
    roles = ("gate_activation", "candidate_activation", "cell_activation")
    return "activation_alpha" not in activation_attributes(spec) and any(spec.activation(role).name in names for role in roles)


def uses_activation(request: RunRequest, names: tuple[str, ...]) -> bool:
    """One of the request's LSTM activations (any role) is among ``names``."""
    spec = request.spec
    return any(spec.activation(role).name in names for role in ("gate_activation", "candidate_activation", "cell_activation"))


def has_padding(request: RunRequest) -> bool:
    """Some sequence is shorter than T, so some output position is padding."""
    if request.lengths is None:
        return False
    steps = request.x.shape[1 if request.batch_first else 0]
    return bool((np.asarray(request.lengths) < steps).any())


KNOWN_DEVIATIONS: tuple[KnownDeviation, ...] = (
    KnownDeviation(
        name="paddle-projection-padded-outputs",
        backend="paddle",
        checks=("forward",),
        summary="with proj_size > 0 and sequence_length, outputs at padded steps are not 0 but values computed from the padding",
        quantities=frozenset({"outputs_padded"}),
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-no-bias-fails",
        backend="paddle",
        checks=("forward", *GRADIENT_CHECKS),
        summary="without bias (bias_ih_attr=bias_hh_attr=False) and without projection, the fused rnn path crashes "
        "the process (one forward layer: SIGSEGV in RnnKernel) or raises IndexError while building the layer",
        quantities=frozenset({"run"}),
        applies=lambda request: not request.spec.bias and request.spec.proj_size == 0,
        reproducer="L1-fwd-tm-none-zero-P0-nobias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-projection-padding-leaks-into-outputs",
        backend="paddle",
        checks=("padding",),
        summary="with proj_size > 0 and sequence_length, what the padded input positions hold changes the outputs "
        "at padded steps (the same path as paddle-projection-padded-outputs)",
        quantities=frozenset({"outputs"}),
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-nan-padding-poisons-results",
        backend="paddle",
        checks=("nan_padding",),
        summary="NaN in padded input positions turns final states (and, bidirectional, valid outputs) into NaN: "
        "padding is masked by multiplication, and 0 * NaN is NaN",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=has_padding,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-legacy-sigmoid-clamped-at-13",
        backend="paddle-legacy",
        checks=("forward", *GRADIENT_CHECKS),
        summary="the op clamps sigmoid's input to [-40, 13], so sigmoid(x) = sigmoid(13) = 1 - 2.3e-6 for every x > 13 "
        "(and its derivative there is sigmoid'(13)): visible against float64 precision, hidden below float32's",
        quantities=frozenset({"outputs", "h_n", "c_n"}) | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and sigmoid_input_above(request, 13.0),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-sat-cpu",
    ),
    KnownDeviation(
        name="paddle-legacy-cell-output-gradient-dropped",
        backend="paddle-legacy",
        checks=("gradients_c_n",),
        summary="the op's backward ignores the gradient arriving through its cell output: "
        "every gradient of a loss on c_n comes out 0",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: True,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-legacy-empty-sequence-gradients",
        backend="paddle-legacy",
        checks=GRADIENT_CHECKS,
        summary="with a sequence of length 0 in the batch, the backward gives that sequence's h0 a spurious gradient, "
        "its c0 uninitialised values, and the recurrent weight a wrong gradient; where relu or identity gates "
        "zero the spurious terms only the uninitialised values remain, so whether it shows is chance",
        quantities=frozenset({"grad_h0", "grad_c0", "grad_w_hh"}),
        applies=has_empty_sequence,
        reproducer="L1-fwd-tm-mixed0-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        strict=False,
    ),
    KnownDeviation(
        name="paddle-legacy-float32-backward-hidden-multiple-of-8",
        backend="paddle-legacy",
        checks=GRADIENT_CHECKS,
        summary="in float32 with a hidden size divisible by 8 (the kernel's AVX path) the backward is wrong: "
        "every gradient is off by about its own size; float64 and other sizes are right",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float32" and request.spec.hidden_size % 8 == 0,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-H16-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-reverse-recurrent-weight-gradient",
        backend="paddle",
        checks=GRADIENT_CHECKS,
        summary="on the fused rnn path (no projection, with bias), bidirectional with given initial states, the "
        "backward cells' weight_hh gradient misses the h0 term (dz at the first processed step times h0) of every "
        "sequence with 0 < length < T",
        quantities=frozenset({"grad_w_hh"}),
        applies=lambda request: request.spec.bidirectional
        and request.spec.proj_size == 0
        and request.spec.bias
        and request.initial_states is not None
        and has_partial_sequence(request),
        reproducer="L1-bidir-tm-mixed-h0-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-projection-padded-upstream-leaks",
        backend="paddle",
        checks=("padded_upstream",),
        summary="with proj_size > 0 and sequence_length, outputs at padded steps depend on the parameters "
        "(paddle-projection-padded-outputs), so a loss that touches them changes every gradient",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.spec.proj_size > 0 and has_padding(request),
        reproducer="L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="onnxruntime-empty-sequence-final-state",
        backend="onnxruntime",
        checks=("forward",),
        summary="for a sequence of length 0 in sequence_lens, Y_h and Y_c are 0 instead of initial_h and initial_c "
        "(the kernel fills them with zeros when a sequence length is 0)",
        quantities=frozenset({"h_n", "c_n"}),
        applies=lambda request: request.initial_states is not None and has_empty_sequence(request),
        reproducer="L1-fwd-tm-mixed0-h0-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="onnxruntime-activation-parameter-defaults",
        backend="onnxruntime",
        checks=("forward",),
        summary="without activation_alpha/activation_beta, Affine runs with alpha = beta = 0 and ThresholdedRelu with "
        "alpha = 0, not the ONNX operators' defaults (Affine alpha 1, beta 0; ThresholdedRelu alpha 1) that the "
        "LSTM specification says apply",
        quantities=frozenset({"outputs", "h_n", "c_n"}),
        applies=lambda request: omits_onnx_parameters_of(request, ("affine", "thresholded_relu")),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-onnxdef-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="torch-onnx-projection-cut-to-proj-size",
        backend="torch-onnx",
        checks=("forward", *INVARIANT_CHECKS),
        summary="with proj_size > 0 the exporter writes a plain ONNX LSTM node with hidden_size = proj_size: W and R "
        "cut to their first 4*proj_size rows, weight_hr dropped, the initial cell state still of size hidden_size; "
        "ONNX Runtime refuses to run the model (Input initial_c must have shape {D, B, proj_size})",
        quantities=frozenset({"run"}),
        applies=lambda request: request.spec.proj_size > 0,
        reproducer="L1-fwd-tm-none-zero-P3-bias-nopeep-noclip-std-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-onnx-sequence-length-dropped",
        backend="paddle-onnx",
        checks=("forward", "padding", "nan_padding", "final_state_is_last_output"),
        summary="the exported model has no sequence_lens: the LSTM runs over the padding as if every sequence had "
        "length T (padded outputs are not 0, final states are taken at step T-1, a backward direction starts at T-1)",
        quantities=frozenset({"outputs", "outputs_padded", "h_n", "c_n", "forward_last_output"}),
        applies=has_padding,
        reproducer="L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-onnx-final-states-of-last-layer-only",
        backend="paddle-onnx",
        checks=("forward", "final_state_is_last_output", "stacking"),
        summary="with num_layers > 1 the exported model's h_n and c_n hold only the last layer's states "
        "([D, B, H] instead of [L*D, B, H])",
        quantities=frozenset({"h_n", "c_n"}),
        applies=lambda request: request.spec.num_layers > 1,
        reproducer="L2-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="paddle-onnx-no-bias-crashes",
        backend="paddle-onnx",
        checks=("forward",),
        summary="without bias (bias_ih_attr=bias_hh_attr=False) the export crashes the process (SIGSEGV in "
        "paddle2onnx::Export)",
        quantities=frozenset({"run"}),
        applies=lambda request: not request.spec.bias,
        reproducer="L1-fwd-tm-none-zero-P0-nobias-nopeep-noclip-std-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="keras-torch-float64-masked-loop-in-float32",
        backend="keras-torch",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="a float64 keras.layers.LSTM given a mask runs Keras's generic RNN loop, whose ops.matmul casts to "
        "keras.backend.result_type(float64, float64) = float32 (Keras maps 64-bit to 32-bit types on every backend "
        "but TensorFlow): outputs, states and gradients are float32-accurate (relative error ~1e-7)",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and request.lengths is not None,
        reproducer="L1-fwd-tm-full-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        # Keras 3.11's generic loop computed float64 (measured: every armed test passed there).
        releases=Releases("3.12"),
    ),
    KnownDeviation(
        name="keras-torch-float64-cpu-loop-in-float32",
        backend="keras-torch",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="Keras 3.12 and 3.13 run keras.layers.LSTM on torch through torch.nn.LSTM only where cuDNN is "
        "available: on the CPU keras.src.backend.torch.rnn.lstm raises NotImplementedError, so every LSTM, masked or "
        "not, runs Keras's generic RNN loop, which computes float64 in float32 (as in keras-torch-float64-masked-loop-"
        "in-float32): outputs, states and gradients are float32-accurate (relative error ~1e-8). Keras 3.14 added a "
        "pure-torch path in the kernel's dtype for unmasked inputs (_fallback_lstm); Keras 3.11 computed float64",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and request.lengths is None,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        releases=Releases("3.12", "3.13"),
    ),
    KnownDeviation(
        name="keras-torch-float64-masked-loop-batch-dependent",
        backend="keras-torch",
        checks=("sample_alone",),
        summary="through the same float32 arithmetic (keras-torch-float64-masked-loop-in-float32), a masked float64 "
        "run of one sample differs from its row in the batch by ~1e-8, beyond float64 rounding; whether it shows "
        "depends on the case's data, so matching cases may pass",
        quantities=FORWARD_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and request.lengths is not None,
        reproducer="L3-bidir-tm-mixed0-h0-P0-bias-nopeep-noclip-std-f64-H13-typ-cpu",
        strict=False,
        releases=Releases("3.12"),
    ),
    KnownDeviation(
        name="keras-torch-float64-silu-gelu-gradients",
        backend="keras-torch",
        checks=("gradients", "gradients_c_n"),
        summary="in float64, gradients through keras.activations.silu and gelu are float32-accurate (relative error "
        "~1e-8) while the forward pass is exact",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and uses_activation(request, ("silu", "gelu")),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-keras1-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="keras-jax-float64-tanh-in-float32",
        backend="keras-jax",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="keras.ops.tanh casts its input to keras.backend.result_type(x.dtype, float), which is float32 for "
        "float64 x on JAX: a float64 LSTM with tanh (Keras's default activation) is float32-accurate (relative "
        "error ~1e-7) in outputs, states and gradients",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and uses_activation(request, ("tanh",)),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="keras-tensorflow-float64-gelu",
        backend="keras-tensorflow",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="in float64, keras.activations.gelu on TensorFlow is float32-accurate, exact (relative error ~1e-8) "
        "and tanh-approximated (~1e-9) alike, in outputs, states and gradients",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.dtype == "float64" and uses_activation(request, ("gelu", "gelu_tanh")),
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-keras2-f64-base-typ-cpu",
    ),
    KnownDeviation(
        name="tensorflow-block-v2-gradient-in-v1-gate-order",
        backend="tensorflow-block",
        checks=("gradients", "gradients_c_n"),
        summary="TensorFlow registers BlockLSTM's gradient for BlockLSTMV2 (tensorflow/python/ops/rnn_grad.py): "
        "BlockLSTMGrad reads and writes the gate blocks as i, c, f, o while BlockLSTMV2 orders them i, f, c, o, so "
        "the forget and candidate blocks of every weight and bias gradient are swapped and the gradients of x, h0 "
        "and c0 are wrong too; calling BlockLSTMGradV2 directly gives the oracle's gradients",
        quantities=GRADIENT_QUANTITIES,
        applies=lambda request: True,
        reproducer="L1-fwd-tm-none-zero-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
    ),
    KnownDeviation(
        name="mindspore-lengths-path-tanh-error-1e-4",
        backend="mindspore",
        checks=("forward", "gradients", "gradients_c_n"),
        summary="given seq_length, nn.LSTM runs a Python loop of its cell (mindspore.nn.layer.rnn_cells._lstm_cell) "
        "instead of the fused CPU kernel, and MindSpore's CPU ops.Tanh in float32 is off by up to 1.0e-4 for inputs "
        "of magnitude 4 to 6 (1.5e-5 at 3 to 4, 1e-7 below 2): candidate and cell outputs carry that error. It "
        "shows beyond the float32 tolerance where tanh's largest input lies between 4.5 and 8 (saturated data, "
        "with larger inputs, are held to a tolerance that absorbs it), and there not always",
        quantities=FORWARD_QUANTITIES | GRADIENT_QUANTITIES,
        applies=lambda request: request.lengths is not None and 4.5 < largest_tanh_input(request) < 8.0,
        reproducer="L2-fwd-bm-mixed-zero-P0-bias-nopeep-noclip-std-f32-H1-typ-cpu",
        strict=False,
    ),
    KnownDeviation(
        name="mindspore-nan-switches-sigmoid-implementation",
        backend="mindspore",
        checks=("nan_padding",),
        summary="MindSpore's CPU ops.Sigmoid computes a float32 tensor holding a NaN anywhere by another method than "
        "one without (errors of 3e-7 become 5e-8): NaN at padded steps, which never reach a valid result, still "
        "change the rounding of every valid gate computed beside them",
        quantities=FORWARD_QUANTITIES,
        applies=has_padding,
        reproducer="L2-bidir-tm-mixed0-h0-P0-bias-nopeep-noclip-std-f32-H13-typ-cpu",
    ),
    *(
        KnownDeviation(
            name=f"{backend}-empty-sequence-final-carry-from-padding",
            backend=backend,
            checks=("forward", "gradients", "gradients_c_n", "padding", "nan_padding"),
            summary="nnx.RNN with seq_lengths takes each sequence's final carry at index length - 1 of the carries "
            "of every step, so for a sequence of length 0 it takes index -1: the carry after running the cell over "
            "all T padded steps, not the initial carry; h_n and c_n of empty sequences (and every gradient reaching "
            "them) depend on the padding",
            quantities=frozenset({"h_n", "c_n"}) | GRADIENT_QUANTITIES,
            applies=has_empty_sequence,
            reproducer="L1-fwd-tm-mixed0-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
        )
        for backend in ("flax", "flax-lstmcell")
    ),
)



@cache
def measured_versions() -> dict[str, tuple[str, ...]]:
    """Built-in deviation name -> the backend versions the committed scoreboard measured it to
    reproduce on (:data:`MEASURED_VERSIONS`, written by ``lstm-parity scoreboard --versions-seen``)."""
    return {name: tuple(versions) for name, versions in json.loads(MEASURED_VERSIONS.read_text(encoding="utf-8")).items()}


@cache
def registered_deviations() -> tuple[KnownDeviation, ...]:
    """The built-in deviations, then those installed packages declare in the entry-point group
    ``lstm_conformance.deviations`` (``name = "package.module:ATTRIBUTE"``, the attribute an
    iterable of :class:`KnownDeviation`). A TypeError names an entry whose items are not
    deviations; a ValueError names a deviation name used twice or an unknown check."""
    measured = measured_versions()
    deviations = [replace(deviation, versions_seen=measured.get(deviation.name, ())) for deviation in KNOWN_DEVIATIONS]
    for entry in entry_points(group=DEVIATION_ENTRY_POINT_GROUP):
        declared = tuple(entry.load())
        wrong = [type(item).__name__ for item in declared if not isinstance(item, KnownDeviation)]
        if wrong:
            raise TypeError(f"deviations: entry point {entry.name!r} ({entry.value}) must give KnownDeviation items, got {', '.join(wrong)}")
        deviations.extend(declared)
    names = [deviation.name for deviation in deviations]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"deviations: each name must be registered once, got {', '.join(repeated)} more than once")
    for deviation in deviations:
        unknown = [check for check in deviation.checks if check not in CHECK_TESTS]
        if not deviation.checks or unknown:
            raise ValueError(f"deviations: {deviation.name}.checks: expected a non-empty tuple of {', '.join(CHECK_TESTS)}, got {deviation.checks!r}")
    return tuple(deviations)


def find_deviations(
    backend: str, check: str, request: RunRequest, registry: tuple[KnownDeviation, ...] | None = None, *, version: str = ""
) -> tuple[KnownDeviation, ...]:
    """The registered deviations (default: :func:`registered_deviations`) of ``backend`` at
    ``version`` (its version string; '': any) that ``request`` shows under ``check``."""
    return tuple(
        deviation
        for deviation in (registered_deviations() if registry is None else registry)
        if deviation.backend == backend and check in deviation.checks and deviation.exists_in(version) and deviation.applies(request)
    )


def reproducer_cases(backend: str, check: str, registry: tuple[KnownDeviation, ...] | None = None) -> list[str]:
    """Case ids of the reproducers registered (default: :func:`registered_deviations`) for
    ``backend`` whose first check is ``check``."""
    registry = registered_deviations() if registry is None else registry
    return [deviation.reproducer for deviation in registry if deviation.backend == backend and deviation.checks[0] == check]
