"""Adapters for Flax's LSTM cells in the ``flax.nnx`` API: ``flax`` runs
``nnx.OptimizedLSTMCell``, ``flax-lstmcell`` runs ``nnx.LSTMCell``, each under ``nnx.RNN``
(``seq_lengths`` for lengths, ``reverse=True, keep_order=True`` for a reverse-only layer)
and ``nnx.Bidirectional``, one per layer, stacked as Flax users stack them. Float64
through JAX's x64 mode, bfloat16 and float16 as the cells' ``dtype`` and ``param_dtype``;
gradients through ``jax.grad``. As Flax's own training loops do, the layers run inside
``jax.jit`` (split into a graph and its state, merged inside), with the weights as
arguments, compiled once per spec, dtype and shape.

Flax's carry is (c, h); its cells have no input-side bias: the input ``Linear`` has none
and the recurrent one has the only bias, so a cell always has a bias (b_ih + b_hh goes
there, and mapping back puts it in b_ih with zeros in b_hh). ``activation_fn`` is both the
candidate's and the cell output's activation, ``gate_fn`` the gates'.

Layout of one (layer, direction) cell, under ``layer{k}.{forward|backward}.``:

- ``flax`` (``OptimizedLSTMCell``): ``dense_i.kernel`` [I_k, 4H] (w_ih transposed),
  ``dense_h.kernel`` [H, 4H] (w_hh transposed), ``dense_h.bias`` [4H]; gate blocks i, f, g, o;
- ``flax-lstmcell`` (``LSTMCell``): per gate ``x`` in i, f, g, o, ``i{x}.kernel`` [I_k, H] and
  ``h{x}.kernel`` [H, H], ``h{x}.bias`` [H] (the forget gate's input module is ``if_``).

Conventions (:mod:`adapters.conventions`): ``nnx.RNN`` documents padded steps as
ignored, and its cell runs on over them: outputs there are unspecified.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec
from reference.activations import BoundActivation, bind_activation

from .base import DTYPES, BaseAdapter, RunConfig, RunRequest, backend_gradients, one_bias_gradients
from .jax_calls import jitted_forward_and_gradients
from .layouts import Layout, Part, Stored, cell_paths, layer_direction_cell, single
from .primitives import Primitive
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

# Oracle activation -> (the jax.nn function, its keyword for each oracle parameter, fixed keywords).
FLAX_ACTIVATIONS = {
    "sigmoid": ("sigmoid", {}, {}),
    "tanh": ("tanh", {}, {}),
    "relu": ("relu", {}, {}),
    "identity": ("identity", {}, {}),
    "hard_sigmoid_relu6": ("hard_sigmoid", {}, {}),
    "silu": ("silu", {}, {}),
    "gelu": ("gelu", {}, {"approximate": False}),
    "gelu_tanh": ("gelu", {}, {"approximate": True}),
    "selu": ("selu", {}, {}),
    "hard_silu": ("hard_silu", {}, {}),
    "relu6": ("relu6", {}, {}),
    "softsign": ("soft_sign", {}, {}),
    "softplus": ("softplus", {}, {}),
    "elu": ("elu", {"alpha": "alpha"}, {}),
    "leaky_relu": ("leaky_relu", {"alpha": "negative_slope"}, {}),
}
# OptimizedLSTMCell's arrays per cell (see the module docstring).
FLAX_LAYOUT = Layout(
    "flax",
    counted_as="flax",
    cells="layer_direction",
    always=("b_ih", "b_hh"),
    arrays=(
        single("{cell}.dense_i.kernel", "w_ih", transposed=True),
        single("{cell}.dense_h.kernel", "w_hh", transposed=True),
        Stored("{cell}.dense_h.bias", (Part(("b_ih", "b_hh")),)),
    ),
)
# LSTMCell's modules of each canonical gate block (i, f, g, o): input side, recurrent side.
PER_GATE_MODULES = (("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho"))
# LSTMCell's arrays per cell: each gate's rows of w_ih and w_hh, and of the one bias.
FLAX_PER_GATE_LAYOUT = Layout(
    "flax-per-gate",
    counted_as="flax_per_gate",
    cells="layer_direction",
    always=("b_ih", "b_hh"),
    arrays=tuple(
        stored
        for gate, (input_side, recurrent_side) in enumerate(PER_GATE_MODULES)
        for stored in (
            Stored(f"{{cell}}.{input_side}.kernel", (Part(("w_ih",), gate),), transposed=True),
            Stored(f"{{cell}}.{recurrent_side}.kernel", (Part(("w_hh",), gate),), transposed=True),
            Stored(f"{{cell}}.{recurrent_side}.bias", (Part(("b_ih", "b_hh"), gate),)),
        )
    ),
)


def flax_activation(spec: LSTMSpec, role: str):
    """The jax.nn callable for one of ``spec``'s activation roles, its parameters bound."""
    return jax_function(spec.activation(role))


def jax_function(bound: BoundActivation):
    """The jax.nn callable of an activation, its parameters bound."""
    import jax

    name, keywords, fixed = FLAX_ACTIVATIONS[bound.name]
    return functools.partial(getattr(jax.nn, name), **fixed, **{keywords[key]: value for key, value in bound.params.items()})


@dataclass(frozen=True)
class JittedFlaxStack:
    """The built layers of one (spec, dtype), split into graphs, parameters and the rest,
    and their jitted calls on parameter states: ``forward(params, x, lengths, h0, c0)``
    returns (outputs [B, T, D*H], h_n list, c_n list); ``gradients(params, x, lengths, h0,
    c0, upstream)`` the gradients of the weighted sum of those results with respect to
    (x, h0, c0, params)."""

    layers: list
    graphs: tuple
    rest: tuple
    forward: object
    gradients: object

    def params(self, adapter: FlaxLSTMAdapter, spec: LSTMSpec, weights: Mapping[str, np.ndarray]) -> list:
        """The layers' parameter states holding ``weights`` (arrays by layout name)."""
        from flax import nnx

        for name, variable in adapter.named_variables(spec, self.layers).items():
            variable.value = weights[name]
        return [nnx.state(layer, nnx.Param) for layer in self.layers]

    def named(self, adapter: FlaxLSTMAdapter, spec: LSTMSpec, params: list) -> dict[str, np.ndarray]:
        """Parameter states (gradients, say) as arrays by layout name."""
        from flax import nnx

        layers = [nnx.merge(graph, state, rest) for graph, state, rest in zip(self.graphs, params, self.rest)]
        return {name: np.asarray(variable.value, dtype=np.float64) for name, variable in adapter.named_variables(spec, layers).items()}


class FlaxLSTMAdapter(BaseAdapter):
    """``nnx.OptimizedLSTMCell`` under ``nnx.RNN`` / ``nnx.Bidirectional`` (see the module docstring)."""

    name = "flax"
    layout = FLAX_LAYOUT
    cell_class = "OptimizedLSTMCell"
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=STRUCTURAL - {"dropout"},
        activations=set(FLAX_ACTIVATIONS),
        dtypes=DTYPES,
        directions={"forward", "bidirectional", "reverse"},
        shared_activations={"candidate_activation", "cell_activation"},
    )
    standalone_source = STANDALONE / "flax_lstm.py"
    # Every new shape compiles the stack (about 0.3 s per layer and direction, more for
    # gradients): the smaller design keeps the default run within budget.
    costly_runs = True
    # The weight variables of one cell, as paths of attributes from the cell.

    def _import_version(self) -> str:
        import jax

        jax.config.update("jax_enable_x64", True)
        import flax

        return f"{flax.__version__} on jax {jax.__version__}"

    def conventions(self, config: RunConfig) -> dict[str, str]:
        return {"padded_outputs": "unspecified"}

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append(f"nnx.{self.cell_class} has no projection")
        if not spec.bias:
            reasons.append(f"nnx.{self.cell_class} always has a bias (its recurrent Linear's)")
        for role in ("gate_activation", "candidate_activation"):
            if spec.activation(role).name not in FLAX_ACTIVATIONS:
                reasons.append(f"jax.nn has no {spec.activation(role).name} for nnx.{self.cell_class}'s {role}")
        return reasons

    def activation_primitive(self, name: str, x: np.ndarray, dtype: str) -> Primitive:
        """The jax.nn function the cell is given (see :mod:`adapters.primitives`), at the
        oracle's default parameters; the derivative by jax.vjp."""
        import jax
        import jax.numpy as jnp

        self.prepare_framework()
        values, pullback = jax.vjp(jax_function(bind_activation(name)), jnp.asarray(x, dtype=dtype))
        derivative = pullback(jnp.ones_like(values))[0]
        return Primitive(np.asarray(values, dtype=np.float64), np.asarray(derivative, dtype=np.float64), str(values.dtype))

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """jnp.matmul (what the cells' Linear layers multiply with)."""
        import jax.numpy as jnp

        self.prepare_framework()
        product = jnp.matmul(*(jnp.asarray(matrix, dtype=dtype) for matrix in (a, b)))
        return Primitive(np.asarray(product, dtype=np.float64), None, str(product.dtype))

    def parameter_count(self, spec: LSTMSpec) -> int:
        import jax
        from flax import nnx

        return sum(int(np.prod(value.shape)) for layer in self.build(spec, "float32") for value in jax.tree.leaves(nnx.state(layer, nnx.Param)))

    def build(self, spec: LSTMSpec, dtype: str) -> list:
        """One Flax module per layer: ``nnx.RNN`` of one cell, or ``nnx.Bidirectional`` of two."""
        import jax.numpy as jnp
        from flax import nnx

        cell_type = getattr(nnx, self.cell_class)
        activations = {"gate_fn": flax_activation(spec, "gate_activation"), "activation_fn": flax_activation(spec, "candidate_activation")}
        layers = []
        for layer in range(spec.num_layers):

            def rnn(reverse: bool, layer: int = layer):
                # The weights are passed in at every call, so none needs a random start: the
                # orthogonal recurrent default takes a QR decomposition, which JAX's LAPACK has
                # for neither bfloat16 nor float16.
                cell = cell_type(
                    spec.layer_input_size(layer), spec.hidden_size, **activations,
                    kernel_init=nnx.initializers.zeros, recurrent_kernel_init=nnx.initializers.zeros,
                    dtype=getattr(jnp, dtype), param_dtype=getattr(jnp, dtype), rngs=nnx.Rngs(0),
                )
                return nnx.RNN(cell, return_carry=True, reverse=reverse, keep_order=True)

            layers.append(nnx.Bidirectional(rnn(False), rnn(True), return_carry=True) if spec.bidirectional else rnn(spec.reverse))
        return layers

    def named_variables(self, spec: LSTMSpec, layers: list) -> dict[str, object]:
        """Every weight variable of the layers under its name in this adapter's layout."""
        named = {}
        for layer, module in enumerate(layers):
            cells = [module.forward_rnn.cell, module.backward_rnn.cell] if spec.bidirectional else [module.cell]
            for direction, cell in enumerate(cells):
                for path in cell_paths(self.layout):
                    named[f"{layer_direction_cell(spec, layer, direction)}.{path}"] = functools.reduce(getattr, path.split("."), cell)
        return named

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        stack = jitted_flax_stack(self, request.spec, request.dtype)
        outputs, h_n, c_n = stack.forward(stack.params(self, request.spec, self._weights(request, params)), *self._arguments(inputs, request.dtype))
        outputs = np.asarray(outputs, dtype=np.float64)
        return LSTMResult(
            outputs if request.batch_first else outputs.transpose(1, 0, 2),
            np.stack([np.asarray(h, dtype=np.float64) for h in h_n]),
            np.stack([np.asarray(c, dtype=np.float64) for c in c_n]),
        )

    def _gradients(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams, upstream: LSTMResult) -> LSTMGradients:
        dtype = request.dtype
        stack = jitted_flax_stack(self, request.spec, dtype)
        terms = (
            np.ascontiguousarray(upstream.outputs.transpose(1, 0, 2)).astype(dtype),
            [h.astype(dtype) for h in upstream.h_n],
            [c.astype(dtype) for c in upstream.c_n],
        )
        grad_x, grad_h0, grad_c0, grad_params = stack.gradients(
            stack.params(self, request.spec, self._weights(request, params)), *self._arguments(inputs, dtype), terms
        )
        canonical = self.backend_to_canonical(request.spec, stack.named(self, request.spec, grad_params))
        return backend_gradients(request, grad_x, grad_h0, grad_c0, one_bias_gradients(canonical), x_batch_major=True)

    def _weights(self, request: RunRequest, params: LSTMParams) -> dict[str, np.ndarray]:
        return {name: array.astype(request.dtype) for name, array in self.canonical_to_backend(request.spec, params).items()}

    @staticmethod
    def _arguments(inputs: LSTMInputs, dtype: str) -> tuple:
        """(x [B, T, I], lengths [B] or None, h0 list, c0 list) in ``dtype``, per cell in canonical order."""
        x = np.ascontiguousarray(inputs.x.transpose(1, 0, 2)).astype(dtype)
        states = [[state.astype(dtype) for state in initial] for initial in (inputs.h0, inputs.c0)]
        return (x, inputs.lengths, *states)


class FlaxLSTMCellAdapter(FlaxLSTMAdapter):
    """``nnx.LSTMCell`` (one Linear per gate and side) under the same wrappers."""

    name = "flax-lstmcell"
    layout = FLAX_PER_GATE_LAYOUT
    cell_class = "LSTMCell"


@functools.cache
def jitted_flax_stack(adapter: FlaxLSTMAdapter, spec: LSTMSpec, dtype: str) -> JittedFlaxStack:
    """The layers of ``spec`` in ``dtype``, built once, and their jitted calls."""
    from flax import nnx

    layers = adapter.build(spec, dtype)
    graphs, _, rest = zip(*(nnx.split(layer, nnx.Param, ...) for layer in layers))

    def forward(params, x, lengths, h0, c0):
        h_n, c_n = [], []
        for index, parts in enumerate(zip(graphs, params, rest)):
            cells = range(index * spec.num_directions, (index + 1) * spec.num_directions)
            carries = [(c0[cell], h0[cell]) for cell in cells]
            carry, x = nnx.merge(*parts)(x, initial_carry=tuple(carries) if spec.bidirectional else carries[0], seq_lengths=lengths)
            for c, h in carry if spec.bidirectional else [carry]:
                h_n.append(h)
                c_n.append(c)
        return x, h_n, c_n

    return JittedFlaxStack(layers, graphs, rest, *jitted_forward_and_gradients(forward))
