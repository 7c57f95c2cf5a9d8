"""Weights of a shipped model back in its torch module, from its ONNX export: the repository keeps
only the ONNX, and training goes on from it (the plate reader, the document readers, the
detectors). Shared by reader.py, documents/recognizer.py and detector_init.py.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn


def load_folded_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d, weight: np.ndarray, bias: np.ndarray) -> None:
    """A convolution the export folded its batch norm into: the weights into `conv`, and `bn` an
    identity that adds the folded bias (weight 1, running mean 0, running variance 1 - eps)."""
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(np.asarray(weight), dtype=torch.float32))
        bn.weight.fill_(1.0)
        bn.bias.copy_(torch.tensor(np.asarray(bias), dtype=torch.float32))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)


def calibrate_folded_bn(pairs: Sequence[tuple[nn.Module, nn.BatchNorm2d]], forward: Callable[[], object]) -> None:
    """Makes identity batch norms (load_folded_conv) compute in training mode what they compute in
    eval mode. In training a batch norm normalises by its batch's statistics, so an identity would
    whiten the folded output and wreck the weights on the first step. Each `bn` instead gets
    gamma = the standard deviation and beta = the mean + the folded bias of its `conv`'s output,
    measured while `forward()` runs a batch of real inputs with the model in eval mode, and those
    statistics as its running ones: then it computes x + bias in eval mode on any input, and in
    training mode on batches like that one."""
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(k: int):
        return lambda _m, _i, out: stats.__setitem__(k, (out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False)))

    hooks = [conv.register_forward_hook(record(k)) for k, (conv, _) in enumerate(pairs)]
    try:
        with torch.no_grad():
            forward()
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        for k, (_, bn) in enumerate(pairs):
            mean, var = stats[k]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.add_(mean)


def load_lstm(rnn: nn.LSTM, W: np.ndarray, R: np.ndarray, B: np.ndarray) -> None:
    """A bidirectional one-layer ONNX LSTM (W [2, 4H, in], R [2, 4H, H], B [2, 8H]) into `rnn`:
    ONNX orders the gates i, o, f, c; torch i, f, g (c), o."""
    h = R.shape[-1]
    order = np.r_[0:h, 2 * h:3 * h, 3 * h:4 * h, h:2 * h]
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731 (a copy: ONNX arrays are read-only)
    with torch.no_grad():
        for d, sfx in enumerate(("", "_reverse")):
            getattr(rnn, f"weight_ih_l0{sfx}").copy_(t(W[d][order]))
            getattr(rnn, f"weight_hh_l0{sfx}").copy_(t(R[d][order]))
            getattr(rnn, f"bias_ih_l0{sfx}").copy_(t(B[d][:4 * h][order]))
            getattr(rnn, f"bias_hh_l0{sfx}").copy_(t(B[d][4 * h:][order]))
