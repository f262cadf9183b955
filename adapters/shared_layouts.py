"""Weight layouts several adapters share, kept out of any one backend's file.

torch.nn.LSTM's state dict (torch, its ONNX exports, MindSpore's nn.LSTM): per layer k,
suffix ``_l{k}`` plus ``_reverse`` for the backward direction, ``weight_ih`` [4H, I_k],
``weight_hh`` [4H, R], ``bias_ih`` and ``bias_hh`` [4H], with a projection ``weight_hr``
[P, H]: the canonical layout under other names, gate order i, f, g, o.
"""

from __future__ import annotations

from .layouts import Layout, single

TORCH_LAYOUT = Layout(
    "torch",
    counted_as="two_biases",
    cells="torch",
    arrays=(
        single("weight_ih{cell}", "w_ih"),
        single("weight_hh{cell}", "w_hh"),
        single("bias_ih{cell}", "b_ih"),
        single("bias_hh{cell}", "b_hh"),
        single("weight_hr{cell}", "w_hr"),
    ),
)
