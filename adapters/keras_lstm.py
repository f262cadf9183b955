"""What the three Keras 3 adapters share: ``keras.layers.LSTM``'s layout, and building and
running a stack of it on whichever backend the process's ``KERAS_BACKEND`` names.

Keras picks its backend once per process, when it is first imported; each adapter
(``keras-torch``, ``keras-jax``, ``keras-tensorflow``) sets it before that and refuses to
load where Keras already runs on another one. Its own file adds the gradients, through
that backend's autodiff.

Layout of one (layer, direction) cell, under ``layer{k}.{forward|backward}.`` (a
reverse-only LSTM's one direction is ``backward``):

- ``kernel`` [I_k, 4H]: canonical w_ih, transposed;
- ``recurrent_kernel`` [H, 4H]: canonical w_hh, transposed;
- ``bias`` [4H] (with ``use_bias``): b_ih + b_hh.

Gate blocks inside 4H are ordered i, f, c, o: the canonical order. Keras has one bias
where the canonical layout has two; mapping back puts it all in b_ih and zeros in b_hh.

A stack is built as Keras users build it: one ``LSTM`` per layer
(``return_sequences=True, return_state=True``), wrapped in ``Bidirectional`` for two
directions and ``go_backwards=True`` for the reverse direction only (whose outputs Keras
returns in reversed time order; they are flipped back). Lengths become a boolean mask
[B, T]. ``recurrent_activation`` is the gate activation and ``activation`` both the
candidate's and the cell output's, so Keras runs only specs where those two agree.

Conventions (:mod:`adapters.conventions`): ``Bidirectional`` zeroes the outputs at masked
steps (it sets ``zero_output_for_mask``), while a lone ``LSTM`` carries its previous
output there; what it carries before any valid step depends on the Keras backend, so each
adapter declares its own.

Every layer runs in the request's dtype (its ``dtype``): float32, float64, bfloat16 or
float16, on each of the three backends.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from reference import LSTMGradients, LSTMInputs, LSTMParams, LSTMResult, LSTMSpec
from reference.activations import activation_text

from .base import DTYPES, BaseAdapter, RunConfig, RunRequest, backend_gradients, one_bias_gradients
from .layouts import Layout, Part, Stored, layer_direction_cell, single, to_backend, to_canonical
from .primitives import Primitive
from .standalone import STANDALONE
from .support import INTERFACE_VERSION, STRUCTURAL, Support

# keras.layers.LSTM's arrays per cell (see the module docstring).
KERAS_LAYOUT = Layout(
    "keras",
    counted_as="keras",
    cells="layer_direction",
    arrays=(
        single("{cell}.kernel", "w_ih", transposed=True),
        single("{cell}.recurrent_kernel", "w_hh", transposed=True),
        Stored("{cell}.bias", (Part(("b_ih", "b_hh")),)),
    ),
)
# Oracle activation name -> (the name Keras knows it by, the oracle parameters that name
# implies). Keras serializes activations by name (``Bidirectional`` clones its layer from
# its config), so parameters other than those cannot be passed.
KERAS_ACTIVATIONS = {
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "relu": ("relu", {}),
    "identity": ("linear", {}),
    "hard_sigmoid_relu6": ("hard_sigmoid", {}),
    "silu": ("silu", {}),
    "gelu": ("gelu", {}),
    "gelu_tanh": ("lstm_conformance>gelu_tanh", {}),
    "selu": ("selu", {}),
    "hard_silu": ("hard_silu", {}),
    "relu6": ("relu6", {}),
    "exponential": ("exponential", {}),
    "softsign": ("softsign", {}),
    "softplus": ("softplus", {}),
    "elu": ("elu", {"alpha": 1.0}),
    "leaky_relu": ("leaky_relu", {"alpha": 0.2}),
}


def keras_activation_reason(spec: LSTMSpec, role: str) -> str:
    """Why Keras cannot take ``spec``'s activation in ``role`` ('' when it can)."""
    bound = spec.activation(role)
    if bound.name not in KERAS_ACTIVATIONS:
        return f"keras.activations has no {bound.name}"
    implied = KERAS_ACTIVATIONS[bound.name][1]
    if dict(bound.params) != implied:
        return f"keras.activations' {bound.name} takes no parameters other than {implied or 'none'} in a layer's config"
    return ""


@functools.cache
def register_activations() -> None:
    """Register the activations Keras has only as an option of another (gelu's tanh
    approximation) under names its configs can hold."""
    import keras

    @keras.saving.register_keras_serializable(package="lstm_conformance", name="gelu_tanh")
    def gelu_tanh(x):
        return keras.activations.gelu(x, approximate=True)


def keras_activation(spec: LSTMSpec, role: str):
    """The ``activation`` argument Keras takes for one of ``spec``'s activation roles."""
    return keras_function(spec.activation(role).name)


def keras_function(name: str):
    """Keras's function for the oracle's activation ``name`` (at the parameters its name implies)."""
    import keras

    register_activations()
    keras_name = KERAS_ACTIVATIONS[name][0]
    return keras.saving.get_registered_object(keras_name) if ">" in keras_name else keras.activations.get(keras_name)


def float64_numpy(tensor) -> np.ndarray:
    """A tensor of the Keras backend as float64 NumPy (cast first: NumPy has no bfloat16)."""
    import keras

    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float64")), dtype=np.float64)


class KerasLSTMAdapter(BaseAdapter):
    """``keras.layers.LSTM`` stacks on the Keras backend ``keras_backend`` (set by each subclass)."""

    keras_backend: str
    layout = KERAS_LAYOUT
    interface_version = INTERFACE_VERSION
    supports = Support(
        features=(STRUCTURAL - {"dropout"}) | {"last_output_only"},
        activations=set(KERAS_ACTIVATIONS),
        dtypes=DTYPES,
        directions={"forward", "bidirectional", "reverse"},
        shared_activations={"candidate_activation", "cell_activation"},
    )
    standalone_source = STANDALONE / "keras_lstm.py"

    def _import_version(self) -> str:
        os.environ["KERAS_BACKEND"] = self.keras_backend
        self._prepare_backend()
        import keras

        running = keras.backend.backend()
        if running != self.keras_backend:
            raise ImportError(f"Keras runs on {running} in this process (KERAS_BACKEND), not {self.keras_backend}")
        return f"{keras.__version__} on {self.keras_backend} {self._backend_version()}"

    def _prepare_backend(self) -> None:
        """Set up the backend framework before Keras imports it (float64 for JAX)."""

    def _backend_version(self) -> str:
        """The version of the framework Keras runs on."""
        raise NotImplementedError

    def conventions(self, config: RunConfig) -> dict[str, str]:
        if config.spec.bidirectional:
            return {}
        return {"padded_outputs": self.masked_output_convention}

    masked_output_convention: str = "carried"

    def _unsupported(self, config: RunConfig) -> list[str]:
        spec = config.spec
        reasons = []
        if spec.proj_size:
            reasons.append("keras.layers.LSTM has no projection")
        reasons += filter(None, (keras_activation_reason(spec, role) for role in ("gate_activation", "candidate_activation")))
        return reasons

    def parameter_count(self, spec: LSTMSpec) -> int:
        return sum(int(np.prod(weight.shape)) for layer in self.build(spec, "float32") for weight in layer.weights)

    def activation_primitive(self, name: str, x: np.ndarray, dtype: str) -> Primitive:
        """keras.activations' function (what the layer computes with: see :mod:`adapters.primitives`),
        the derivative by the Keras backend's autodiff."""
        self.prepare_framework()
        import keras

        values, derivative = self.with_derivative(keras_function(name), x, dtype)
        computed = activation_text(name, **KERAS_ACTIVATIONS[name][1])
        return Primitive(float64_numpy(values), float64_numpy(derivative), keras.backend.standardize_dtype(values.dtype), computed)

    def with_derivative(self, function, x: np.ndarray, dtype: str) -> tuple:
        """``function`` on ``x`` in ``dtype`` and its elementwise derivative, as backend tensors."""
        raise NotImplementedError

    def matmul_primitive(self, a: np.ndarray, b: np.ndarray, dtype: str) -> Primitive:
        """keras.ops.matmul (what Keras's generic RNN loop multiplies with)."""
        self.prepare_framework()
        import keras

        product = keras.ops.matmul(*(keras.ops.convert_to_tensor(matrix, dtype=dtype) for matrix in (a, b)))
        return Primitive(float64_numpy(product), None, keras.backend.standardize_dtype(product.dtype))

    def build(self, spec: LSTMSpec, dtype: str, params: LSTMParams | None = None, last_output_only: bool = False) -> list:
        """One built Keras layer per LSTM layer (``Bidirectional`` for two directions), with
        ``params`` loaded when given; with ``last_output_only`` the top layer returns only
        each sequence's last output (``return_sequences=False``)."""
        self.prepare_framework()
        import keras

        layers = []
        for layer in range(spec.num_layers):
            cell = functools.partial(
                keras.layers.LSTM,
                spec.hidden_size,
                activation=keras_activation(spec, "candidate_activation"),
                recurrent_activation=keras_activation(spec, "gate_activation"),
                use_bias=spec.bias,
                return_sequences=not (last_output_only and layer == spec.num_layers - 1),
                return_state=True,
                dtype=dtype,
                # Every weight is loaded (or, on JAX, passed in) before a run, so none needs a random
                # start: Keras's orthogonal recurrent default takes a QR decomposition, which neither
                # torch nor JAX's LAPACK has for bfloat16.
                kernel_initializer="zeros",
                recurrent_initializer="zeros",
            )
            built = keras.layers.Bidirectional(cell(), dtype=dtype) if spec.bidirectional else cell(go_backwards=spec.reverse)
            built.build((None, None, spec.layer_input_size(layer)))
            layers.append(built)
        if params is not None:
            self.load(spec, layers, params)
        return layers

    def load(self, spec: LSTMSpec, layers: list, params: LSTMParams) -> None:
        """Assign canonical parameters to the built layers."""
        arrays = to_backend(KERAS_LAYOUT, spec, params)
        for name, weight in self.named_weights(spec, layers):
            weight.assign(arrays[name].astype(weight.dtype))

    @staticmethod
    def named_weights(spec: LSTMSpec, layers: list) -> list[tuple[str, object]]:
        """Every weight variable of the built layers under its name in this adapter's layout."""
        named = []
        for layer, built in enumerate(layers):
            cells = [built.forward_layer.cell, built.backward_layer.cell] if spec.bidirectional else [built.cell]
            for direction, cell in enumerate(cells):
                prefix = layer_direction_cell(spec, layer, direction)
                named += [(f"{prefix}.{weight.path.rsplit('/', 1)[-1]}", weight) for weight in cell.weights]
        return named

    def _run(self, request: RunRequest, inputs: LSTMInputs, params: LSTMParams) -> LSTMResult:
        import keras

        spec, dtype = request.spec, request.dtype
        layers = self.build(spec, dtype, params, request.last_output_only)
        states = [[state.astype(dtype) for state in initial] for initial in (inputs.h0, inputs.c0)]
        outputs, h_n, c_n = self.stack(spec, layers, self.batch_major(inputs, dtype), self.mask(inputs), *states)
        numpy = keras.ops.convert_to_numpy
        return LSTMResult(
            self.to_request_layout(request, numpy(outputs)),
            np.stack([numpy(h) for h in h_n]).astype(np.float64),
            np.stack([numpy(c) for c in c_n]).astype(np.float64),
        )

    @staticmethod
    def upstream_terms(request: RunRequest, upstream: LSTMResult) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """The upstream gradients as Keras's results are shaped, in the run's dtype: outputs
        [B, T, D*R], then one [B, R] / [B, H] array per cell for h_n and c_n."""
        outputs = np.ascontiguousarray(upstream.outputs.transpose(1, 0, 2)).astype(request.dtype)
        return outputs, [h.astype(request.dtype) for h in upstream.h_n], [c.astype(request.dtype) for c in upstream.c_n]

    @staticmethod
    def collect_gradients(request: RunRequest, grad_x, grad_h0: list, grad_c0: list, named: dict[str, np.ndarray]) -> LSTMGradients:
        """The backend's gradients in the canonical layout: ``grad_x`` [B, T, I] as Keras has
        it, per-cell initial-state gradients, and each weight's gradient by layout name."""
        params = to_canonical(KERAS_LAYOUT, request.spec, {name: np.asarray(grad, dtype=np.float64) for name, grad in named.items()})
        return backend_gradients(request, grad_x, grad_h0, grad_c0, one_bias_gradients(params), x_batch_major=True)

    def stack(self, spec: LSTMSpec, layers: list, x, mask, h0: list, c0: list, call=None):
        """Run the layers over ``x`` [B, T, I] (a backend tensor) with ``mask`` [B, T] or None
        and per-cell initial states (canonical order); returns (outputs [B, T, D*R], or [B, D*R]
        when the top layer returns its last output only, h_n list, c_n list) as backend tensors. ``call(layer, index, *args, **kwargs)`` runs one layer
        (default: calling it), so that JAX can run it statelessly."""
        import keras

        call = call or (lambda layer, index, *args, **kwargs: layer(*args, **kwargs))
        h_n, c_n = [], []
        for index, layer in enumerate(layers):
            cells = range(index * spec.num_directions, (index + 1) * spec.num_directions)
            states = [state for cell in cells for state in (h0[cell], c0[cell])]
            x, *final = call(layer, index, x, mask=mask, initial_state=states)
            if spec.reverse and layer.return_sequences:
                x = keras.ops.flip(x, axis=1)
            h_n += final[0::2]
            c_n += final[1::2]
        return x, h_n, c_n

    @staticmethod
    def mask(inputs: LSTMInputs) -> np.ndarray | None:
        """Keras's mask for the lengths: [B, T], True at valid steps."""
        if inputs.lengths is None:
            return None
        return np.arange(inputs.steps)[None, :] < inputs.lengths[:, None]

    @staticmethod
    def batch_major(inputs: LSTMInputs, dtype: str) -> np.ndarray:
        """The inputs [B, T, I] in ``dtype``."""
        return np.ascontiguousarray(inputs.x.transpose(1, 0, 2)).astype(dtype)

    @staticmethod
    def to_request_layout(request: RunRequest, outputs: np.ndarray) -> np.ndarray:
        """Keras's [B, T, D*R] outputs in the request's layout, float64 (its last outputs
        [B, D*R] as they are, for a request of those only)."""
        outputs = np.asarray(outputs, dtype=np.float64)
        return outputs if request.batch_first or request.last_output_only else outputs.transpose(1, 0, 2)
