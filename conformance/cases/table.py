"""The case table: every factor a conformance case varies, and each case's data.

A case is one value per factor (:data:`FACTORS`). Its id spells every value, so the id
alone rebuilds the case (:meth:`Case.from_id`), and its data comes from a seed derived
from the id (:func:`make_data`): any failure reruns alone from its pytest id.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from adapters.base import RunConfig, RunRequest
from reference import LSTMParams, LSTMSpec, init_params, map_params
from reference.activations import bind_activation
from reference.formats import round_to_format

from conformance.cases.seeding import seed_for


@dataclass(frozen=True)
class Shape:
    """Sizes of a case; ``proj_size`` is used when the case projects (0: this shape cannot)."""

    name: str
    batch: int
    steps: int
    input_size: int
    hidden_size: int
    proj_size: int


SHAPES = {
    shape.name: shape
    for shape in (
        Shape("base", batch=3, steps=5, input_size=4, hidden_size=6, proj_size=3),
        Shape("B1", batch=1, steps=5, input_size=4, hidden_size=6, proj_size=3),
        Shape("T1", batch=3, steps=1, input_size=4, hidden_size=6, proj_size=3),
        Shape("I1", batch=3, steps=5, input_size=1, hidden_size=6, proj_size=3),
        Shape("H1", batch=3, steps=5, input_size=4, hidden_size=1, proj_size=0),
        Shape("H13", batch=4, steps=7, input_size=5, hidden_size=13, proj_size=5),
        Shape("H16", batch=2, steps=6, input_size=9, hidden_size=16, proj_size=8),
        Shape("long", batch=3, steps=40, input_size=4, hidden_size=5, proj_size=2),
        Shape("wide", batch=6, steps=4, input_size=33, hidden_size=37, proj_size=17),
        # The size factor: shapes at which kernels take their blocked, vectorised and
        # multi-threaded paths (oneDNN pads a hidden size that is not a multiple of its
        # block, so H203 runs a padded layout where H128 and H256 do not).
        Shape("H128", batch=8, steps=50, input_size=64, hidden_size=128, proj_size=64),
        Shape("H256", batch=16, steps=100, input_size=512, hidden_size=256, proj_size=128),
        Shape("H203", batch=32, steps=20, input_size=130, hidden_size=203, proj_size=101),
        # A long sequence: the step loop's own code paths (chunked scans, unrolling limits,
        # int16 step counters) and 500 steps of rounding carried through the cell state.
        Shape("T500", batch=3, steps=500, input_size=4, hidden_size=8, proj_size=4),
    )
}
# The large shapes are not in the strength-3 covering designs (their runs cost seconds on
# some backends); each backend runs each of them on one case, a backend with costly runs
# only the first (see conformance.run.backends).
LARGE_SHAPES = ("H203", "H128", "H256")
# The long shape and the deep stack are outside the covering designs too: each backend runs
# one case at each (see conformance.run.backends.structure_copies).
LONG_SHAPE = "T500"
DEEP_LAYERS = 4

# (gate, cell, candidate) activations: std is every framework's default; alt1-alt3 put
# each of sigmoid, tanh, relu and identity in each role once across the four sets.
# onnx1-onnx3 cover ONNX's activations with parameters away from their defaults (a backend
# that ignores a parameter fails), onnx4 the parameterized ones again without softsign,
# leaky_relu and thresholded_relu (a converter that fails on those and drops parameters
# shows the second here), onnxdef the ones whose ONNX defaults are easy to get wrong, at
# those defaults. keras1-keras6 cover Keras 3's and JAX's activations with
# Keras's constraint (one `activation` for candidate and cell), exp the exponential.
ACTIVATION_SETS = {
    "std": ("sigmoid", "tanh", "tanh"),
    "alt1": ("tanh", "relu", "identity"),
    "alt2": ("relu", "identity", "sigmoid"),
    "alt3": ("identity", "sigmoid", "relu"),
    "onnx1": ("hard_sigmoid(alpha=0.3, beta=0.45)", "softsign", "scaled_tanh(alpha=1.3, beta=0.7)"),
    "onnx2": ("affine(alpha=0.4, beta=0.3)", "elu(alpha=0.6)", "leaky_relu(alpha=0.15)"),
    "onnx3": ("sigmoid", "thresholded_relu(alpha=0.05)", "softplus"),
    "onnx4": ("hard_sigmoid(alpha=0.3, beta=0.45)", "scaled_tanh(alpha=1.3, beta=0.7)", "elu(alpha=0.6)"),
    "onnxdef": ("hard_sigmoid", "thresholded_relu", "affine"),
    "keras1": ("hard_sigmoid_relu6", "silu", "silu"),
    "keras2": ("hard_sigmoid_relu6", "gelu", "gelu"),
    "keras3": ("sigmoid", "gelu_tanh", "gelu_tanh"),
    "keras4": ("sigmoid", "selu", "selu"),
    "keras5": ("sigmoid", "hard_silu", "hard_silu"),
    "keras6": ("sigmoid", "relu6", "relu6"),
    "exp": ("sigmoid", "tanh", "exponential"),
}
# The cell variants: peepholes and the coupled input-forget gate, alone and together.
CELL_VARIANTS = {"nopeep": (False, False), "peep": (True, False), "cifg": (False, True), "peepcifg": (True, True)}
# Gate activations whose outputs lie in [0, 1], so that a coupled forget gate 1 - i does too.
UNIT_INTERVAL_GATES = ("sigmoid", "hard_sigmoid", "hard_sigmoid_relu6")
# The clips, each chosen so that in the typical regime it holds a share of the values it
# bounds at its bound and leaves the rest (measured on the base shape: gate inputs have
# a spread of about 0.7, cells about 0.3, projected states about 0.1).
CLIPS = {"noclip": {}, "aclip": {"activation_clip": 0.5}, "cclip": {"cell_clip": 0.2}, "pclip": {"proj_clip": 0.05}}


# Cell activations with a kink at a value the saturated cell state takes (see
# Case.gradients_well_posed).
KINKED_AT_SATURATION = ("relu6",)


def is_bounded(activation: str) -> bool:
    """Whether an activation's outputs stay bounded whatever its input (see reference.activations)."""
    return bind_activation(activation).activation.bounded


DTYPE_NAMES = {"f32": "float32", "f64": "float64", "bf16": "bfloat16", "f16": "float16"}
PLAIN_DTYPES = ("f32", "f64")
# Reduced precision: not in the covering designs; a backend that offers them runs copies
# of some of its float32 cases (see conformance.run.backends).
REDUCED_DTYPES = ("bf16", "f16")

FACTORS: dict[str, tuple] = {
    "layers": (1, 2, 3, DEEP_LAYERS),
    "direction": ("fwd", "bidir", "rev"),
    "layout": ("tm", "bm"),
    "lengths": ("none", "full", "mixed", "mixed0", "short"),
    "init": ("zero", "h0"),
    "proj": ("P0", "P"),
    "bias": ("bias", "nobias"),
    "cell": tuple(CELL_VARIANTS),
    "clip": tuple(CLIPS),
    "acts": tuple(ACTIVATION_SETS),
    "dtype": tuple(DTYPE_NAMES),
    "shape": tuple(SHAPES),
    "regime": ("typ", "sat", "edge"),
    "device": ("cpu", "cuda"),
}

# Cases the invariant checks run on. Between them they reach every backend's features:
# lengths with an empty sequence, all three directions, several layers, projection,
# peepholes, the coupled gate, clips and activations. Each backend runs the nearest case
# it supports to each of them (see :data:`RELAXATIONS`).
INVARIANT_CASES = (
    "L2-rev-tm-mixed0-h0-P0-bias-peepcifg-aclip-onnx1-f32-H13-typ-cpu",
    "L1-fwd-tm-mixed-zero-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    "L1-fwd-tm-mixed-zero-P3-bias-nopeep-noclip-std-f64-base-typ-cpu",
    "L2-bidir-tm-mixed-h0-P0-bias-nopeep-noclip-std-f64-base-typ-cpu",
    "L2-bidir-bm-mixed-h0-P5-bias-nopeep-noclip-std-f32-H13-typ-cpu",
    "L3-bidir-tm-mixed0-h0-P0-bias-peep-noclip-alt1-f64-H13-typ-cpu",
    "L2-fwd-bm-none-h0-P0-bias-nopeep-noclip-std-f32-long-sat-cpu",
    "L1-fwd-tm-none-h0-P0-bias-nopeep-noclip-std-f32-base-typ-cpu",
)
# How a case is made simpler, step after step, to find the nearest one a backend supports:
# each step sets one factor to its plainest value, and keeps the steps before it.
RELAXATIONS = (
    ("clip", "noclip"),
    ("cell", "nopeep"),
    ("acts", "std"),
    ("proj", "P"),
    ("proj", "P0"),
    ("direction", "bidir"),
    ("direction", "fwd"),
    ("lengths", "mixed"),
    ("init", "zero"),
    ("layers", 1),
    ("layout", "tm"),
    ("bias", "bias"),
    ("shape", "base"),
    ("regime", "typ"),
)
# The saturation regime: parameters uniform(-k, k) with k = SATURATION_SCALE / sqrt(H) and
# inputs ~ N(0, SATURATION_INPUT_STD^2) put typical gate pre-activations well beyond |13|,
# where float32 sigmoid and tanh round to their limits.
SATURATION_SCALE = 6.0
SATURATION_INPUT_STD = 5.0
# The edge regime: the typical parameters and inputs ~ N(0, EDGE_INPUT_STD^2), so that an
# unbounded candidate or cell activation gets inputs in the hundreds, past float32's exp
# overflow (log of its largest number, 88.72) and float16's largest number (65504) once
# multiplied, while every value stays in float32's range and the oracle's are exact.
EDGE_INPUT_STD = 300.0
# The inputs' standard deviation in each regime.
INPUT_STD = {"typ": 1.0, "sat": SATURATION_INPUT_STD, "edge": EDGE_INPUT_STD}
# Gates under relu or identity are not confined to [0, 1]: a forget gate above 1 makes the
# cell grow geometrically. Smaller parameters keep those gates mostly inside (-1, 1).
UNBOUNDED_GATE_SCALE = 0.25
# Padded steps are filled with this much noise, so any backend that reads them shows it.
PADDING_STD = 3.0


@dataclass(frozen=True)
class Case:
    """One value per factor of :data:`FACTORS`."""

    layers: int = 1
    direction: str = "fwd"
    layout: str = "tm"
    lengths: str = "none"
    init: str = "zero"
    proj: str = "P0"
    bias: str = "bias"
    cell: str = "nopeep"
    clip: str = "noclip"
    acts: str = "std"
    dtype: str = "f64"
    shape: str = "base"
    regime: str = "typ"
    device: str = "cpu"

    def __post_init__(self) -> None:
        for factor in fields(self):
            value = getattr(self, factor.name)
            if value not in FACTORS[factor.name]:
                raise ValueError(f"{factor.name}: expected one of {FACTORS[factor.name]}, got {value!r}")
        problem = self.problem()
        if problem:
            raise ValueError(f"case {self.id}: {problem}")

    def problem(self) -> str:
        """Why this combination is not a meaningful case ('' when it is)."""
        shape = SHAPES[self.shape]
        if self.proj == "P" and shape.proj_size == 0:
            return f"shape {shape.name} (H={shape.hidden_size}) leaves no room for 0 < P < H"
        if self.lengths == "mixed0" and shape.batch < 2:
            return "mixed0 needs two sequences: one empty and one not"
        if self.lengths == "short" and (shape.batch < 2 or shape.steps < 2):
            return "short needs two sequences or more, each shorter than T >= 2 (one sequence shorter than T is mixed's B = 1 case)"
        if self.regime == "sat" and not all(is_bounded(activation) for activation in ACTIVATION_SETS[self.acts]):
            return "an unbounded activation under saturating input grows values layer after layer: an overflow test, not an LSTM one"
        if self.regime == "edge":
            gate, *others = (activation.partition("(")[0] for activation in ACTIVATION_SETS[self.acts])
            if not is_bounded(gate):
                return "the edge regime needs bounded gates: unbounded ones under its inputs grow the cell geometrically"
            if all(is_bounded(activation) for activation in others) or "exponential" in others:
                return "the edge regime drives an unbounded candidate or cell activation (not the exponential, whose exact values leave every format) past exp's overflow"
        if CELL_VARIANTS[self.cell][1] and ACTIVATION_SETS[self.acts][0].partition("(")[0] not in UNIT_INTERVAL_GATES:
            return "a coupled forget gate 1 - i exceeds 1 wherever the gate activation is below 0: the cell grows geometrically"
        if self.clip == "pclip" and self.proj == "P0":
            return "a projection clip needs a projection"
        return ""

    @property
    def id(self) -> str:
        """E.g. ``L2-bidir-bm-mixed-h0-P3-bias-nopeep-noclip-std-f32-H13-sat-cpu``."""
        proj = f"P{SHAPES[self.shape].proj_size}" if self.proj == "P" else "P0"
        values = [f"L{self.layers}", self.direction, self.layout, self.lengths, self.init, proj]
        values += [self.bias, self.cell, self.clip, self.acts, self.dtype, self.shape, self.regime, self.device]
        return "-".join(values)

    @classmethod
    def from_id(cls, case_id: str) -> Case:
        """The case whose :attr:`id` is ``case_id``."""
        parts = case_id.split("-")
        names = [factor.name for factor in fields(cls)]
        if len(parts) != len(names):
            raise ValueError(f"case_id: expected {len(names)} '-'-separated values ({', '.join(names)}), got {case_id!r}")
        values = dict(zip(names, parts))
        values["layers"] = int(values["layers"].removeprefix("L"))
        values["proj"] = "P0" if values["proj"] == "P0" else "P"
        case = cls(**values)
        if case.id != case_id:
            raise ValueError(f"case_id: {case_id!r} does not spell a case (closest: {case.id!r})")
        return case

    @cached_property
    def spec(self) -> LSTMSpec:
        """The case's LSTM (made once per case: case tables ask for it hundreds of thousands of times)."""
        shape = SHAPES[self.shape]
        gate, cell, candidate = ACTIVATION_SETS[self.acts]
        peepholes, input_forget = CELL_VARIANTS[self.cell]
        return LSTMSpec(
            input_size=shape.input_size,
            hidden_size=shape.hidden_size,
            num_layers=self.layers,
            bidirectional=self.direction == "bidir",
            reverse=self.direction == "rev",
            proj_size=shape.proj_size if self.proj == "P" else 0,
            bias=self.bias == "bias",
            peepholes=peepholes,
            input_forget=input_forget,
            gate_activation=gate,
            cell_activation=cell,
            candidate_activation=candidate,
            **CLIPS[self.clip],
        )

    @property
    def steps(self) -> int:
        return SHAPES[self.shape].steps

    @property
    def batch(self) -> int:
        return SHAPES[self.shape].batch

    @property
    def large(self) -> bool:
        """Whether the case has one of the size factor's shapes."""
        return self.shape in LARGE_SHAPES

    @property
    def long(self) -> bool:
        """Whether the case has the long shape (:data:`LONG_SHAPE`)."""
        return self.shape == LONG_SHAPE

    @property
    def reduced_precision(self) -> bool:
        return self.dtype in REDUCED_DTYPES

    @property
    def measured_tolerances(self) -> bool:
        """Whether the case is held to measured tolerances alone (see conformance.judge.tolerances):
        the a-priori bound grows with T and L and says little at 500 steps, and its floor of 1
        says little four layers deep, where values shrink to a few thousandths (lstm-parity
        power measured a 40 % drift of torch's outputs passing there)."""
        return self.large or self.long or self.layers > 3 or self.reduced_precision

    @property
    def has_padding(self) -> bool:
        """Whether the case's data has padded positions: mixed lengths hold 1 and T (two
        sequences or more), mixed0 a 0, short only lengths below T (see :func:`draw_lengths`)."""
        return self.lengths in ("mixed0", "short") or (self.lengths == "mixed" and self.batch >= 2 and self.steps >= 2)

    @property
    def gradients_well_posed(self) -> bool:
        """Whether a backend's gradients can be held to the oracle's on this case. Not in the
        saturation regime when the cell activation has a kink at a value the saturated cell
        reaches (relu6: 0 and 6): there gates round to exactly 1 and 0 (float32 beyond
        |z| of about 17, float64 beyond about 37, which the regime reaches), the cell state
        lands exactly on the kink, and which side's slope a computation takes depends on
        its last rounding (measured: on L3-fwd-tm-mixed-zero-P17-bias-cifg-noclip-keras6-f64-wide-sat-cpu,
        88 of 2,664 float64 cell values are exactly 6 and 912 exactly 0, and the oracle's
        two implementations take different sides). Nor, in bfloat16 and float16, with a clip or
        an activation whose derivative jumps (relu, hard_sigmoid...): the format's rounding
        moves values across the jump, so the gradients' measured sensitivity is the jump, not
        rounding (measured: on L2-fwd-tm-none-zero-P0-nobias-nopeep-cclip-std-f16-T1-typ-cpu
        grad_x's tolerance came out 2.2, and TensorFlow's gate-order swap, 0.28 there, passed)."""
        if self.regime == "sat" and self.spec.cell_activation in KINKED_AT_SATURATION:
            return False
        jumps = self.clip != "noclip" or any(bind_activation(activation).kinks() for activation in ACTIVATION_SETS[self.acts])
        return not (self.reduced_precision and jumps)

    def config(self, gradients: bool = False) -> RunConfig:
        """What a backend is asked to support for this case (with gradients, if asked)."""
        return RunConfig(
            spec=self.spec,
            dtype=DTYPE_NAMES[self.dtype],
            device=self.device,
            batch_first=self.layout == "bm",
            lengths=self.lengths != "none",
            zero_length=self.lengths == "mixed0",
            initial_states=self.init == "h0",
            gradients=gradients,
        )


@dataclass(frozen=True)
class CaseData:
    """A case's data, every value exactly representable in the case's dtype.

    x: [T, B, I] or [B, T, I] (case layout) with noise at padded steps; lengths: [B] or
    None; initial_states: (h0 [L*D, B, R], c0 [L*D, B, H]) or None; params: canonical.
    """

    params: LSTMParams
    x: np.ndarray
    lengths: np.ndarray | None
    initial_states: tuple[np.ndarray, np.ndarray] | None


def _is_sorted(values: np.ndarray) -> bool:
    steps = np.diff(values)
    return bool(np.all(steps >= 0) or np.all(steps <= 0))


def draw_lengths(rng: np.random.Generator, kind: str, batch: int, steps: int) -> np.ndarray | None:
    """Lengths of a kind: none; full (all T); mixed (1..T, containing 1 and T when B >= 2,
    neither ascending nor descending when B >= 3); mixed0 (like mixed, with a 0 and a T);
    short (1..T-1, containing 1 and T - 1: every sequence ends before the batch's last step,
    so a backend that takes the longest length for T, or the last step for every
    sequence's end, shows it)."""
    if kind == "none":
        return None
    if kind == "full":
        return np.full(batch, steps, dtype=np.int64)
    low = 0 if kind == "mixed0" else 1
    longest = steps - 1 if kind == "short" else steps
    lengths = rng.integers(low, longest + 1, size=batch)
    required = [0, steps] if kind == "mixed0" else [1, longest]
    positions = rng.choice(batch, size=min(batch, len(required)), replace=False)
    lengths[positions] = required[: len(positions)]
    while batch >= 3 and len(set(lengths.tolist())) > 1 and _is_sorted(lengths):
        lengths = rng.permutation(lengths)
    return lengths.astype(np.int64)


def round_to(dtype: str, array: np.ndarray) -> np.ndarray:
    """``array`` rounded to ``dtype`` (a :data:`DTYPE_NAMES` value) and back to float64, so a
    backend computing in ``dtype`` and the oracle see identical values."""
    return round_to_format(array, dtype)


def parameter_scale(case: Case) -> float:
    """The init scale: the frameworks' default, larger to saturate, smaller for unbounded gates."""
    if case.regime == "sat":
        return SATURATION_SCALE
    return 1.0 if is_bounded(ACTIVATION_SETS[case.acts][0]) else UNBOUNDED_GATE_SCALE


def make_data(case: Case) -> CaseData:
    """The case's parameters and inputs, drawn from ``seed_for(case.id)``."""
    rng = np.random.default_rng(seed_for(case.id))
    spec = case.spec
    params = init_params(spec, seed=int(rng.integers(2**63)), scale=parameter_scale(case))
    steps, batch = case.steps, case.batch
    x = rng.standard_normal((steps, batch, spec.input_size)) * INPUT_STD[case.regime]
    lengths = draw_lengths(rng, case.lengths, batch, steps)
    if lengths is not None:
        padded = np.arange(steps)[:, None] >= lengths[None, :]
        x[padded] = rng.standard_normal((int(padded.sum()), spec.input_size)) * PADDING_STD
    dtype = DTYPE_NAMES[case.dtype]
    initial_states = None
    if case.init == "h0":
        initial_states = (
            round_to(dtype, rng.standard_normal((spec.num_cells, batch, spec.output_size))),
            round_to(dtype, rng.standard_normal((spec.num_cells, batch, spec.hidden_size))),
        )
    if case.layout == "bm":
        x = x.transpose(1, 0, 2).copy()
    return CaseData(
        params=map_params(params, lambda array: round_to(dtype, array)),
        x=round_to(dtype, x),
        lengths=lengths,
        initial_states=initial_states,
    )


def request_for(case: Case, data: CaseData, **overrides) -> RunRequest:
    """The run request of a case's data; ``overrides`` replace request fields."""
    arguments = dict(
        spec=case.spec,
        params=data.params,
        x=data.x,
        lengths=data.lengths,
        initial_states=data.initial_states,
        batch_first=case.layout == "bm",
        dtype=DTYPE_NAMES[case.dtype],
        device=case.device,
    )
    arguments.update(overrides)
    return RunRequest(**arguments)
