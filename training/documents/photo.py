"""Photographs a rendered document as a claimant would: on a table or in a hand, rotated and in
perspective, with a drop shadow, other papers around, glare, uneven light, blur, noise and JPEG.
Returns the photo and, in its pixels, the document's four corners (top-left, top-right,
bottom-right, bottom-left of the document's own upright frame) and every zone as a quadrilateral."""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .identities import pick, rand_chars
from .layouts import BY_KEY, SIZES_MM
from .render import PX_PER_MM, Rendered, font, hsv

ASPECTS = [4 / 3, 4 / 3, 4 / 3, 3 / 4, 3 / 4, 16 / 9, 1.0]
MAX_SIDE = 1600


def smooth_noise(rng, h, w, scale, ch=1):
    small = rng.random((max(2, int(h / scale)), max(2, int(w / scale)), ch)).astype(np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out.reshape(h, w, ch)


def table(rng, h, w) -> np.ndarray:
    k = rng.integers(5)
    base = np.array(hsv(rng.uniform(0, 1), rng.uniform(0, 0.6), rng.uniform(0.15, 0.95)), np.float32)
    if k == 0:  # wood grain
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, math.pi)
        u = xx * math.cos(ang) + yy * math.sin(ang)
        warp = smooth_noise(rng, h, w, rng.uniform(40, 160))[..., 0] * rng.uniform(20, 80)
        g = 0.5 + 0.5 * np.sin((u + warp) / rng.uniform(3, 12))
        wood = np.array(hsv(rng.uniform(0.05, 0.11), rng.uniform(0.35, 0.75), rng.uniform(0.3, 0.85)), np.float32)
        img = wood * (0.75 + 0.25 * g[..., None])
    elif k == 1:  # fabric / cloth
        img = base + (smooth_noise(rng, h, w, 2, 1) - 0.5) * rng.uniform(10, 40)
        yy, xx = np.mgrid[0:h, 0:w]
        p = int(rng.integers(3, 7))
        img = img * (0.93 + 0.07 * ((xx // p + yy // p) % 2))[..., None]
    elif k == 2:  # stone / laminate with veins
        img = base + (smooth_noise(rng, h, w, rng.uniform(30, 120), 1) - 0.5) * 60
        img += (smooth_noise(rng, h, w, 4, 1) - 0.5) * 20
    elif k == 3:  # plain desk, slight texture
        img = base + (smooth_noise(rng, h, w, 3, 1) - 0.5) * rng.uniform(4, 16)
    else:  # two-tone (desk edge, floor)
        img = np.broadcast_to(base, (h, w, 3)).copy()
        other = np.array(hsv(rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0.1, 0.9)), np.float32)
        pts = np.array([[0, 0], [w, 0], [w, rng.uniform(0, 1) * h], [0, rng.uniform(0, 1) * h]], np.int32)
        cv2.fillPoly(img, [pts], other.tolist())
        img += (smooth_noise(rng, h, w, 3, 1) - 0.5) * 12
    return np.clip(img, 0, 255).astype(np.float32)


def paper(rng, fonts, w, h) -> np.ndarray:
    """A sheet with printed lines (a letter, a receipt): text that is not a document zone."""
    col = hsv(rng.uniform(0, 1), rng.uniform(0, 0.15), rng.uniform(0.85, 1.0))
    pil = Image.new("RGBA", (w, h), col + (255,))
    d = ImageDraw.Draw(pil)
    fam = pick(rng, fonts["families"])
    size = max(8, int(h * rng.uniform(0.025, 0.05)))
    f = font(fam["regular"] if rng.random() < 0.7 else pick(rng, fonts["mono"]), size)
    y = size * 2
    words = ["TOTAL", "INVOICE", "Date", "Dear Sir", "Ref.", "Amount", "EUR", "Signature", "Address", "Tel.", "No.",
             "Contract", "Insurance", "Claim", "Policy", "Kundennummer", "Facture", "Rechnung", "Paiement"]
    while y < h - size:
        n = int(rng.integers(2, 8))
        line = " ".join(pick(rng, words) if rng.random() < 0.6 else rand_chars(rng, "0123456789", int(rng.integers(2, 9))) for _ in range(n))
        d.text((size * 1.5, y), line, font=f, fill=(20, 20, 30, 255))
        y += int(size * rng.uniform(1.4, 2.2))
    return np.array(pil)


def rounded_mask(h, w, r) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    r = int(r)
    cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(m, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return m


def document_canvas(rng, doc: Rendered):
    """RGBA of what lies in front of the camera (a card; a passport booklet open at its data page)
    and the data page's corners in it."""
    h, w = doc.image.shape[:2]
    if doc.kind != "TD3":
        rgba = np.dstack([doc.image, rounded_mask(h, w, 3.0 * PX_PER_MM)])
        return rgba, np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    # booklet: cover around, facing page above, fold between
    m = int(rng.uniform(1.5, 3.0) * PX_PER_MM)
    top = int(h * rng.uniform(0.15, 1.0))  # how much of the facing page is in the frame
    cover = hsv(pick(rng, [0.0, 0.6, 0.35, 0.08]), rng.uniform(0.4, 0.9), rng.uniform(0.1, 0.45))
    H, W = top + h + 2 * m, w + 2 * m
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = cover
    rgba[..., 3] = rounded_mask(H, W, 4 * PX_PER_MM)
    face = np.full((top, w, 3), hsv(rng.uniform(0, 1), rng.uniform(0.03, 0.15), rng.uniform(0.85, 0.97)), np.uint8)
    yy, xx = np.mgrid[0:max(2, top // 2), 0:max(2, w // 2)].astype(np.float32) * 2
    tex = 0.95 + 0.05 * np.sin(xx / rng.uniform(4, 15) + np.sin(yy / rng.uniform(8, 30)) * 3)
    face = (face * cv2.resize(tex, (w, top))[..., None]).astype(np.uint8)
    rgba[m:m + top, m:m + w, :3] = face
    rgba[m + top:m + top + h, m:m + w, :3] = doc.image
    n = max(2, int(1.2 * PX_PER_MM))
    fold = np.linspace(0.55, 1.0, n, dtype=np.float32)[:, None, None]
    rgba[m + top - n:m + top, m:m + w, :3] = (rgba[m + top - n:m + top, m:m + w, :3] * fold[::-1]).astype(np.uint8)
    rgba[m + top:m + top + n, m:m + w, :3] = (rgba[m + top:m + top + n, m:m + w, :3] * fold).astype(np.uint8)
    return rgba, np.array([[m, m + top], [m + w, m + top], [m + w, m + top + h], [m, m + top + h]], np.float32)


def warp_points(M, pts):
    p = np.c_[pts, np.ones(len(pts))] @ M.T
    return (p[:, :2] / p[:, 2:3]).astype(np.float32)


def skin(rng):
    return np.array(hsv(rng.uniform(0.02, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.95)), np.float32)


def thumb(rng, img, corners, portrait_left: bool):
    """A thumb over one long edge of the card, on the portrait's side when it can be."""
    tl, tr, br, bl = corners
    side = (tl, bl) if portrait_left else (tr, br)
    if rng.random() < 0.3:
        side = (tl, tr) if rng.random() < 0.5 else (bl, br)
    t = rng.uniform(0.25, 0.6)
    p = side[0] * (1 - t) + side[1] * t
    centre = corners.mean(0)
    out = p - centre
    out /= np.linalg.norm(out) + 1e-6
    size = np.linalg.norm(tr - tl) * rng.uniform(0.07, 0.12)
    c = p + out * size * rng.uniform(0.1, 0.7)
    ang = math.degrees(math.atan2(out[1], out[0]))
    col = skin(rng)
    cv2.ellipse(img, (int(c[0]), int(c[1])), (int(size * 1.6), int(size * 0.75)), ang, 0, 360, col.tolist(), -1, cv2.LINE_AA)
    nail = c - out * size * 0.9
    cv2.ellipse(img, (int(nail[0]), int(nail[1])), (int(size * 0.45), int(size * 0.38)), ang, 0, 360, (col * 1.15 + 20).clip(0, 255).tolist(), -1, cv2.LINE_AA)


def lowres_grid(h, w, step=8):
    """Coordinates of a coarse grid: smooth maps (light, glare) are computed there and upscaled."""
    hh, ww = max(2, h // step), max(2, w // step)
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
    return yy * (h / hh), xx * (w / ww), (ww, hh)


def up(m, w, h):
    return cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def photometric(rng, img, doc_quad, px_mm: float) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx, _ = lowres_grid(h, w)
    gain = np.ones_like(xx)
    add = np.zeros_like(xx)
    if rng.random() < 0.75:  # uneven light
        gx, gy = rng.normal(0, 0.45, 2)
        gain *= np.clip(1 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5), 0.4, 1.6)
    if rng.random() < 0.3:  # a cast shadow (phone, hand)
        pts = (rng.integers(0, [w, h], (int(rng.integers(3, 6)), 2)) * np.array([xx.shape[1] / w, xx.shape[0] / h])).astype(np.int32)
        mask = np.zeros(xx.shape, np.float32)
        cv2.fillPoly(mask, [pts], 1.0)
        mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.6, 5))
        gain *= 1 - mask * rng.uniform(0.2, 0.45)
    glare = np.zeros_like(xx)
    if rng.random() < 0.35:  # glare on the laminate / page
        for _ in range(int(rng.integers(1, 3))):
            c = doc_quad.mean(0) + rng.normal(0, 0.3, 2) * (doc_quad.max(0) - doc_quad.min(0))
            sx, sy = (doc_quad.max(0) - doc_quad.min(0)) * rng.uniform(0.05, 0.25, 2)
            ang = rng.uniform(0, math.pi)
            dx, dy = xx - c[0], yy - c[1]
            u = (dx * math.cos(ang) + dy * math.sin(ang)) / sx
            v = (-dx * math.sin(ang) + dy * math.cos(ang)) / sy
            glare = np.maximum(glare, np.exp(-(u ** 2 + v ** 2) / 2) * rng.uniform(0.2, 0.65))
    sheen = None
    if rng.random() < 0.2:  # rainbow sheen of a hologram laminate
        phase = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / rng.uniform(60, 200)
        sheen = np.stack([np.sin(phase), np.sin(phase + 2.1), np.sin(phase + 4.2)], -1) * rng.uniform(4, 12)
    contrast = rng.uniform(0.78, 1.15)
    bright = rng.uniform(-25, 25)
    wb = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    g = up(gain, w, h)[..., None]
    gl = up(glare, w, h)[..., None]
    f = img * g
    f = f * (1 - gl) + 255 * gl
    if sheen is not None:
        f += up(sheen, w, h)
    f = ((f - 128) * contrast + 128 + bright) * wb
    np.clip(f, 0, 255, out=f)
    if rng.random() < 0.2:
        f = 255 * (f / 255) ** rng.uniform(0.75, 1.35)
    # blur in proportion to the print's scale: a blur that wipes out 2 mm characters is not a
    # photo anyone would submit
    r = rng.random()
    if r < 0.35:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.3, 0.13 * px_mm))
    elif r < 0.45:  # hand shake
        k = int(rng.integers(3, max(4, int(0.6 * px_mm))))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1 / k
        M = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
        kern = cv2.warpAffine(kern, M, (k, k))
        f = cv2.filter2D(f, -1, kern / max(kern.sum(), 1e-6))
    elif r < 0.52 and px_mm > 7:  # out of focus
        k = 5
        kern = np.zeros((k, k), np.float32)
        cv2.circle(kern, (k // 2, k // 2), k // 2, 1.0, -1)
        f = cv2.filter2D(f, -1, kern / kern.sum())
    if rng.random() < 0.7:
        f += rng.standard_normal((h, w, 1), dtype=np.float32) * rng.uniform(1, 6)
    return np.clip(f, 0, 255).astype(np.uint8)


def photograph(rng, doc: Rendered, fonts):
    wmm, _ = SIZES_MM[doc.kind]
    rgba, page = document_canvas(rng, doc)
    # scale: millimetres to photo pixels, and how much of the frame the document fills
    px_mm = math.exp(rng.uniform(math.log(5.2), math.log(11.0)))
    frac = rng.uniform(0.5, 0.92)
    aspect = pick(rng, ASPECTS)
    page_w = wmm * px_mm
    W = page_w / frac
    H = W / aspect
    if aspect < 1:  # portrait frame: the document fills its width
        W = page_w / frac
        H = W / aspect
    s = min(1.0, MAX_SIDE / max(W, H))
    W, H, px_mm = int(W * s), int(H * s), px_mm * s
    k = px_mm / PX_PER_MM
    # pre-shrink with area averaging so the warp does not alias fine print
    pre = min(1.0, k * 1.15)
    if pre < 1:
        rgba = cv2.resize(rgba, (max(2, int(rgba.shape[1] * pre)), max(2, int(rgba.shape[0] * pre))), interpolation=cv2.INTER_AREA)
    ch, cw = rgba.shape[:2]
    page_c = page * pre
    scale = k / pre
    # pose: rotation, foreshortening (yaw/pitch), corner jitter; then keep the page inside the frame
    ang = math.radians(float(np.clip(rng.normal(0, 11), -32, 32)))
    yaw = float(np.clip(rng.normal(0, 0.09), -0.25, 0.25))
    pitch = float(np.clip(rng.normal(0, 0.07), -0.2, 0.2))
    corners = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32) - np.array([cw, ch], np.float32) / 2
    corners *= scale
    bw, bh = cw * scale, ch * scale
    corners[[0, 3], 1] *= 1 + yaw
    corners[[1, 2], 1] *= 1 - yaw
    corners[[0, 1], 0] *= 1 - pitch
    corners[[2, 3], 0] *= 1 + pitch
    corners += rng.normal(0, 0.012, corners.shape).astype(np.float32) * np.array([bw, bh], np.float32)
    rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]], np.float32)
    corners = corners @ rot.T
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
    M0 = cv2.getPerspectiveTransform(src, corners)
    pq = warp_points(M0, page_c)
    # fit the page (not the booklet) into the frame with a margin, shrinking if needed
    span = pq.max(0) - pq.min(0)
    fit = min(1.0, 0.96 * W / span[0], 0.96 * H / span[1])
    corners *= fit
    M0 = cv2.getPerspectiveTransform(src, corners)
    pq = warp_points(M0, page_c)
    lo = -pq.min(0) + 0.02 * np.array([W, H])
    hi = np.array([W, H]) * 0.98 - pq.max(0)
    off = np.array([rng.uniform(lo[0], max(lo[0], hi[0])), rng.uniform(lo[1], max(lo[1], hi[1]))], np.float32)
    corners = corners + off
    M = cv2.getPerspectiveTransform(src, corners)

    img = table(rng, H, W)
    if rng.random() < 0.5:  # other papers under the document
        for _ in range(int(rng.integers(1, 3))):
            pw_, ph_ = int(W * rng.uniform(0.3, 0.7)), int(H * rng.uniform(0.4, 0.9))
            sheet = paper(rng, fonts, pw_, ph_)
            a = math.radians(rng.uniform(-40, 40))
            c = np.array([rng.uniform(0, W), rng.uniform(0, H)])
            sc = np.array([[-pw_ / 2, -ph_ / 2], [pw_ / 2, -ph_ / 2], [pw_ / 2, ph_ / 2], [-pw_ / 2, ph_ / 2]])
            R = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            dst = (sc @ R.T + c).astype(np.float32)
            Ms = cv2.getPerspectiveTransform(np.array([[0, 0], [pw_, 0], [pw_, ph_], [0, ph_]], np.float32), dst)
            wsheet = cv2.warpPerspective(sheet, Ms, (W, H), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))
            al = wsheet[..., 3:4].astype(np.float32) / 255
            img = img * (1 - al) + wsheet[..., :3].astype(np.float32) * al
    hand = rng.random() < 0.3
    if hand:  # fingers behind the card
        col = skin(rng)
        c = corners.mean(0) + (corners[1] - corners[0]) * rng.uniform(-0.6, 0.6)
        cv2.ellipse(img, (int(c[0]), int(c[1] + bh * 0.3)), (int(bw * 0.35), int(bh * 0.45)), rng.uniform(-30, 30), 0, 360, col.tolist(), -1, cv2.LINE_AA)
    # drop shadow
    mask = cv2.warpPerspective(rgba[..., 3], M, (W, H), flags=cv2.INTER_LINEAR)
    sh = np.roll(mask, (int(rng.integers(2, 12)), int(rng.integers(-8, 9))), (0, 1))
    sh = cv2.resize(sh, (max(2, W // 4), max(2, H // 4)), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    sh = up(cv2.GaussianBlur(sh, (0, 0), rng.uniform(0.5, 2.5)), W, H)
    img = img * (1 - sh[..., None] * rng.uniform(0.2, 0.5))
    warped = cv2.warpPerspective(rgba, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    al = warped[..., 3:4].astype(np.float32) / 255
    img = img * (1 - al) + warped[..., :3].astype(np.float32) * al
    page_q = warp_points(M, page_c)
    if hand:
        thumb(rng, img, page_q, portrait_left=BY_KEY[doc.layout].portrait == "left")
    img = photometric(rng, img, page_q, px_mm)
    quality = int(rng.integers(45, 96))
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    # zones: document pixels -> canvas (pre-shrunk, booklet offset) -> photo
    off_page = page[0]
    zones = []
    for name, b in doc.zones:
        q = np.array([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]], np.float32) + off_page
        zones.append((name, warp_points(M, q * pre)))
    return jpg.tobytes(), (W, H), page_q, zones, quality, px_mm
