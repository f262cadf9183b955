"""The float64 NumPy LSTM oracle: specification, canonical parameters, forward pass and counts."""

from .activations import ACTIVATION_NAMES, sigmoid
from .backward import LSTMGradients, lstm_backward, validate_upstream
from .counts import LAYOUTS, ONE_BIAS_LAYOUTS, ParameterCount, ParameterTerm, parameter_count
from .forward import LSTMResult, lstm_forward
from .inputs import LSTMInputs, validate_inputs
from .params import GATE_ORDER, PARAM_NAMES, CellParams, LSTMParams, cell_param_shapes, init_params, map_params, validate_params
from .spec import LSTMSpec

__all__ = [
    "ACTIVATION_NAMES",
    "GATE_ORDER",
    "LAYOUTS",
    "ONE_BIAS_LAYOUTS",
    "PARAM_NAMES",
    "CellParams",
    "LSTMGradients",
    "LSTMInputs",
    "LSTMParams",
    "LSTMResult",
    "LSTMSpec",
    "ParameterCount",
    "ParameterTerm",
    "cell_param_shapes",
    "init_params",
    "lstm_backward",
    "lstm_forward",
    "map_params",
    "parameter_count",
    "sigmoid",
    "validate_inputs",
    "validate_params",
    "validate_upstream",
]
