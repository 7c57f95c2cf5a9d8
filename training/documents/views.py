"""What the server computes from a photo, computed again here for training, so each network sees
in training what it sees in the server:

1. the photo goes through the detector (document, its four corners, MRZ lines and fields);
2. the document is rectified: the quadrilateral of its corners is warped to an upright rectangle
   (rectify(); inference-server/documents/rectify.ts implements the same arithmetic) with a
   margin around it, and the detector runs again on that view for the zones;
3. each zone is read from the rectified view by a recognizer: box grown by (marginX, marginY) of
   its size, grey (OpenCV's fixed-point BT.601), exact area resampling to HEIGHT x WIDTH,
   standardised (line_input(); the server uses inference-server/ocr/recognizer-input.ts on the box
   it grew itself).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# The detector's classes, in output order (the ONNX `names` metadata).
CLASSES = ["td1", "td2", "td3", "corner_tl", "corner_tr", "corner_br", "corner_bl", "mrz_line",
           "surname", "given_names", "document_number", "nationality", "birth_date", "sex", "expiry_date",
           "issuing_state"]
FIELD_CLASS = {"surname": "surname", "given": "given_names", "number": "document_number", "nationality": "nationality",
               "birth": "birth_date", "sex": "sex", "expiry": "expiry_date", "state": "issuing_state", "mrz": "mrz_line"}
CORNER_BOX = 0.12  # side of a corner's box, as a share of the document's shorter side

# rectification (mirrored in inference-server/documents/rectify.ts)
RECT_MIN_W, RECT_MAX_W = 480, 1400
RECT_MARGIN = 0.04
PAD = 114


def rect_geometry(corners: np.ndarray) -> tuple[int, int, int]:
    """Width and height of the upright document in the view, and the margin around it."""
    tl, tr, br, bl = corners.astype(np.float64)
    w = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    W = int(min(max(round(w), RECT_MIN_W), RECT_MAX_W))
    H = max(8, int(round(W * h / max(w, 1e-6))))
    return W, H, int(round(RECT_MARGIN * W))


def rectify(img: np.ndarray, corners: np.ndarray):
    """The rectified view of the document whose corners (tl, tr, br, bl) are given, and the
    homography from photo to view."""
    W, H, m = rect_geometry(corners)
    dst = np.array([[m, m], [m + W, m], [m + W, m + H], [m, m + H]], np.float32)
    M = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    view = cv2.warpPerspective(img, M, (W + 2 * m, H + 2 * m), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD, PAD, PAD))
    return view, M


def warp_points(M, pts):
    p = np.c_[pts, np.ones(len(pts))] @ M.T
    return (p[:, :2] / p[:, 2:3]).astype(np.float32)


def aabb(q: np.ndarray) -> np.ndarray:
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()], np.float32)


def detector_labels(kind: str, corners: np.ndarray, zones: list[tuple[str, np.ndarray]], size: tuple[int, int]) -> list:
    """[class, x1, y1, x2, y2] in the image's pixels: the document's box (class by type), a box
    centred on each corner, and the axis-aligned box of every read zone."""
    w, h = size
    out = []
    doc = aabb(corners)
    out.append([CLASSES.index(kind.lower()), *doc])
    tl, tr, br, bl = corners
    short = min(np.linalg.norm(tr - tl), np.linalg.norm(bl - tl))
    s = CORNER_BOX * short / 2
    for k, p in enumerate(corners):
        out.append([3 + k, p[0] - s, p[1] - s, p[0] + s, p[1] + s])
    for name, q in zones:
        if name in FIELD_CLASS:
            out.append([CLASSES.index(FIELD_CLASS[name]), *aabb(q)])
    lab = np.array(out, np.float32)
    lab[:, [1, 3]] = lab[:, [1, 3]].clip(0, w)
    lab[:, [2, 4]] = lab[:, [2, 4]].clip(0, h)
    keep = ((lab[:, 3] - lab[:, 1]) >= 2) & ((lab[:, 4] - lab[:, 2]) >= 2)
    return lab[keep]


def jitter_corners(rng, corners: np.ndarray, sigma: float) -> np.ndarray:
    """Corners as a detector would place them: each off by N(0, sigma x the shorter side)."""
    tl, tr, br, bl = corners
    short = min(np.linalg.norm(tr - tl), np.linalg.norm(bl - tl))
    return (corners + rng.normal(0, sigma * short, corners.shape)).astype(np.float32)


# --- recognizer input (same arithmetic as training/reader.py and recognizer-input.ts) ----------------


def grey(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)


def area_weights(lo: float, hi: float, n_out: int) -> tuple[int, np.ndarray]:
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
    """grey image + box -> [height, width] float32: the box grown by (mx, my) of its size (clipped),
    area-resampled, standardised."""
    h, w = g.shape
    x1, y1, x2, y2 = grow(box, mx, my, w, h)
    fx, wx = area_weights(x1, x2, width)
    fy, wy = area_weights(y1, y2, height)
    region = g[fy:fy + wy.shape[1], fx:fx + wx.shape[1]].astype(np.float64)
    if region.shape != (wy.shape[1], wx.shape[1]):  # the last row/column clipped at the edge
        region = np.pad(region, ((0, wy.shape[1] - region.shape[0]), (0, wx.shape[1] - region.shape[1])), mode="edge")
    out = wy @ region @ wx.T
    return ((out - out.mean()) / max(out.std(), std_floor)).astype(np.float32)
