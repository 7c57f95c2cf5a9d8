"""The seed's plate reader, rebuilt as the baseline of `npm run bench:server`: FastAPI + uvicorn,
the same YOLOv5 detector ONNX through onnxruntime, and pytesseract (the Debian tesseract-ocr
binary) on every plate box with page segmentation mode 7 (one text line) and an A-Z0-9 whitelist.

    SEED_MODEL=models/plate-detector.onnx SEED_THREADS=2 \\
        bench/seed/.venv/bin/python -m uvicorn server:app --app-dir bench/seed --port 8090

POST /v1/read with the image as the body (image/jpeg or image/png) answers
{"detections": [{"class", "score", "box": {x1, y1, x2, y2}, "text"}]}, the fields visionops uses.
The work runs in FastAPI's thread pool: onnxruntime and the tesseract subprocess release the GIL,
so concurrent requests overlap. Crops: the box grown by 6 %, grey, scaled up to 96 px high.
"""
from __future__ import annotations

import os

import cv2
import numpy as np
import onnxruntime as ort
import pytesseract
from fastapi import FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

MODEL = os.environ.get("SEED_MODEL", "models/plate-detector.onnx")
THREADS = int(os.environ.get("SEED_THREADS", "0"))
CONF, IOU = 0.25, 0.45
MARGIN = 0.06
TESS_CONFIG = "--psm 7 -c tessedit_char_whitelist=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

opts = ort.SessionOptions()
if THREADS:
    opts.intra_op_num_threads = THREADS
session = ort.InferenceSession(MODEL, sess_options=opts, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
SIZE = int(inp.shape[2]) if isinstance(inp.shape[2], int) else 640
app = FastAPI(title="seed plate reader")


def letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size - nw) / 2, (size - nh) / 2
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    out = cv2.copyMakeBorder(resized, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return out, r, left, top


def detect(img: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    lb, r, left, top = letterbox(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), SIZE)
    x = lb.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    pred = session.run(None, {inp.name: x})[0][0]  # [N, 5 + classes]: cx, cy, w, h, obj, cls...
    scores = pred[:, 4] * pred[:, 5:].max(1)
    keep = scores > CONF
    pred, scores = pred[keep], scores[keep]
    boxes = np.c_[pred[:, 0] - pred[:, 2] / 2, pred[:, 1] - pred[:, 3] / 2, pred[:, 2], pred[:, 3]]
    idx = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), CONF, IOU)
    h, w = img.shape[:2]
    out = []
    for i in np.array(idx).reshape(-1):
        bx, by, bw, bh = boxes[i]
        x1, y1 = (bx - left) / r, (by - top) / r
        x2, y2 = (bx + bw - left) / r, (by + bh - top) / r
        out.append((max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2), float(scores[i])))
    return out


def read_plate(img: np.ndarray, box) -> str:
    x1, y1, x2, y2 = box[:4]
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    crop = img[max(0, int(y1 - my)):int(y2 + my) + 1, max(0, int(x1 - mx)):int(x2 + mx) + 1]
    if crop.size == 0:
        return ""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if grey.shape[0] < 96:  # tesseract wants ~30 px characters
        s = 96 / grey.shape[0]
        grey = cv2.resize(grey, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC)
    text = pytesseract.image_to_string(grey, config=TESS_CONFIG)
    return "".join(ch for ch in text.upper() if ch.isalnum())


@app.get("/healthz")
def healthz() -> dict:
    return {"ok": True}


def work(body: bytes) -> dict:
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR) if body else None
    if img is None:
        raise HTTPException(415, "not an image")
    dets = []
    for b in detect(img):
        dets.append({"class": "plate", "score": b[4], "box": {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]},
                     "text": read_plate(img, b)})
    return {"detections": dets}


@app.post("/v1/read")
async def read(request: Request) -> dict:
    # The raw body is read here (Request.body() is async); the work runs in the thread pool, as a
    # plain `def` handler's would.
    return await run_in_threadpool(work, await request.body())
