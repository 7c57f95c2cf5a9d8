"""Draws one document face flat, at PX_PER_MM: security-print-like background (split-fountain
tints, guilloche waves and rosettes, microtext, a faint emblem), header, portrait placeholder with
its ghost image, signature, the visual zone's labelled fields, and the MRZ in OCR-B on its clear
band. Returns the image and every zone (the value of each field, each MRZ line) as a box in the
document's pixels."""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import mrz as M
from .identities import Holder, make_holder, pick, rand_chars, yymmdd, NAMES
from .layouts import LABELS, NATIONALITY_WORDS, NAME_LANG, PLACES, SIZES_MM, Layout, format_date

PX_PER_MM = 10.0
MRZ_PITCH_MM = 2.54      # OCR-B size 1: 10 characters per inch
MRZ_CAP_MM = 2.35
MRZ_LINE_MM = 4.25


@dataclass
class Rendered:
    image: np.ndarray                    # H x W x 3 uint8 RGB
    zones: list[tuple[str, np.ndarray]]  # (zone name, [x1, y1, x2, y2] in document pixels)
    fields: dict                         # ground truth the server should return
    viz: dict                            # visual-zone texts as printed, by field
    mrz: list[str]
    layout: str
    kind: str


_font_cache: dict = {}


def font(path: str, size: float) -> ImageFont.FreeTypeFont:
    key = (path, int(round(size)))
    if key not in _font_cache:
        _font_cache[key] = ImageFont.truetype(path, max(6, key[1]))
    return _font_cache[key]


def cap_size(path: str, cap_px: float) -> float:
    """Font size whose capital H is cap_px tall."""
    f = font(path, 100)
    l, t, r, b = f.getbbox("H", anchor="ls")
    return 100 * cap_px / max(1, b - t)


def hsv(h, s, v):
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1)))


def palette(rng, hue):
    h = hue + rng.normal(0, 0.03)
    return {
        "bg1": hsv(h, rng.uniform(0.06, 0.18), rng.uniform(0.9, 0.98)),
        "bg2": hsv(h + rng.uniform(0.08, 0.25), rng.uniform(0.06, 0.2), rng.uniform(0.88, 0.98)),
        "line": hsv(h, rng.uniform(0.2, 0.45), rng.uniform(0.7, 0.88)),
        "line2": hsv(h + 0.5, rng.uniform(0.15, 0.35), rng.uniform(0.72, 0.9)),
        "title": hsv(h, rng.uniform(0.5, 0.9), rng.uniform(0.25, 0.55)),
        "band": hsv(h, rng.uniform(0.35, 0.7), rng.uniform(0.45, 0.75)),
        "label": hsv(h, rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.5)),
        "ink": (int(rng.integers(0, 40)), int(rng.integers(0, 40)), int(rng.integers(0, 50))),
    }


# --- background -----------------------------------------------------------------------------------


def security_background(rng, w: int, h: int, pal) -> np.ndarray:
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    a = np.array(pal["bg1"], np.float32)
    b = np.array(pal["bg2"], np.float32)
    k = rng.integers(3)
    t = xs if k == 0 else (ys if k == 1 else np.sqrt((xs - 0.5) ** 2 + (ys - 0.5) ** 2) * 1.4)
    t = np.broadcast_to(t, (h, w, 1))
    img = (a * (1 - t) + b * t).astype(np.float32)
    img = np.ascontiguousarray(img)
    # guilloche waves: families of phase-shifted sines
    for fam in range(int(rng.integers(1, 4))):
        col = pal["line"] if fam % 2 == 0 else pal["line2"]
        lam = rng.uniform(0.15, 0.5) * w
        amp = rng.uniform(0.01, 0.06) * h
        n = int(rng.integers(25, 70))
        y0s = np.linspace(-0.1 * h, 1.1 * h, n)
        x = np.arange(0, w + 8, 4, dtype=np.float32)
        drift = rng.uniform(0.02, 0.15)
        ang = rng.uniform(-0.3, 0.3)
        for i, y0 in enumerate(y0s):
            ph = i * drift * 2 * math.pi
            y = y0 + amp * np.sin(2 * math.pi * x / lam + ph) + amp * 0.4 * np.sin(2 * math.pi * x / (lam * 0.37) - ph) + ang * (x - w / 2)
            pts = np.stack([x, y], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, col, 1, cv2.LINE_AA)
    # rosettes (hypotrochoids)
    for _ in range(int(rng.integers(0, 3))):
        cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
        R = rng.uniform(0.15, 0.35) * h
        r = R / rng.integers(5, 13) * rng.uniform(0.9, 1.1)
        d = r * rng.uniform(0.6, 1.4)
        t_ = np.linspace(0, 2 * math.pi * 12, 3000)
        for ph in np.linspace(0, 2 * math.pi, int(rng.integers(3, 8)), endpoint=False):
            x = (R - r) * np.cos(t_ + ph) + d * np.cos((R - r) / r * t_)
            y = (R - r) * np.sin(t_ + ph) - d * np.sin((R - r) / r * t_)
            pts = np.stack([cx + x, cy + y], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, pal["line2"] if rng.random() < 0.5 else pal["line"], 1, cv2.LINE_AA)
    # faint emblem
    if rng.random() < 0.7:
        cx, cy, rr = rng.uniform(0.3, 0.8) * w, rng.uniform(0.3, 0.7) * h, rng.uniform(0.15, 0.35) * h
        em = np.zeros((h, w), np.float32)
        cv2.circle(em, (int(cx), int(cy)), int(rr), 1.0, max(2, int(rr * 0.06)), cv2.LINE_AA)
        for j in range(int(rng.integers(5, 13))):
            a_ = 2 * math.pi * j / 12
            p = (int(cx + 0.6 * rr * math.cos(a_)), int(cy + 0.6 * rr * math.sin(a_)))
            cv2.circle(em, p, max(2, int(rr * 0.08)), 1.0, -1, cv2.LINE_AA)
        img *= (1 - em * rng.uniform(0.05, 0.15))[..., None]
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(1, 4)
    return np.clip(img, 0, 255).astype(np.uint8)


# --- portrait, signature ----------------------------------------------------------------------------


def portrait(rng, w: int, h: int) -> np.ndarray:
    """A face-like placeholder: background, shoulders, head, hair, eyes, mouth; no real person."""
    bgc = np.array(hsv(rng.uniform(0, 1), rng.uniform(0, 0.15), rng.uniform(0.75, 0.97)), np.float32)
    img = np.ones((h, w, 3), np.float32) * bgc
    skin = np.array(hsv(rng.uniform(0.03, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.95)), np.float32)
    cloth = np.array(hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.7), rng.uniform(0.1, 0.7)), np.float32)
    hair = np.array(hsv(rng.uniform(0.02, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.6)), np.float32)
    cx = w / 2 + rng.normal(0, w * 0.03)
    cv2.ellipse(img, (int(cx), int(h * 1.02)), (int(w * 0.5), int(h * 0.3)), 0, 180, 360, cloth.tolist(), -1, cv2.LINE_AA)
    cv2.rectangle(img, (int(cx - w * 0.09), int(h * 0.55)), (int(cx + w * 0.09), int(h * 0.8)), skin.tolist(), -1)
    hy, hw_, hh = h * 0.42, w * rng.uniform(0.25, 0.31), h * rng.uniform(0.25, 0.3)
    cv2.ellipse(img, (int(cx), int(hy - hh * 0.15)), (int(hw_ * 1.08), int(hh * 1.0)), 0, 180, 360, hair.tolist(), -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(hy)), (int(hw_), int(hh)), 0, 0, 360, skin.tolist(), -1, cv2.LINE_AA)
    if rng.random() < 0.7:
        cv2.ellipse(img, (int(cx), int(hy - hh * 0.55)), (int(hw_ * 1.02), int(hh * 0.5)), 0, 180, 360, hair.tolist(), -1, cv2.LINE_AA)
    for s in (-1, 1):
        cv2.ellipse(img, (int(cx + s * hw_ * 0.4), int(hy - hh * 0.08)), (max(1, int(hw_ * 0.13)), max(1, int(hh * 0.06))), 0, 0, 360, (40, 35, 30), -1, cv2.LINE_AA)
    cv2.ellipse(img, (int(cx), int(hy + hh * 0.45)), (max(1, int(hw_ * 0.3)), max(1, int(hh * 0.07))), 0, 0, 180, (120, 50, 50), max(1, int(h * 0.01)), cv2.LINE_AA)
    shade = np.linspace(rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0), w, dtype=np.float32)[None, :, None]
    img = img * shade + rng.normal(0, 3, (h, w, 1))
    img = cv2.GaussianBlur(img, (0, 0), max(0.5, w / 150))
    return np.clip(img, 0, 255).astype(np.uint8)


def signature(rng, d: ImageDraw.ImageDraw, box, color):
    x1, y1, x2, y2 = box
    pts = []
    n = int(rng.integers(4, 9))
    for i in range(n * 8):
        t = i / (n * 8 - 1)
        x = x1 + t * (x2 - x1) + math.sin(t * n * math.pi * 2 + rng.uniform(0, 1)) * (x2 - x1) * 0.03
        y = (y1 + y2) / 2 + math.sin(t * n * math.pi * rng.uniform(0.8, 1.6)) * (y2 - y1) * 0.35
        pts.append((x, y))
    d.line(pts, fill=color, width=max(1, int((y2 - y1) * 0.05)), joint="curve")


# --- text -----------------------------------------------------------------------------------------


def title_case(s: str) -> str:
    return " ".join(w[:1] + w[1:].lower() for w in s.split(" "))


def field_texts(rng, layout: Layout, h: Holder) -> dict:
    given = title_case(h.given) if layout.name_case == "title" else h.given
    if layout.state == "FRA" and layout.kind == "TD1":  # French cards separate given names with commas
        given = given.replace(" ", ", ")
    nat = h.nationality
    nat_text = NATIONALITY_WORDS.get(nat, nat) if layout.nationality == "word" else nat
    return {
        "surname": h.surname,
        "given": given,
        "number": h.number,
        "nationality": nat_text,
        "birth": format_date(h.birth, layout.date_format, layout.month_lang),
        "sex": h.sex,
        "expiry": format_date(h.expiry, layout.date_format, layout.month_lang),
        "state": layout.state,
        "issue": format_date(h.issue, layout.date_format, layout.month_lang),
        "place": pick(rng, PLACES),
        "authority": pick(rng, ["STADT KÖLN", "PRÉFECTURE DE LYON", "MINISTERIO DEL INTERIOR", "GEMEENTE UTRECHT",
                                "POLISMYNDIGHETEN", "WOJEWODA MAZOWIECKI", "SEF", "COMUNE DI ROMA", "MAGISTRÁT BRNO",
                                "MINISTRY OF INTERIOR", "UTOPIA PASSPORT OFFICE"]),
        "height": pick(rng, ["1,62 m", "1,75 m", "180 cm", "168 cm", "1.71 m", "157 cm"]),
        "can": rand_chars(rng, "0123456789", 6),
    }


def mrz_fields(layout: Layout, h: Holder) -> list[str]:
    common = dict(doc_code=layout.doc_code, state=layout.state, number=h.number, birth=yymmdd(h.birth), sex=h.sex,
                  expiry=yymmdd(h.expiry), nationality=h.nationality, surname=h.surname, given=h.given)
    if layout.kind == "TD1":
        return M.build("TD1", **common, optional1=h.personal)
    if layout.kind == "TD2":
        return M.build("TD2", **common)
    return M.build("TD3", **common, personal=h.personal)


def expected_fields(layout: Layout, h: Holder, lines: list[str]) -> dict:
    """What a correct reader returns: the MRZ's own spellings (names transliterated, possibly
    truncated), ISO dates, codes without fillers."""
    names = lines[2] if layout.kind == "TD1" else lines[0][5:]
    sur, _, giv = names.partition("<<")
    return {
        "documentNumber": h.number, "surname": sur.replace("<", " ").strip(), "givenNames": giv.replace("<", " ").strip(),
        "nationality": h.nationality, "birthDate": h.birth.isoformat(), "sex": h.sex, "expiryDate": h.expiry.isoformat(),
        "issuingState": layout.state,
    }


def draw_text_box(d: ImageDraw.ImageDraw, xy, text: str, fnt, fill) -> np.ndarray:
    """Draws text with its left baseline at xy; returns its tight box (accents included)."""
    d.text(xy, text, font=fnt, fill=fill, anchor="ls")
    l, t, r, b = d.textbbox(xy, text, font=fnt, anchor="ls")
    return np.array([l, t, r, b], np.float32)


def render(rng, layout: Layout, fonts: dict, holder: Holder | None = None) -> Rendered:
    wmm, hmm = SIZES_MM[layout.kind]
    s = PX_PER_MM
    W, H = int(round(wmm * s)), int(round(hmm * s))
    if holder is None:
        nat = layout.state
        if layout.foreign_holders:
            nat = pick(rng, [k for k in NATIONALITY_WORDS if k != layout.state])
        holder = make_holder(rng, NAME_LANG[nat], nat, layout.number_style, layout.validity, layout.personal,
                             long_numbers=layout.kind != "TD3")
    pal = palette(rng, layout.hue)
    img = security_background(rng, W, H, pal)
    lines = mrz_fields(layout, holder)
    n_lines = len(lines)
    # MRZ geometry (centre lines from the bottom edge), then its clear band
    bottom_mm = {"TD1": 4.6, "TD2": 5.4, "TD3": 6.4}[layout.kind] + rng.normal(0, 0.25)
    pitch = MRZ_PITCH_MM * s * rng.uniform(0.985, 1.015)
    width_chars = len(lines[0])
    x0 = (W - width_chars * pitch) / 2 + rng.normal(0, 0.4) * s
    centers = [H - (bottom_mm + (n_lines - 1 - i) * MRZ_LINE_MM * rng.uniform(0.98, 1.02)) * s for i in range(n_lines)]
    band_top = int(centers[0] - 3.2 * s)
    fade = rng.uniform(0.5, 0.85)
    img[band_top:] = (img[band_top:].astype(np.float32) * (1 - fade) + 250 * fade).astype(np.uint8)

    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    zones: list[tuple[str, np.ndarray]] = []

    # header
    fam = fonts["families"][int(rng.integers(len(fonts["families"])))]
    head_h = (8.5 if layout.kind == "TD1" else 11.0) * s
    if layout.header_band and rng.random() < 0.7:
        d.rectangle([0, 0, W, int(head_h * rng.uniform(0.85, 1.05))], fill=pal["band"])
        tcol = (250, 250, 250)
    else:
        tcol = pal["title"]
    t1 = font(fam["bold"], cap_size(fam["bold"], (2.6 if layout.kind == "TD1" else 3.4) * s))
    t2 = font(fam["regular"], cap_size(fam["regular"], (1.7 if layout.kind == "TD1" else 2.2) * s))
    tx = W / 2 + rng.normal(0, 0.5) * s
    d.text((tx, head_h * 0.42), layout.title[0], font=t1, fill=tcol, anchor="ms")
    d.text((tx, head_h * 0.82), layout.title[1], font=t2, fill=tcol, anchor="ms")

    # columns
    margin = 3.0 * s
    viz_top = head_h + 1.5 * s
    viz_bottom = band_top - 0.6 * s
    pw = (0.27 if layout.kind == "TD1" else 0.26) * W
    ph = min(pw * 1.3, (viz_bottom - viz_top) * (0.92 if layout.kind == "TD1" else 0.8))
    pw = ph / 1.3
    if layout.portrait == "left":
        px = margin + rng.normal(0, 0.3) * s
        col_x1, col_x2 = px + pw + 2.5 * s, W - margin
    else:
        px = W - margin - pw + rng.normal(0, 0.3) * s
        col_x1, col_x2 = margin, px - 2.5 * s
    py = viz_top + rng.normal(0, 0.3) * s
    por = portrait(rng, int(pw), int(ph))
    pil.paste(Image.fromarray(por), (int(px), int(py)))
    # signature under the portrait (TD3) or a ghost image in the text column (cards)
    if layout.kind == "TD3" and viz_bottom - (py + ph) > 4 * s:
        signature(rng, d, (px, py + ph + 0.8 * s, px + pw, min(viz_bottom, py + ph + 7 * s)), pal["ink"])
    if rng.random() < 0.6:
        gw = int(pw * 0.35)
        ghost = cv2.cvtColor(cv2.resize(por, (gw, int(gw * 1.3))), cv2.COLOR_RGB2GRAY)
        gx = int(col_x2 - gw - rng.uniform(0, 3) * s)
        gy = int(viz_bottom - gw * 1.3 - rng.uniform(0, 2) * s)
        region = np.array(pil.crop((gx, gy, gx + gw, gy + int(gw * 1.3)))).astype(np.float32)
        a = rng.uniform(0.15, 0.35)
        region = region * (1 - a) + ghost[..., None].astype(np.float32) * a
        pil.paste(Image.fromarray(np.clip(region, 0, 255).astype(np.uint8)), (gx, gy))

    # visual zone fields
    texts = field_texts(rng, layout, holder)
    rows = layout.rows
    pitch_y = min((viz_bottom - viz_top) / len(rows), 7.5 * s)
    label_cap = rng.uniform(1.05, 1.35) * s
    value_cap = min(rng.uniform(2.0, 2.6) * s, pitch_y * 0.42)
    lab_font_path = fam["regular"]
    val_fam = fonts["families"][int(rng.integers(len(fonts["families"])))] if rng.random() < 0.5 else fam
    val_path = val_fam["bold"] if rng.random() < 0.5 else val_fam["regular"]
    if rng.random() < 0.15:
        val_path = pick(rng, fonts["mono"])
    lab_font = font(lab_font_path, cap_size(lab_font_path, label_cap))
    col_w = col_x2 - col_x1
    viz = {}
    for r, row in enumerate(rows):
        y_label = viz_top + r * pitch_y + label_cap + rng.normal(0, 0.08) * s
        y_value = y_label + 0.7 * s + value_cap + rng.normal(0, 0.08) * s
        x = col_x1
        for name, share in row:
            cell_w = share * col_w
            label = " / ".join(LABELS[lang][name] for lang in layout.label_langs)
            while d.textlength(label, font=lab_font) > cell_w - 1.5 * s and " / " in label:
                label = label.rsplit(" / ", 1)[0]
            d.text((x, y_label), label, font=lab_font, fill=pal["label"], anchor="ls")
            text = texts[name]
            fsize = cap_size(val_path, value_cap)
            vf = font(val_path, fsize)
            while d.textlength(text, font=vf) > cell_w - 1.2 * s and fsize > 8:
                fsize *= 0.94
                vf = font(val_path, fsize)
            box = draw_text_box(d, (x + rng.normal(0, 0.1) * s, y_value), text, vf, pal["ink"])
            viz[name] = text
            zones.append((name, box))
            x += cell_w

    # MRZ, one character per cell of the fixed pitch
    ocrb = fonts["ocrb"]
    mf = font(ocrb, cap_size(ocrb, MRZ_CAP_MM * s * rng.uniform(0.95, 1.05)))
    ink = tuple(int(v) for v in rng.integers(0, 45, 3))
    for i, line in enumerate(lines):
        base_y = centers[i] + MRZ_CAP_MM * s / 2
        boxes = []
        for j, ch in enumerate(line):
            cx = x0 + (j + 0.5) * pitch
            d.text((cx, base_y), ch, font=mf, fill=ink, anchor="ms")
            boxes.append(d.textbbox((cx, base_y), ch, font=mf, anchor="ms"))
        b = np.array(boxes, np.float32)
        # the line's extent: first to last glyph across, the tallest glyphs up and down
        zones.append(("mrz", np.array([b[0, 0], b[:, 1].min(), b[-1, 2], b[:, 3].max()], np.float32)))
    out = np.array(pil)
    return Rendered(out, zones, expected_fields(layout, holder, lines), {k: viz[k] for k in viz}, lines, layout.key, layout.kind)
