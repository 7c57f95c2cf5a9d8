"""Train the bundled ID-document detector: one YOLOv5n for the document (by type), its four
corners, the MRZ lines and the visual zone's fields. One command reproduces everything:

    .venv/bin/python training/documents/detector.py          # --smoke: the whole pipeline on tiny data

The server runs it twice per photo (inference-server/documents/): on the photo, for the document
and its corners; then on the document rectified upright from those corners, for the zones. So it
trains on both kinds of image, made from the same synthetic photos (training/documents/generate.py):
the photo itself, and its rectified view from the true corners moved as a detector would place them
(views.py). Both are letterboxed to 416 wide on a 416x320 canvas (the export is the same network at
416x416, as the server letterboxes).

Steps: generate the seeded photos (seed 1 training, seed 2 validation; the evaluation uses seed 3)
-> build and cache the views -> start a local `mlflow server` -> YOLOv5n (the yolov5 package's
model, loss, k-means anchors, EMA, SGD, warmup, linear LR), initialised from the bundled plate
detector (models/plate-detector.onnx: its weights, fused conv+BN, are unfused with batch-norm
statistics measured on our images) or from scratch (--init scratch) -> per-epoch losses and
validation P/R/mAP -> export the best EMA weights to ONNX (static [1,3,416,416], opset 12, output
[1,10647,5+16], metadata `stride` and `names`) -> log the ONNX and its sha256, register
`document-detector`, alias `champion` -> copy it to models/document-detector.onnx.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import sys
import time
import types
from copy import deepcopy
from multiprocessing import Pool
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "documents"

from . import yolo_offline as Y  # noqa: E402  (first: stubs the yolov5 package's online checks)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .generate import GENERATOR_VERSION, generate, read_rows  # noqa: E402
from .views import CLASSES, detector_labels, jitter_corners, rectify, warp_points  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tracking import finish_run, free_port, log as _log, mlflow_server, publish, sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAMES = dict(enumerate(CLASSES))
CANVAS = (416, 320)  # training canvas (w, h); exported square at 416
HYP = dict(lr0=0.01, lrf=0.05, momentum=0.937, weight_decay=0.0005, warmup_epochs=1.0, warmup_momentum=0.8,
           warmup_bias_lr=0.1, box=0.05, cls=0.5, cls_pw=1.0, obj=1.0, obj_pw=1.0, iou_t=0.20, anchor_t=4.0,
           fl_gamma=0.0, label_smoothing=0.0)
CORNER_SIGMA = 0.01  # rectification corners off by N(0, 1 % of the shorter side), as the detector places them


def log(msg):
    _log("detector", msg)


# --- views ------------------------------------------------------------------------------------------


def letterbox(img, size=CANVAS):
    """yolov5's letterbox to the canvas: scale to fit, centre, pad 114 (cv2 bilinear)."""
    W, H = size
    h, w = img.shape[:2]
    r = min(W / w, H / h)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (W - nw) / 2, (H - nh) / 2
    im = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else img
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    out = np.full((H, W, 3), 114, np.uint8)
    out[top:top + nh, left:left + nw] = im
    return out, r, (left, top)


def _views(args):
    split, row, seed, idx = args
    rng = np.random.default_rng([seed, idx, 416])
    img = cv2.cvtColor(cv2.imread(str(split / row["file"])), cv2.COLOR_BGR2RGB)
    corners = np.array(row["corners"], np.float32)
    zones = [(z["name"], np.array(z["quad"], np.float32)) for z in row["zones"]]
    out = []
    # 1. the photo
    lb, r, (l, t) = letterbox(img)
    lab = detector_labels(row["type"], corners, zones, (img.shape[1], img.shape[0]))
    lab[:, 1:] = lab[:, 1:] * r + np.array([l, t, l, t], np.float32)
    out.append((lb, lab))
    # 2. the rectified view, from corners placed as a detector would
    view, M = rectify(img, jitter_corners(rng, corners, CORNER_SIGMA))
    vc = warp_points(M, corners)
    vz = [(n, warp_points(M, q)) for n, q in zones]
    lb, r, (l, t) = letterbox(view)
    lab = detector_labels(row["type"], vc, vz, (view.shape[1], view.shape[0]))
    lab[:, 1:] = lab[:, 1:] * r + np.array([l, t, l, t], np.float32)
    out.append((lb, lab))
    return out


def build_views(split: Path, n: int, seed: int, cache: Path, workers: int):
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        return z["imgs"], list(z["labels"])
    rows = read_rows(split, n)
    if len(rows) < n:
        raise SystemExit(f"{split} has {len(rows)} photos, {n} needed")
    t = time.time()
    imgs = np.empty((2 * len(rows), 3, CANVAS[1], CANVAS[0]), np.uint8)
    labels = []
    with Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
        for i, pair in enumerate(pool.imap(_views, [(split, r, seed, k) for k, r in enumerate(rows)], chunksize=8)):
            for j, (im, lab) in enumerate(pair):
                imgs[2 * i + j] = im.transpose(2, 0, 1)
                labels.append(lab)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, imgs=imgs, labels=np.array(labels, dtype=object))
    log(f"{len(imgs)} views of {len(rows)} photos in {time.time() - t:.0f}s -> {cache}")
    return imgs, labels


def batch_targets(labels, idx, device):
    W, H = CANVAS
    out = []
    for bi, i in enumerate(idx):
        lab = labels[i]
        if len(lab):
            t = np.zeros((len(lab), 6), np.float32)
            t[:, 0] = bi
            t[:, 1] = lab[:, 0]
            t[:, 2] = (lab[:, 1] + lab[:, 3]) / 2 / W
            t[:, 3] = (lab[:, 2] + lab[:, 4]) / 2 / H
            t[:, 4] = (lab[:, 3] - lab[:, 1]) / W
            t[:, 5] = (lab[:, 4] - lab[:, 2]) / H
            out.append(t)
    return torch.from_numpy(np.concatenate(out) if out else np.zeros((0, 6), np.float32)).to(device)


def photometric_jitter(x, g):
    n = x.shape[0]
    c = 1 + (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.4
    b = (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.2
    ch = 1 + (torch.rand(n, 3, 1, 1, generator=g) - 0.5) * 0.1
    return ((x - 0.5) * c + 0.5 + b).mul(ch).clamp_(0, 1)


# --- initialisation from the plate detector ------------------------------------------------------------


def init_from_plate_detector(model, onnx_path: Path, imgs: np.ndarray, n_calib: int = 64) -> int:
    """Copies the plate detector's fused conv weights into our (unfused) model and sets each
    batch norm so that, on our images, it reproduces the fused layer: gamma = std and beta = mean +
    fused bias of the conv output (which the fused model computes). Detect-head rows for box and
    objectness are copied per anchor; class rows start fresh. Returns the tensors copied."""
    import onnx
    from onnx import numpy_helper

    w = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(str(onnx_path)).graph.initializer}
    fused = deepcopy(model).float().eval().fuse()
    copied = 0
    sd = fused.state_dict()
    for k in sd:
        if k in w and sd[k].shape == w[k].shape:
            sd[k] = w[k]
            copied += 1
    det = fused.model[-1]
    no = det.no  # 5 + nc
    for i in range(det.nl):
        src_w, src_b = w[f"model.24.m.{i}.weight"], w[f"model.24.m.{i}.bias"]  # [3 * 6, C]
        dw, db = sd[f"model.24.m.{i}.weight"].clone(), sd[f"model.24.m.{i}.bias"].clone()
        for a in range(det.na):
            dw[a * no:a * no + 5] = src_w[a * 6:a * 6 + 5]
            db[a * no:a * no + 5] = src_b[a * 6:a * 6 + 5]
        sd[f"model.24.m.{i}.weight"], sd[f"model.24.m.{i}.bias"] = dw, db
        copied += 2
    fused.load_state_dict(sd)
    # statistics of each fused conv's output (before the activation) on our images
    stats = {}
    hooks = []
    for name, mod in fused.named_modules():
        if isinstance(mod, torch.nn.Conv2d) and name.endswith(".conv"):
            def hook(m, inp, out, name=name):
                o = out.detach() - m.bias.view(1, -1, 1, 1)  # without the fused bias: W * input
                stats[name] = (o.mean((0, 2, 3)), o.std((0, 2, 3)))
            hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        x = torch.from_numpy(imgs[:n_calib]).float() / 255
        fused(x)
    for h in hooks:
        h.remove()
    msd = model.state_dict()
    for name, (mean, std) in stats.items():
        base = name[: -len(".conv")]
        msd[f"{base}.conv.weight"] = sd[f"{name}.weight"]
        std = std.clamp_min(1e-3)
        msd[f"{base}.bn.weight"] = std
        msd[f"{base}.bn.bias"] = mean + sd[f"{name}.bias"]
        msd[f"{base}.bn.running_mean"] = mean
        msd[f"{base}.bn.running_var"] = std ** 2
    for i in range(det.nl):
        msd[f"model.24.m.{i}.weight"] = sd[f"model.24.m.{i}.weight"]
        msd[f"model.24.m.{i}.bias"] = sd[f"model.24.m.{i}.bias"]
    model.load_state_dict(msd)
    return copied


# --- evaluation -------------------------------------------------------------------------------------------


def process_batch(detections, labels, iouv):
    correct = np.zeros((detections.shape[0], iouv.shape[0]), dtype=bool)
    iou = Y.box_iou(labels[:, 1:], detections[:, :4])
    correct_class = labels[:, 0:1] == detections[:, 5]
    for i in range(len(iouv)):
        x = torch.where((iou >= iouv[i]) & correct_class)
        if x[0].shape[0]:
            matches = torch.cat((torch.stack(x, 1), iou[x[0], x[1]][:, None]), 1).cpu().numpy()
            if x[0].shape[0] > 1:
                matches = matches[matches[:, 2].argsort()[::-1]]
                matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
                matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
            correct[matches[:, 1].astype(int), i] = True
    return torch.tensor(correct, dtype=torch.bool)


@torch.no_grad()
def evaluate(model, imgs, labels, batch=32, conf=0.001, iou=0.6) -> dict:
    model.eval()
    iouv = torch.linspace(0.5, 0.95, 10)
    stats = []
    for s in range(0, len(imgs), batch):
        pred = model(torch.from_numpy(imgs[s:s + batch]).float() / 255)[0]
        for j, det in enumerate(Y.non_max_suppression(pred, conf, iou, max_det=300)):
            lab = torch.from_numpy(labels[s + j])
            correct = process_batch(det, lab, iouv) if len(lab) and len(det) else torch.zeros(len(det), 10, dtype=torch.bool)
            stats.append((correct, det[:, 4], det[:, 5], lab[:, 0]))
    stats = [torch.cat(x, 0).numpy() for x in zip(*stats)]
    out = {"precision": 0.0, "recall": 0.0, "mAP50": 0.0, "mAP50-95": 0.0}
    if len(stats) and stats[0].any():
        tp, fp, p, r, f1, ap, cls = Y.ap_per_class(*stats, plot=False, names=NAMES)
        out = {"precision": float(p.mean()), "recall": float(r.mean()), "mAP50": float(ap[:, 0].mean()), "mAP50-95": float(ap.mean())}
        out["per_class_mAP50"] = {NAMES[int(c)]: round(float(a), 4) for c, a in zip(cls, ap[:, 0])}
    model.train()
    return out


def export_onnx(model, path: Path, imgsz: int = 416, opset: int = 12) -> Path:
    import onnx

    m = deepcopy(model).float().cpu().eval().fuse()
    for mod in m.modules():
        if isinstance(mod, Y.Detect):
            mod.inplace, mod.dynamic, mod.export = False, False, True
    im = torch.zeros(1, 3, imgsz, imgsz)
    for _ in range(2):
        m(im)
    torch.onnx.export(m, im, str(path), opset_version=opset, input_names=["images"], output_names=["output0"],
                      do_constant_folding=True, dynamo=False)
    om = onnx.load(str(path))
    onnx.checker.check_model(om)
    for k, v in {"stride": int(max(m.stride)), "names": NAMES}.items():
        meta = om.metadata_props.add()
        meta.key, meta.value = k, str(v)
    onnx.save(om, str(path))
    return path


# --- main ---------------------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "training/data/documents")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "training/runs")
    ap.add_argument("--mlflow-dir", type=Path, default=ROOT / "training/mlruns")
    ap.add_argument("--publish", type=Path, default=None, help="default models/document-detector.onnx ('' to skip)")
    ap.add_argument("--train-n", type=int, default=5000, help="photos generated (seed 1); the recognizers use them too")
    ap.add_argument("--use-n", type=int, default=2500, help="photos of them the detector trains on (2 views each)")
    ap.add_argument("--val-n", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr0", type=float, default=HYP["lr0"], help="peak learning rate (lower to polish a trained detector)")
    ap.add_argument("--nbs", type=int, default=16, help="nominal batch: gradients are accumulated to it (yolov5 uses 64)")
    ap.add_argument("--freeze", type=int, default=5, help="first layers kept as initialised (0: none); with --init plate the "
                    "plate detector's stem and first stages, which saves their backward pass (the costliest on a CPU)")
    ap.add_argument("--init", default="plate", help="plate (the bundled plate detector), scratch, a run's best.pt, or a detector's "
                    ".onnx (e.g. models/document-detector.onnx) to go on training (its anchors and weights; warmup shortened to the minimum)")
    ap.add_argument("--train-budget-s", type=float, default=0, help="after the first epoch, cut the epochs to fit")
    ap.add_argument("--epoch-val", type=int, default=0, help="validation views evaluated after each epoch (0: all); "
                    "the best epoch is chosen on them, the final numbers are on all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--run-name", default=None)
    ap.add_argument("--use-existing", action="store_true", help="train on the photos generated so far (a set still being made)")
    ap.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch; publishes nothing")
    a = ap.parse_args()
    if a.smoke:
        a.train_n, a.use_n, a.val_n, a.epochs = 24, 24, 8, 1
        a.data_dir = a.data_dir / "smoke"
    if a.publish is None:
        a.publish = Path("") if a.smoke else ROOT / "models/document-detector.onnx"
    return a


def main():
    a = parse_args()
    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.workers)
    fonts = a.data_dir / "fonts"
    tr_dir = a.data_dir / f"train-s1-n{a.train_n}"
    va_dir = a.data_dir / f"val-s2-n{a.val_n}"
    if not a.use_existing:
        generate(tr_dir, a.train_n, 1, a.workers, fonts)
        generate(va_dir, a.val_n, 2, a.workers, fonts)
    tr_imgs, tr_labels = build_views(tr_dir, a.use_n, 1, a.data_dir / f"detector-views-s1-n{a.use_n}-v{GENERATOR_VERSION}.npz", a.workers)
    va_imgs, va_labels = build_views(va_dir, a.val_n, 2, a.data_dir / f"detector-views-s2-n{a.val_n}-v{GENERATOR_VERSION}.npz", a.workers)
    t_data = time.time() - t_start
    log(f"{len(tr_imgs)} training / {len(va_imgs)} validation views ({t_data:.0f}s)")

    cfg = Path(Y.yolov5.__file__).parent / "models" / "yolov5n.yaml"
    model = Y.DetectionModel(str(cfg), ch=3, nc=len(CLASSES))
    det = model.model[-1]
    W, H = CANVAS
    ds = types.SimpleNamespace(shapes=np.tile(np.array([[W, H]], np.float32), (len(tr_imgs), 1)),
                               labels=[np.c_[l[:, :1], (l[:, 1:3] + l[:, 3:5]) / 2 / [W, H], (l[:, 3:5] - l[:, 1:3]) / [W, H]] for l in tr_labels])
    resume = a.init not in ("plate", "scratch")
    if resume and a.init.endswith(".onnx"):
        # a shipped detector (the repository keeps only its ONNX): its weights and anchors, each batch
        # norm calibrated on our images so that training mode starts from what the ONNX computes
        import detector_init

        model = detector_init.load_onnx(Path(a.init), names=NAMES)
        if model.model[-1].nc != len(CLASSES):
            raise SystemExit(f"{a.init} has {model.model[-1].nc} classes, not the {len(CLASSES)} of views.py")
        detector_init.calibrate_bn(model, tr_imgs[:64])
        model.train()
        det = model.model[-1]
        log(f"initialised from {a.init} (its weights and anchors, batch norms calibrated on 64 views)")
    elif resume:
        ckpt = torch.load(a.init, map_location="cpu", weights_only=False)
        model.load_state_dict({k: v.float() for k, v in ckpt["model"].items()})
        log(f"initialised from {a.init} (epoch {ckpt['epoch'] + 1} of its run, its anchors)")
    else:
        anchors = Y.kmean_anchors(ds, n=det.anchors.numel() // 2, img_size=W, thr=HYP["anchor_t"], gen=300, verbose=False)
        det.anchors[:] = torch.tensor(anchors, dtype=torch.float32).view_as(det.anchors) / det.stride.view(-1, 1, 1)
    Y.check_anchor_order(det)
    log(f"anchors (px): {(det.anchors * det.stride.view(-1, 1, 1)).round().view(-1, 2).tolist()}")
    copied = 0
    if a.init == "plate":
        copied = init_from_plate_detector(model, ROOT / "models/plate-detector.onnx", tr_imgs)
        log(f"initialised from models/plate-detector.onnx ({copied} tensors)")
    hyp = dict(HYP, lr0=a.lr0)
    if resume:  # trained weights: no bias warmup from 0.1, the 50-batch minimum of momentum warmup only
        hyp.update(warmup_epochs=0.0, warmup_bias_lr=hyp["lr0"])
    nl = det.nl
    hyp["box"] *= 3 / nl
    hyp["cls"] *= len(CLASSES) / 80 * 3 / nl
    hyp["obj"] *= (W / 640) ** 2 * 3 / nl
    model.nc, model.hyp, model.names = len(CLASSES), hyp, NAMES
    compute_loss = Y.ComputeLoss(model)
    nbs = a.nbs
    accumulate = max(round(nbs / a.batch), 1)
    frozen = [f"model.{i}." for i in range(a.freeze if a.init != "scratch" else 0)]
    for k, v in model.named_parameters():
        if any(k.startswith(f) for f in frozen):
            v.requires_grad = False
    optimizer = Y.smart_optimizer(model, "SGD", hyp["lr0"], hyp["momentum"], hyp["weight_decay"] * a.batch * accumulate / nbs)
    plan = {"epochs": a.epochs}
    lf = lambda x: max(1 - x / plan["epochs"], 0) * (1.0 - hyp["lrf"]) + hyp["lrf"]  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf)
    ema = Y.ModelEMA(model)
    n_params = sum(p.numel() for p in model.parameters())
    run_name = a.run_name or time.strftime("yolov5n-docs-%Y%m%d-%H%M%S")
    out = a.runs_dir / run_name
    out.mkdir(parents=True, exist_ok=True)

    import mlflow

    with mlflow_server(a.mlflow_dir, free_port()) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("document-detector")
        with mlflow.start_run(run_name=run_name) as run:
            mlflow.log_params({"train_photos": a.use_n, "train_views": len(tr_imgs), "val_views": len(va_imgs), "epochs": a.epochs,
                               "batch": a.batch, "nbs": a.nbs, "freeze": a.freeze if a.init != "scratch" else 0, "init": a.init, "init_tensors": copied, "canvas": f"{W}x{H}", "export": "416x416",
                               "classes": ",".join(CLASSES), "params": n_params, "corner_sigma": CORNER_SIGMA,
                               "generator_version": GENERATOR_VERSION, "torch": torch.__version__, "yolov5": Y.yolov5.__version__,
                               "threads": a.workers, **{f"hyp_{k}": v for k, v in hyp.items()}})
            mlflow.set_tags({"task": "ID document, corner and zone detection", "data": "synthetic (training/documents)"})
            g = torch.Generator().manual_seed(a.seed)
            nb = math.ceil(len(tr_imgs) / a.batch)
            nw = max(round(hyp["warmup_epochs"] * nb), 50)
            best, best_ep, last_opt_step, rows, best_model = -1.0, -1, -1, [], None
            t_train = time.time()
            epoch = 0
            while epoch < plan["epochs"]:
                model.train()
                te = time.time()
                perm = torch.randperm(len(tr_imgs), generator=g).numpy()
                mloss = torch.zeros(3)
                optimizer.zero_grad()
                for i in range(nb):
                    ni = i + nb * epoch
                    if ni <= nw:
                        xi = [0, nw]
                        accumulate = max(1, np.interp(ni, xi, [1, nbs / a.batch]).round())
                        for j, x in enumerate(optimizer.param_groups):
                            x["lr"] = np.interp(ni, xi, [hyp["warmup_bias_lr"] if j == 0 else 0.0, x["initial_lr"] * lf(epoch)])
                            if "momentum" in x:
                                x["momentum"] = np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]])
                    idx = perm[i * a.batch:(i + 1) * a.batch]
                    x = photometric_jitter(torch.from_numpy(tr_imgs[idx]).float() / 255, g)
                    loss, items = compute_loss(model(x), batch_targets(tr_labels, idx, "cpu"))
                    loss.backward()
                    if ni - last_opt_step >= accumulate:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
                        optimizer.step()
                        optimizer.zero_grad()
                        ema.update(model)
                        last_opt_step = ni
                    mloss = (mloss * i + items) / (i + 1)
                    if i % 20 == 0:
                        log(f"epoch {epoch + 1} batch {i}/{nb} loss {mloss.sum():.4f} ({time.time() - te:.0f}s)")
                lr = optimizer.param_groups[2]["lr"]
                scheduler.step()
                ema.update_attr(model, include=["yaml", "nc", "hyp", "names", "stride"])
                nv = a.epoch_val or len(va_imgs)
                m = evaluate(ema.ema, va_imgs[:nv], va_labels[:nv])
                ep_time = time.time() - te
                metrics = {"train/box_loss": float(mloss[0]), "train/obj_loss": float(mloss[1]), "train/cls_loss": float(mloss[2]),
                           "lr": float(lr), "epoch_time_s": ep_time, **{f"val/{k}": v for k, v in m.items() if k != "per_class_mAP50"}}
                mlflow.log_metrics(metrics, step=epoch)
                rows.append({"epoch": epoch, **metrics})
                fit = 0.1 * m["mAP50"] + 0.9 * m["mAP50-95"]
                if fit > best:
                    best, best_ep, best_model = fit, epoch, deepcopy(ema.ema)
                    torch.save({"epoch": epoch, "model": deepcopy(ema.ema).half().state_dict(), "yaml": model.yaml, "metrics": m}, out / "best.pt")
                if epoch == 0 and a.train_budget_s > 0:
                    fit_epochs = max(1, min(a.epochs, int(a.train_budget_s // ep_time)))
                    if fit_epochs != plan["epochs"]:
                        plan["epochs"] = fit_epochs
                        log(f"time budget {a.train_budget_s:.0f}s at {ep_time:.0f}s/epoch: {fit_epochs} epochs")
                    mlflow.log_param("epochs_effective", plan["epochs"])
                log(f"epoch {epoch + 1}/{plan['epochs']} {ep_time:.0f}s loss {mloss.sum():.4f} P {m['precision']:.3f} "
                    f"R {m['recall']:.3f} mAP50 {m['mAP50']:.3f} mAP50-95 {m['mAP50-95']:.3f} {m.get('per_class_mAP50')}")
                epoch += 1
            t_train = time.time() - t_train
            with open(out / "results.csv", "w", newline="") as f:
                w_ = csv.DictWriter(f, fieldnames=list(rows[0]))
                w_.writeheader()
                w_.writerows(rows)
            onnx_path = export_onnx(best_model, out / "document-detector.onnx")
            digest = sha256(onnx_path)
            (out / "document-detector.onnx.sha256").write_text(f"{digest}  document-detector.onnx\n")
            final = evaluate(best_model, va_imgs, va_labels)
            size_mb = onnx_path.stat().st_size / 1e6
            summary = {"run_id": run.info.run_id, "best_epoch": best_ep, "epochs": plan["epochs"], "val": final, "onnx_sha256": digest,
                       "onnx_mb": round(size_mb, 2), "params": n_params, "init": a.init, "device": platform.processor() or "cpu",
                       "threads": a.workers, "data_s": round(t_data), "train_s": round(t_train), "train_views": len(tr_imgs),
                       "val_views": len(va_imgs)}
            mlflow.log_metrics({f"best/{k}": v for k, v in final.items() if k != "per_class_mAP50"} | {"onnx_mb": size_mb})
            mlflow.log_artifact(str(onnx_path), "model")
            mlflow.log_artifact(str(out / "document-detector.onnx.sha256"), "model")
            mlflow.log_artifact(str(out / "results.csv"))
            mlflow.set_tag("onnx_sha256", digest)
            finish_run(run, out, summary, "document-detector", "YOLOv5n: ID documents (TD1/TD2/TD3), corners, MRZ lines, fields",
                       {"onnx_sha256": digest}, a.smoke, t_start, "detector")
    publish(onnx_path, a.publish, "detector")
    log(f"done in {time.time() - t_start:.0f}s: {json.dumps(summary['val'])}")


if __name__ == "__main__":
    main()
