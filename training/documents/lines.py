"""Synthetic text lines for the recognizers, cut the way they are cut from rectified photos but made
without photographing a whole document (a photo costs ~30x more CPU): an MRZ band or a labelled
field drawn with the documents' own background, fonts and texts (render.py), then taken through
what a photo does to it: a slightly wrong rectification (rotation, shear, vertical stretch), the
photo's scale (5-11 px/mm), light, blur, noise, JPEG. Seeded per (seed, index) like the photos.
The recognizers train on these and on zones of the photos themselves."""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .identities import make_holder, pick
from .layouts import LABELS, LAYOUTS, NAME_LANG, NATIONALITY_WORDS
from .render import MRZ_CAP_MM, MRZ_LINE_MM, MRZ_PITCH_MM, PX_PER_MM, cap_size, field_texts, font, mrz_fields, palette, security_background

FIELDS = ["surname", "given", "number", "nationality", "birth", "sex", "expiry", "state", "issue", "place", "authority", "height", "can"]


def holder_for(rng, layout):
    nat = layout.state
    if layout.foreign_holders:
        nat = pick(rng, [k for k in NATIONALITY_WORDS if k != layout.state])
    return make_holder(rng, NAME_LANG[nat], nat, layout.number_style, layout.validity, layout.personal, long_numbers=layout.kind != "TD3")


def degrade(rng, img: np.ndarray, box: np.ndarray):
    """A strip (grey or RGB) with a text box -> the strip as a rectified photo shows it, and the box."""
    h, w = img.shape[:2]
    # rectification error: rotation, shear, stretch about the box centre
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    ang = math.radians(rng.normal(0, 0.5))
    sh = rng.normal(0, 0.03)
    sy = math.exp(rng.normal(0, 0.04))
    A = np.array([[math.cos(ang), -math.sin(ang) + sh], [math.sin(ang) * sy, math.cos(ang) * sy]], np.float32)
    M = np.hstack([A, (np.array([cx, cy]) - A @ np.array([cx, cy]))[:, None]]).astype(np.float32)
    img = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    corners = np.array([[box[0], box[1], 1], [box[2], box[1], 1], [box[2], box[3], 1], [box[0], box[3], 1]], np.float32) @ M.T
    box = np.array([corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()], np.float32)
    # the photo's scale
    px_mm = math.exp(rng.uniform(math.log(5.2), math.log(11.0)))
    s = px_mm / PX_PER_MM
    img = cv2.resize(img, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    box = box * s
    f = img.astype(np.float32)
    # light: a gradient, sometimes glare
    xx = np.linspace(-0.5, 0.5, f.shape[1], dtype=np.float32)[None, :]
    f = f * (1 + rng.normal(0, 0.25) * xx)[..., None] if f.ndim == 3 else f * (1 + rng.normal(0, 0.25) * xx)
    if rng.random() < 0.2:
        c = rng.uniform(0, f.shape[1])
        g = np.exp(-((np.arange(f.shape[1]) - c) ** 2) / (2 * (rng.uniform(0.05, 0.3) * f.shape[1]) ** 2)).astype(np.float32) * rng.uniform(0.2, 0.55)
        g = g[None, :, None] if f.ndim == 3 else g[None, :]
        f = f * (1 - g) + 255 * g
    f = (f - 128) * rng.uniform(0.75, 1.15) + 128 + rng.uniform(-25, 25)
    r = rng.random()
    if r < 0.35:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 0.13 * px_mm))
    elif r < 0.45:
        k = int(rng.integers(3, max(4, int(0.6 * px_mm))))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1 / k
        R = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
        kern = cv2.warpAffine(kern, R, (k, k))
        f = cv2.filter2D(f, -1, kern / max(kern.sum(), 1e-6))
    if rng.random() < 0.7:
        f = f + rng.standard_normal(f.shape, dtype=np.float32) * rng.uniform(1, 6)
    img = np.clip(f, 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 96))])
    img = cv2.imdecode(jpg, cv2.IMREAD_UNCHANGED)
    return img, box


def to_grey(img):
    if img.ndim == 2:
        return img
    r, g, b = (img[..., i].astype(np.int32) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.uint8)


def mrz_line(seed: int, idx: int, fonts) -> dict:
    rng = np.random.default_rng([seed, idx, 1])
    layout = pick(rng, LAYOUTS)
    lines = mrz_fields(layout, holder_for(rng, layout))
    k = int(rng.integers(len(lines)))
    s = PX_PER_MM
    pitch = MRZ_PITCH_MM * s * rng.uniform(0.985, 1.015)
    n = len(lines[0])
    margin = 4 * s
    W = int(n * pitch + 2 * margin)
    H = int(MRZ_LINE_MM * s * 3.2)
    pal = palette(rng, rng.uniform(0, 1))
    bg = security_background(rng, W, H, pal)
    fade = rng.uniform(0.5, 0.85)
    bg = (bg.astype(np.float32) * (1 - fade) + 250 * fade).astype(np.uint8)
    pil = Image.fromarray(bg)
    d = ImageDraw.Draw(pil)
    mf = font(fonts["ocrb"], cap_size(fonts["ocrb"], MRZ_CAP_MM * s * rng.uniform(0.95, 1.05)))
    ink = tuple(int(v) for v in rng.integers(0, 45, 3))
    line_h = MRZ_LINE_MM * s * rng.uniform(0.98, 1.02)
    base_mid = H / 2 + MRZ_CAP_MM * s / 2
    box = None
    for dk in (-1, 0, 1):  # the neighbouring lines, as a crop of a real MRZ shows them
        j = k + dk
        if not 0 <= j < len(lines):
            continue
        y = base_mid + dk * line_h
        boxes = []
        for i, ch in enumerate(lines[j]):
            x = margin + (i + 0.5) * pitch
            d.text((x, y), ch, font=mf, fill=ink, anchor="ms")
            if dk == 0:
                boxes.append(d.textbbox((x, y), ch, font=mf, anchor="ms"))
        if dk == 0:
            b = np.array(boxes, np.float32)
            box = np.array([b[0, 0], b[:, 1].min(), b[-1, 2], b[:, 3].max()], np.float32)
    img, box = degrade(rng, np.array(pil), box)
    return {"img": to_grey(img), "box": box, "text": lines[k], "field": "mrz", "layout": layout.key, "doc": -1}


def field_line(seed: int, idx: int, fonts) -> dict:
    rng = np.random.default_rng([seed, idx, 2])
    layout = pick(rng, LAYOUTS)
    texts = field_texts(rng, layout, holder_for(rng, layout))
    name = pick(rng, FIELDS) if rng.random() < 0.3 else pick(rng, FIELDS[:8])
    text = texts[name]
    s = PX_PER_MM
    fam = pick(rng, fonts["families"])
    path = fam["bold"] if rng.random() < 0.5 else fam["regular"]
    if rng.random() < 0.15:
        path = pick(rng, fonts["mono"])
    cap = rng.uniform(2.0, 2.6) * s
    f = font(path, cap_size(path, cap))
    label_cap = rng.uniform(1.05, 1.35) * s
    lf = font(fam["regular"], cap_size(fam["regular"], label_cap))
    tw = ImageDraw.Draw(Image.new("L", (1, 1))).textlength(text, font=f)
    W = int(tw + rng.uniform(8, 40) * s)
    H = int(cap * 3.4)
    pal = palette(rng, rng.uniform(0, 1))
    pil = Image.fromarray(security_background(rng, W, H, pal))
    d = ImageDraw.Draw(pil)
    x = rng.uniform(2, 5) * s
    y = H / 2 + cap / 2
    label = " / ".join(LABELS[lang][name] for lang in layout.label_langs)
    d.text((x, y - cap - 0.7 * s), label, font=lf, fill=pal["label"], anchor="ls")
    d.text((x, y), text, font=f, fill=pal["ink"], anchor="ls")
    l, t, r, b = d.textbbox((x, y), text, font=f, anchor="ls")
    if rng.random() < 0.5:  # the next field's label and value to the right, as in a row
        other = texts[pick(rng, FIELDS)]
        d.text((r + rng.uniform(4, 12) * s, y), other, font=f, fill=pal["ink"], anchor="ls")
    img, box = degrade(rng, np.array(pil), np.array([l, t, r, b], np.float32))
    return {"img": to_grey(img), "box": box, "text": text, "field": name, "layout": layout.key, "doc": -1}
