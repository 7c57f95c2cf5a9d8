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

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# the recognizers' input, shared with training/reader.py (re-exported for recognizer.py)
from line_input import area_weights, grey, grow, line_input  # noqa: E402,F401

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


