"""Train the bundled ID-document text recognizers: a CRNN + CTC for MRZ lines (A-Z, 0-9, `<`; OCR-B)
and one for the visual zone's fields (Latin letters with diacritics, digits, punctuation). One
command per model:

    .venv/bin/python training/documents/recognizer.py --task mrz      # models/mrz-reader.onnx
    .venv/bin/python training/documents/recognizer.py --task field    # models/field-reader.onnx
    (--smoke: the whole pipeline on tiny data, publishes nothing)

Data: the synthetic photos of training/documents/generate.py (seed 1 training, seed 2 validation;
seed 3 is the evaluation's), decoded from their JPEG, rectified as the server rectifies them
(views.py) from the true corners moved as the detector would place them, and every zone cut out in
grey with room around it. Each step the zone's box is moved as detector boxes wander, then the
server's preprocessing is applied (views.line_input; the server grows the box by marginX/marginY
and uses inference-server/ocr/recognizer-input.ts). The MRZ reader also trains on the lines as the
server itself cuts them: the first 1,800 training photos are read through the real server
(pipeline_crops.ts, the bundled detector and the reader training starts from) and every MRZ line
input it builds on the right lines is kept with its true text; its located, perspective-warped
lines are not the true zones, and the reader misread 17 % of them (validation) against 2 % of its
own. The best epoch is chosen on the same inputs of the 300 validation photos.

Export: ONNX opset 13, input `image` [n, 1, H, W], output `probs` [n, T, C] (softmax; index 0 the
CTC blank), and the metadata key `visionops.recognizer` (alphabet, input size, margins,
preprocessing) the server reads. Logged with its sha256 to a local `mlflow server`, registered as
`mrz-reader` / `field-reader` (alias `champion`), copied to models/.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import platform
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "documents"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from .generate import GENERATOR_VERSION, read_rows  # noqa: E402
from .views import grey, jitter_corners, line_input, rectify, warp_points, aabb  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tracking import finish_run, free_port, log as _log, mlflow_server, publish, sha256  # noqa: E402
from onnx_weights import calibrate_folded_bn, load_folded_conv, load_lstm  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MRZ_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
_UP = "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŒĄĆČĎĘĚŁŃŇŘŚŠŤŮŹŻŽ"
FIELD_ALPHABET = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + _UP + _UP.lower() + "ß" + " .,-/'()<:")
FIELDS = {"surname", "given", "number", "nationality", "birth", "sex", "expiry", "state", "issue", "place", "authority", "height", "can"}

TASKS = {
    # height, width, margins (share of the box each side), box jitter (share of width, height),
    # CNN channels, LSTM width, input columns per output frame (mrz: the shipped v6 recipe, models/mrz-reader.md)
    "mrz": dict(name="mrz-reader", alphabet=MRZ_ALPHABET, height=24, width=384, margin_x=0.03, margin_y=0.25,
                jitter=(0.025, 0.08), channels=(12, 24, 32, 48, 64), hidden=64, epochs=5, lr=3e-3, synthetic=16000, stride=2,
                pipeline_photos=1800, pipeline_val_photos=300,
                description="CRNN + CTC reader of ICAO 9303 MRZ lines (OCR-B), synthetic ID documents"),
    "field": dict(name="field-reader", alphabet=FIELD_ALPHABET, height=24, width=224, margin_x=0.05, margin_y=0.2,
                  jitter=(0.03, 0.08), channels=(16, 32, 48, 64, 96), hidden=96, epochs=5, lr=3e-3, synthetic=16000, stride=4,
                  description="CRNN + CTC reader of visual-zone fields (Latin letters with diacritics), synthetic ID documents"),
}
CORNER_SIGMA = 0.01
KEEP = 0.35  # room kept around each zone in the cache (share of its height / width), for the jitter
CACHE_HEIGHT = 48  # zones are stored scaled down to at most this box height


def log(msg):
    _log("recognizer", msg)


# --- data ----------------------------------------------------------------------------------------------


def _cut(args):
    split, row, seed, idx, task = args
    rng = np.random.default_rng([seed, idx, 33])
    img = cv2.cvtColor(cv2.imread(str(split / row["file"])), cv2.COLOR_BGR2RGB)
    corners = np.array(row["corners"], np.float32)
    view, M = rectify(img, jitter_corners(rng, corners, CORNER_SIGMA))
    g = grey(view)
    H, W = g.shape
    out = []
    mrz_i = 0
    for z in row["zones"]:
        name = z["name"]
        if task == "mrz" and name != "mrz":
            continue
        if task == "field" and name not in FIELDS:
            continue
        if name == "mrz":
            text = row["mrz"][mrz_i]
            mrz_i += 1
        else:
            text = row["viz"][name]
        x1, y1, x2, y2 = aabb(warp_points(M, np.array(z["quad"], np.float32)))
        bw, bh = x2 - x1, y2 - y1
        if bw < 4 or bh < 3:
            continue
        cx1, cy1 = max(0, int(x1 - KEEP * bh * 2)), max(0, int(y1 - KEEP * bh * 2))
        cx2, cy2 = min(W, int(math.ceil(x2 + KEEP * bh * 2))), min(H, int(math.ceil(y2 + KEEP * bh * 2)))
        crop = g[cy1:cy2, cx1:cx2]
        box = np.array([x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1], np.float32)
        s = min(1.0, CACHE_HEIGHT / bh)
        if s < 1:
            crop = cv2.resize(crop, (max(2, int(crop.shape[1] * s)), max(2, int(crop.shape[0] * s))), interpolation=cv2.INTER_AREA)
            box *= s
        out.append({"img": crop, "box": box, "text": text, "field": name, "layout": row["layout"], "doc": idx})
    return out


def zone_crops(split: Path, n: int, seed: int, task: str, cache_dir: Path, workers: int) -> list[dict]:
    rows = read_rows(split, n)
    path = cache_dir / f"{task}-crops-s{seed}-n{len(rows)}-v{GENERATOR_VERSION}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    t = time.time()
    with Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
        crops = [c for cs in pool.imap(_cut, [(split, r, seed, i, task) for i, r in enumerate(rows)], chunksize=8) for c in cs]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(crops))
    log(f"{len(rows)} photos (seed {seed}) -> {len(crops)} {task} crops in {time.time() - t:.0f}s -> {path.name}")
    return crops


_FONTS = None


def _init_lines(fonts):
    global _FONTS
    _FONTS = fonts
    cv2.setNumThreads(1)


def _line(args):
    from . import lines

    task, seed, idx = args
    return (lines.mrz_line if task == "mrz" else lines.field_line)(seed, idx, _FONTS)


def synthetic_lines(task: str, n: int, seed: int, cache_dir: Path, fonts_dir: Path, workers: int) -> list[dict]:
    """n lines of lines.py (cached): the bulk of the recognizers' training text."""
    from .fonts import ensure_fonts

    path = cache_dir / f"{task}-lines-s{seed}-n{n}-v{GENERATOR_VERSION}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    t = time.time()
    with Pool(workers, initializer=_init_lines, initargs=(ensure_fonts(fonts_dir),)) as pool:
        out = pool.map(_line, [(task, seed, i) for i in range(n)], chunksize=64)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    log(f"{n} synthetic {task} lines (seed {seed}) in {time.time() - t:.0f}s -> {path.name}")
    return out


def pipeline_crops(split: Path, n: int, seed: int, cache_dir: Path, workers: int, detector: Path, mrz_reader: Path, cfg: dict) -> list[dict]:
    """The MRZ reader's inputs as the server itself built them while reading the first n photos of a
    set with `detector` and `mrz_reader` (pipeline_crops.ts, one process per worker), labelled with
    the photos' true lines (cached per set and model pair). They are the reader's input already: no
    jitter, no resampling."""
    if n <= 0:
        return []
    key = f"{sha256(detector)[:8]}-{sha256(mrz_reader)[:8]}"
    path = cache_dir / f"mrz-pipeline-s{seed}-n{n}-v{GENERATOR_VERSION}-{key}"
    if not Path(f"{path}.json").exists():
        t = time.time()
        cache_dir.mkdir(parents=True, exist_ok=True)
        cuts = np.linspace(0, n, workers + 1).astype(int)
        parts = [cache_dir / f"{path.name}-part{k}" for k in range(workers)]
        procs = [subprocess.Popen(["npx", "tsx", str(ROOT / "training/documents/pipeline_crops.ts"), "--split", str(split),
                                  "--from", str(cuts[k]), "--to", str(cuts[k + 1]), "--out", str(parts[k]),
                                  "--detector", str(detector), "--mrz-reader", str(mrz_reader)], cwd=ROOT) for k in range(workers)]
        if any(p.wait() != 0 for p in procs):
            raise SystemExit("pipeline_crops.ts failed (see above)")
        merge_parts(parts, path)
        log(f"{n} photos (seed {seed}) read by the server in {time.time() - t:.0f}s")
    meta = json.loads(Path(f"{path}.json").read_text())
    log(f"{len(meta['lines'])} MRZ lines of the server's own crops on {n} photos (seed {seed}): {meta['counts']}")
    if (meta["height"], meta["width"]) != (cfg["height"], cfg["width"]):
        raise SystemExit(f"{path}: inputs {meta['height']}x{meta['width']}, the {cfg['name']} reads {cfg['height']}x{cfg['width']}")
    xs = np.fromfile(f"{path}.u8", np.uint8).reshape(-1, cfg["height"], cfg["width"])
    # kept as bytes (a float copy of 10,000 lines is 350 MB); `premade` decodes one at a time
    enc = (meta["offset"], meta["scale"])
    return [{"x": x, "enc": enc, "text": line["text"], "field": "mrz", "layout": "pipeline", "doc": line["photo"]} for x, line in zip(xs, meta["lines"])]


def merge_parts(parts: list[Path], path: Path) -> None:
    """pipeline_crops.ts's outputs of one set's slices -> one PREFIX.u8 + PREFIX.json."""
    metas = [json.loads(Path(f"{p}.json").read_text()) for p in parts]
    with open(f"{path}.u8", "wb") as f:
        for p in parts:
            f.write(Path(f"{p}.u8").read_bytes())
    counts = {k: sum(m["counts"][k] for m in metas) for k in metas[0]["counts"]}
    Path(f"{path}.json").write_text(json.dumps({**{k: metas[0][k] for k in ("height", "width", "scale", "offset")},
                                               "counts": counts, "lines": [line for m in metas for line in m["lines"]]}))
    for p in parts:
        Path(f"{p}.u8").unlink()
        Path(f"{p}.json").unlink()


def premade(c: dict) -> np.ndarray:
    offset, scale = c["enc"]  # pipeline_crops.ts stores offset + scale * the standardised input
    return (c["x"].astype(np.float32) - offset) / scale


def jittered(rng, c: dict, cfg: dict) -> np.ndarray:
    if "x" in c:
        return premade(c)
    x1, y1, x2, y2 = c["box"]
    bw, bh = x2 - x1, y2 - y1
    jx, jy = cfg["jitter"]
    dx = rng.normal(0, jx, 2) * bw
    dy = rng.normal(0, jy, 2) * bh
    h, w = c["img"].shape
    box = (min(max(x1 + dx[0], 0), w - 2), min(max(y1 + dy[0], 0), h - 2), x2 + dx[1], y2 + dy[1])
    box = (box[0], box[1], min(max(box[2], box[0] + 2), w), min(max(box[3], box[1] + 2), h))
    return line_input(c["img"], box, cfg["height"], cfg["width"], cfg["margin_x"], cfg["margin_y"])


def exact(c: dict, cfg: dict) -> np.ndarray:
    if "x" in c:
        return premade(c)
    return line_input(c["img"], c["box"], cfg["height"], cfg["width"], cfg["margin_x"], cfg["margin_y"])


# --- model ------------------------------------------------------------------------------------------------


def conv(cin, cout, k=3, p=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=p, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LineReader(nn.Module):
    """[N, 1, 24, W] -> [N, W/stride, C] class scores per column (5 conv layers, a BiLSTM).

    stride 2 keeps twice the frames: CTC needs a blank between equal characters, so a run of k
    fillers takes 2k - 1 frames, and at W/4 a 44-character MRZ line has 2.2 frames a character;
    where the located line is longer than its text, a `<<<<` run comes out short. The layers and
    their weights are the same at either stride (pooling has none), so one can start from the other.
    """

    def __init__(self, channels, hidden, classes, stride=4):
        super().__init__()
        c = channels
        self.cnn = nn.Sequential(
            conv(1, c[0]), nn.MaxPool2d(2),                            # 12 x W/2
            conv(c[0], c[1]), nn.MaxPool2d(2 if stride == 4 else (2, 1)),  # 6 x W/stride
            conv(c[1], c[2]), conv(c[2], c[3]), nn.MaxPool2d((2, 1)),  # 3 x W/stride
            conv(c[3], c[4], k=(3, 3), p=(0, 1)),                      # 1 x W/stride
        )
        self.rnn = nn.LSTM(c[-1], hidden, bidirectional=True, batch_first=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        f = self.cnn(x).squeeze(2).transpose(1, 2)
        f, _ = self.rnn(f)
        return self.head(f)


class Exported(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return torch.softmax(self.m(x), dim=-1)


def load_onnx(model: LineReader, path: Path, calib: np.ndarray) -> None:
    """The weights of a shipped reader (the repository keeps only its ONNX) back in `model`, to go on
    training it: each folded convolution's batch norm calibrated on `calib`, a batch of training
    inputs (onnx_weights.calibrate_folded_bn)."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    convs = [n for n in g.node if n.op_type == "Conv"]
    blocks = [m for m in model.cnn if isinstance(m, nn.Sequential)]
    if len(convs) != len(blocks):
        raise ValueError(f"{path}: {len(convs)} convolutions, the reader has {len(blocks)}")
    lstm = next(n for n in g.node if n.op_type == "LSTM")
    matmul = next(n for n in g.node if n.op_type == "MatMul" and n.input[1] in inits)
    head_bias = next(inits[i] for n in g.node if n.op_type == "Add" for i in n.input if i in inits)
    for blk, node in zip(blocks, convs):
        load_folded_conv(blk[0], blk[1], inits[node.input[1]], inits[node.input[2]])
    load_lstm(model.rnn, *(inits[i] for i in lstm.input[1:4]))
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor(inits[matmul.input[1]].T))
        model.head.bias.copy_(torch.tensor(head_bias))
    model.eval()
    calibrate_folded_bn([(blk[0], blk[1]) for blk in blocks], lambda: model(torch.from_numpy(calib)))
    model.train()


def greedy(probs: np.ndarray, alphabet: str) -> str:
    out, prev = [], 0
    for k in probs.argmax(-1):
        if k != prev and k != 0:
            out.append(alphabet[k - 1])
        prev = k
    return "".join(out)


def edit_distance(a: str, b: str) -> int:
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[len(b)]


@torch.no_grad()
def evaluate(model, xs, texts, alphabet, batch=256) -> dict:
    model.eval()
    preds = []
    for i in range(0, len(xs), batch):
        p = torch.softmax(model(torch.from_numpy(xs[i:i + batch])), -1).numpy()
        preds += [greedy(q, alphabet) for q in p]
    model.train()
    return {"exact": float(np.mean([p == t for p, t in zip(preds, texts)])),
            "cer": sum(edit_distance(p, t) for p, t in zip(preds, texts)) / max(1, sum(len(t) for t in texts)),
            "preds": preds}


def export_onnx(model, cfg: dict, task: str, path: Path) -> Path:
    import onnx

    m = Exported(model).eval()
    torch.onnx.export(m, torch.zeros(1, 1, cfg["height"], cfg["width"]), str(path), opset_version=13, input_names=["image"],
                      output_names=["probs"], dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}}, dynamo=False)
    om = onnx.load(str(path))
    meta = {"kind": "ctc-text-recognizer", "task": task, "alphabet": cfg["alphabet"], "blank": 0, "height": cfg["height"],
            "width": cfg["width"], "margin": 0, "marginX": cfg["margin_x"], "marginY": cfg["margin_y"], "grey": "bt601-fixed14",
            "resample": "area", "normalize": "standardize", "stdFloor": 4.0}
    p = om.metadata_props.add()
    p.key, p.value = "visionops.recognizer", json.dumps(meta, ensure_ascii=False)
    onnx.save(om, str(path))
    return path


def probe_step_s(model, train, cfg, batch, rng, n=6) -> float:
    """Median seconds of one training step (preprocessing included), on a copy of the model."""
    from copy import deepcopy

    m = deepcopy(model)
    opt = torch.optim.AdamW(m.parameters(), lr=cfg["lr"])
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    index = {ch: i + 1 for i, ch in enumerate(cfg["alphabet"])}
    times = []
    for _ in range(n):
        t = time.time()
        idx = rng.choice(len(train), batch, replace=False)
        x = torch.from_numpy(np.stack([jittered(rng, train[i], cfg)[None] for i in idx]))
        targets = [[index[ch] for ch in train[i]["text"]] for i in idx]
        logp = F.log_softmax(m(x), -1).transpose(0, 1)
        loss = ctc(logp, torch.tensor([k for t_ in targets for k in t_]), torch.full((batch,), logp.shape[0], dtype=torch.long),
                   torch.tensor([len(t_) for t_ in targets]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.time() - t)
    return float(np.median(times))


# --- main -----------------------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=list(TASKS), required=True)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "training/data/documents")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "training/runs")
    ap.add_argument("--mlflow-dir", type=Path, default=ROOT / "training/mlruns")
    ap.add_argument("--publish", type=Path, default=None)
    ap.add_argument("--train-n", type=int, default=5000, help="photos of the training set (seed 1) to use")
    ap.add_argument("--val-n", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--synthetic", type=int, default=None, help="synthetic lines (lines.py, seed 11) added to the photos' zones")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--train-budget-s", type=float, default=0, help="fit the epochs (at most --epochs) to N seconds of training, "
                    "from the time of a few probe steps")
    ap.add_argument("--init", type=Path, default=None, help="start from a run's best.pt or a reader's .onnx (same task and shape) instead of from scratch")
    ap.add_argument("--time-stride", type=int, choices=(2, 4), default=None,
                    help="input columns per output frame (LineReader; the task's default: mrz 2, as shipped, field 4)")
    ap.add_argument("--jitter-x", type=float, default=None,
                    help="box jitter along the line (share of its width; the task's default otherwise): the server "
                         "reads lines located on the photo, whose ends wander more than a detector box's")
    ap.add_argument("--pipeline-photos", type=int, default=None,
                    help="mrz: training photos read through the server (pipeline_crops.ts) whose line inputs join the training set")
    ap.add_argument("--pipeline-val-photos", type=int, default=None,
                    help="mrz: validation photos read through the server; their line inputs are measured each epoch, and the best epoch is chosen on them")
    ap.add_argument("--pipeline-detector", type=Path, default=ROOT / "models/document-detector.onnx",
                    help="the detector the server reads the photos with for --pipeline-photos")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--run-name", default=None)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    cfg = dict(TASKS[a.task])
    if a.epochs:
        cfg["epochs"] = a.epochs
    if a.synthetic is not None:
        cfg["synthetic"] = a.synthetic
    if a.lr:
        cfg["lr"] = a.lr
    if a.time_stride:
        cfg["stride"] = a.time_stride
    for k in ("pipeline_photos", "pipeline_val_photos"):
        cfg.setdefault(k, 0)
        if getattr(a, k) is not None:
            if a.task != "mrz" and getattr(a, k):
                raise SystemExit(f"--{k.replace('_', '-')} is for the MRZ reader: the server's field crops are not recorded")
            cfg[k] = getattr(a, k)
    if a.jitter_x is not None:
        cfg["jitter"] = (a.jitter_x, cfg["jitter"][1])
    if a.smoke:
        a.data_dir = a.data_dir / "smoke"
        a.train_n, a.val_n, cfg["epochs"], cfg["synthetic"] = 24, 8, 1, 64
        cfg["pipeline_photos"], cfg["pipeline_val_photos"] = min(cfg["pipeline_photos"], 8), min(cfg["pipeline_val_photos"], 4)
    if a.publish is None:
        a.publish = Path("") if a.smoke else ROOT / "models" / f"{cfg['name']}.onnx"
    return a, cfg


def main():
    a, cfg = parse_args()
    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.workers)
    rng = np.random.default_rng(a.seed)
    cache = a.data_dir / "crops"
    train_dir = a.data_dir / ("train-s1-n24" if a.smoke else "train-s1-n5000")
    val_dir = a.data_dir / ("val-s2-n8" if a.smoke else "val-s2-n300")
    train = zone_crops(train_dir, a.train_n, 1, a.task, cache, a.workers)
    n_photo_zones = len(train)
    train += synthetic_lines(a.task, cfg["synthetic"], 11, cache, a.data_dir / "fonts", a.workers)
    n_synthetic = len(train) - n_photo_zones
    # the server reads with the reader training starts from when that is an ONNX (its crops are then the
    # ones that reader met; which views the server reads depends on the reader), else with the bundled one
    reader_now = a.init if a.init and a.init.suffix == ".onnx" else ROOT / "models/mrz-reader.onnx"
    train += pipeline_crops(train_dir, cfg["pipeline_photos"], 1, cache, a.workers,
                            a.pipeline_detector, reader_now, cfg)
    val = zone_crops(val_dir, a.val_n, 2, a.task, cache, a.workers)
    pval = pipeline_crops(val_dir, cfg["pipeline_val_photos"], 2, cache, a.workers,
                          a.pipeline_detector, reader_now, cfg)
    alphabet = cfg["alphabet"]
    train = [c for c in train if all(ch in alphabet for ch in c["text"])]
    val = [c for c in val if all(ch in alphabet for ch in c["text"])]
    t_data = time.time() - t_start
    val_x = np.stack([exact(c, cfg)[None] for c in val])
    val_t = [c["text"] for c in val]
    pval_x = np.stack([exact(c, cfg)[None] for c in pval]) if pval else None
    pval_t = [c["text"] for c in pval]
    log(f"{a.task}: train {len(train)} zones ({len(train) - n_photo_zones - n_synthetic} from the pipeline), val {len(val)}, pipeline val {len(pval)} ({t_data:.0f}s)")
    model = LineReader(cfg["channels"], cfg["hidden"], len(alphabet) + 1, cfg["stride"])
    if a.init and a.init.suffix == ".onnx":
        calib = np.stack([jittered(rng, train[i], cfg)[None] for i in rng.choice(len(train), 256, replace=False)])
        load_onnx(model, a.init, calib)
        log(f"initialised from {a.init} (batch norms calibrated on 256 training zones)")
    elif a.init:
        model.load_state_dict(torch.load(a.init, map_location="cpu")["model"])
        log(f"initialised from {a.init}")
    n_params = sum(p.numel() for p in model.parameters())
    steps = max(1, len(train) // a.batch)
    probe_s = 0.0
    if a.train_budget_s > 0:
        # one-cycle LR needs its length up front: time a few steps on a throwaway copy, then fit the epochs
        probe_s = probe_step_s(model, train, cfg, a.batch, rng)
        fit = max(1, min(cfg["epochs"], int(a.train_budget_s // (steps * probe_s * 1.05))))
        log(f"time budget {a.train_budget_s:.0f}s at {probe_s:.2f}s/step x {steps} steps: {fit} epochs (of {cfg['epochs']})")
        cfg["epochs"] = fit
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=steps * cfg["epochs"], pct_start=0.15)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    index = {ch: i + 1 for i, ch in enumerate(alphabet)}
    run_name = a.run_name or f"{cfg['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = a.runs_dir / run_name
    out.mkdir(parents=True, exist_ok=True)

    import mlflow

    with mlflow_server(a.mlflow_dir, free_port()) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment(cfg["name"])
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params({"task": a.task, "train_photos": a.train_n, "train_zones": len(train), "photo_zones": n_photo_zones,
                               "synthetic_lines": cfg["synthetic"], "val_zones": len(val),
                               "pipeline_photos": cfg["pipeline_photos"], "pipeline_lines": len(train) - n_photo_zones - n_synthetic,
                               "pipeline_val_photos": cfg["pipeline_val_photos"], "pipeline_val_lines": len(pval),
                               "epochs": cfg["epochs"], "batch": a.batch, "lr": cfg["lr"], "input": f"{cfg['height']}x{cfg['width']}",
                               "margin_x": cfg["margin_x"], "margin_y": cfg["margin_y"], "jitter": str(cfg["jitter"]), "time_stride": cfg["stride"],
                               "channels": str(cfg["channels"]), "hidden": cfg["hidden"], "params": n_params, "alphabet": alphabet,
                               "corner_sigma": CORNER_SIGMA, "generator_version": GENERATOR_VERSION, "threads": a.workers,
                               "train_budget_s": a.train_budget_s, "init": str(a.init.relative_to(ROOT) if a.init and a.init.is_relative_to(ROOT) else a.init or "scratch"), "probe_step_s": round(probe_s, 3),
                               "torch": torch.__version__})
            mlflow.set_tags({"task": cfg["description"], "data": "synthetic (training/documents)"})
            log(f"{n_params} parameters, {steps} steps/epoch, {cfg['epochs']} epochs")
            best, best_state, rows = -1.0, None, []
            t_train = time.time()
            for epoch in range(cfg["epochs"]):
                te, losses = time.time(), []
                order = rng.permutation(len(train))
                for s in range(steps):
                    idx = order[s * a.batch:(s + 1) * a.batch]
                    x = torch.from_numpy(np.stack([jittered(rng, train[i], cfg)[None] for i in idx]))
                    targets = [[index[ch] for ch in train[i]["text"]] for i in idx]
                    y = torch.tensor([k for t in targets for k in t], dtype=torch.long)
                    lens = torch.tensor([len(t) for t in targets], dtype=torch.long)
                    logp = F.log_softmax(model(x), -1).transpose(0, 1)
                    loss = ctc(logp, y, torch.full((len(idx),), logp.shape[0], dtype=torch.long), lens)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
                    if s % 50 == 0:
                        log(f"epoch {epoch + 1} step {s}/{steps} loss {np.mean(losses[-50:]):.4f} ({time.time() - te:.0f}s)")
                m = evaluate(model, val_x, val_t, alphabet)
                row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_exact": m["exact"], "val_cer": m["cer"],
                       "lr": sched.get_last_lr()[0], "epoch_s": time.time() - te}
                if pval:
                    row["val_pipeline_exact"] = evaluate(model, pval_x, pval_t, alphabet)["exact"]
                rows.append(row)
                mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
                log(f"epoch {epoch + 1}/{cfg['epochs']} {row['epoch_s']:.0f}s loss {row['loss']:.4f} val exact {m['exact']:.4f} cer {m['cer']:.4f}"
                    + (f" pipeline val exact {row['val_pipeline_exact']:.4f}" if pval else ""))
                score = row.get("val_pipeline_exact", m["exact"])
                if score >= best:
                    best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
            t_train = time.time() - t_train
            model.load_state_dict(best_state)
            torch.save({"model": best_state, "cfg": {k: v for k, v in cfg.items()}}, out / "best.pt")
            final = evaluate(model, val_x, val_t, alphabet)
            wrong = [{"layout": c["layout"], "field": c["field"], "truth": t, "read": p} for c, t, p in zip(val, val_t, final["preds"]) if t != p]
            (out / "results.json").write_text(json.dumps({"epochs": rows, "val_errors": wrong[:200]}, indent=1, ensure_ascii=False))
            onnx_path = export_onnx(model, cfg, a.task, out / f"{cfg['name']}.onnx")
            digest = sha256(onnx_path)
            (out / f"{cfg['name']}.onnx.sha256").write_text(f"{digest}  {cfg['name']}.onnx\n")
            import onnxruntime as ort

            sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
            probs = sess.run(None, {"image": val_x[:256]})[0]
            onnx_exact = float(np.mean([greedy(p, alphabet) == t for p, t in zip(probs, val_t[:256])]))
            by_field: dict = {}
            for c, t, p in zip(val, val_t, final["preds"]):
                f = by_field.setdefault(c["field"], [0, 0])
                f[0] += int(t == p)
                f[1] += 1
            summary = {"run_id": run.info.run_id, "val": {"exact": final["exact"], "cer": final["cer"]},
                       **({"val_pipeline_exact": evaluate(model, pval_x, pval_t, alphabet)["exact"]} if pval else {}),
                       "val_by_field": {k: round(v[0] / v[1], 4) for k, v in sorted(by_field.items())},
                       "onnx_val_exact_first256": onnx_exact, "onnx_sha256": digest, "onnx_mb": round(onnx_path.stat().st_size / 1e6, 3),
                       "params": n_params, "device": platform.processor() or "cpu", "threads": a.workers, "data_s": round(t_data),
                       "train_s": round(t_train), "train_zones": len(train), "val_zones": len(val)}
            mlflow.log_metrics({"best/val_exact": final["exact"], "best/val_cer": final["cer"]})
            for p_ in (onnx_path, out / f"{cfg['name']}.onnx.sha256"):
                mlflow.log_artifact(str(p_), "model")
            mlflow.log_artifact(str(out / "results.json"))
            mlflow.set_tag("onnx_sha256", digest)
            finish_run(run, out, summary, cfg["name"], cfg["description"], {"onnx_sha256": digest}, a.smoke, t_start, "recognizer")
    publish(onnx_path, a.publish, "recognizer")
    log(f"done in {time.time() - t_start:.0f}s: {json.dumps(summary['val'])} by field {summary['val_by_field']}")


if __name__ == "__main__":
    main()
