"""The recognizers' input, one definition for the plate reader (training/reader.py) and the
document readers (training/documents/views.py), implemented again by the server in
inference-server/ocr/recognizer-input.ts (parity: test/fixtures/make_recognizer_input.py):

  1. the box grows by (mx, my) x its width/height on each side, clipped to the image;
  2. grey = (4899 R + 9617 G + 1868 B + 8192) >> 14 (OpenCV's fixed-point BT.601);
  3. the (fractional) box is resampled to height x width by exact area weights (each output pixel
     averages the source area it covers);
  4. standardised: (v - mean) / max(std, std_floor).
"""
from __future__ import annotations

import math

import numpy as np


def grey(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)


def area_weights(lo: float, hi: float, n_out: int) -> tuple[int, np.ndarray]:
    """Weights [n_out, span] over source pixels first..first+span-1 for the interval [lo, hi)."""
    step = (hi - lo) / n_out
    first = int(math.floor(lo))
    last = int(math.ceil(hi))
    w = np.zeros((n_out, max(last - first, 1)), np.float64)
    for i in range(n_out):
        a, b = lo + i * step, lo + (i + 1) * step
        for j in range(int(math.floor(a)), min(int(math.ceil(b)), last)):  # b may pass hi by a rounding error
            ov = min(b, j + 1) - max(a, j)
            if ov > 0:
                w[i, j - first] += ov / step
    return first, w


def grow(box, mx: float, my: float, w: int, h: int):
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    return (max(0.0, x1 - mx * bw), max(0.0, y1 - my * bh), min(float(w), x2 + mx * bw), min(float(h), y2 + my * bh))


def line_input(g: np.ndarray, box, height: int, width: int, mx: float, my: float, std_floor: float = 4.0) -> np.ndarray:
    """grey image [H, W] uint8 + box (x1, y1, x2, y2) in its pixels -> [height, width] float32."""
    h, w = g.shape
    x1, y1, x2, y2 = grow(box, mx, my, w, h)
    fx, wx = area_weights(x1, x2, width)
    fy, wy = area_weights(y1, y2, height)
    region = g[fy:fy + wy.shape[1], fx:fx + wx.shape[1]].astype(np.float64)
    if region.shape != (wy.shape[1], wx.shape[1]):  # the last row/column clipped at the edge
        region = np.pad(region, ((0, wy.shape[1] - region.shape[0]), (0, wx.shape[1] - region.shape[1])), mode="edge")
    out = wy @ region @ wx.T
    return ((out - out.mean()) / max(out.std(), std_floor)).astype(np.float32)
