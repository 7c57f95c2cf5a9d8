"""Train the bundled plate detector end to end: one command reproduces everything.

    .venv/bin/python training/train.py            # (see training/README.md for the setup line)

Steps: generate the seeded synthetic train/val sets (training/synth.py) -> start a local
`mlflow server` (sqlite + proxied artifacts under training/mlruns) -> train a YOLOv5n from scratch
(or fine-tune a shipped detector: --init-onnx models/plate-detector.onnx --lr0 0.002)
with the yolov5 package's own model, loss, anchors, EMA, optimizer and NMS (a compact loop instead of
yolov5/train.py, which wants network access and a heavy logger stack) -> log params and per-epoch
metrics -> export the best EMA weights to ONNX (static shape, opset 12, original anchor-based output
[1, N, 5+nc], metadata `names`/`stride` as yolov5 writes them) -> log the ONNX and its sha256 ->
register `plate-detector`, alias `champion` -> copy the ONNX to models/plate-detector.onnx.

Runs on CUDA when there is a GPU, else on the CPU. The defaults are the settings of the shipped
model (models/plate-detector.md): 12,000 training scenes, 17 epochs, batch 128, imgsz 416, which took
7 minutes on one H100 (data generation on 16 cores included) and would take hours on a 2-core CPU.
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
from multiprocessing.pool import ThreadPool
from pathlib import Path

# --- keep the yolov5 package offline ------------------------------------------------------------
# yolov5.utils.general imports ultralytics' check_requirements (which may pip-install or call home)
# and pkg_resources (gone from recent setuptools). Neither is needed for model/loss/NMS: stub them.
os.environ.setdefault("YOLOv5_AUTOINSTALL", "false")
os.environ.setdefault("YOLOv5_VERBOSE", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
for _name in ("ultralytics", "ultralytics.utils", "ultralytics.utils.checks"):
    sys.modules.setdefault(_name, types.ModuleType(_name))
sys.modules["ultralytics.utils.checks"].check_requirements = lambda *a, **k: None
try:
    import pkg_resources  # noqa: F401
except Exception:  # setuptools >= 81
    from packaging.version import parse as _parse

    _pkg = types.ModuleType("pkg_resources")
    _pkg.parse_version = _parse
    sys.modules["pkg_resources"] = _pkg

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

if not hasattr(np, "trapz"):  # numpy 2: yolov5's compute_ap still calls np.trapz
    np.trapz = np.trapezoid

from yolov5.models.yolo import Detect, DetectionModel  # noqa: E402
from yolov5.utils.augmentations import letterbox  # noqa: E402
from yolov5.utils.autoanchor import check_anchor_order, kmean_anchors  # noqa: E402
from yolov5.utils.general import non_max_suppression, xywhn2xyxy  # noqa: E402
from yolov5.utils.loss import ComputeLoss  # noqa: E402
from yolov5.utils.metrics import ap_per_class, box_iou  # noqa: E402
from yolov5.utils.torch_utils import ModelEMA, smart_optimizer  # noqa: E402

import yolov5  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth  # noqa: E402
from tracking import finish_run, free_port, publish, mlflow_server, sha256  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAMES = {0: "plate"}
# hyp.scratch-low.yaml of yolov5 7.0 (the augmentation keys are unused: the generator augments)
HYP = dict(lr0=0.01, lrf=0.01, momentum=0.937, weight_decay=0.0005, warmup_epochs=3.0, warmup_momentum=0.8,
           warmup_bias_lr=0.1, box=0.05, cls=0.5, cls_pw=1.0, obj=1.0, obj_pw=1.0, iou_t=0.20, anchor_t=4.0,
           fl_gamma=0.0, label_smoothing=0.0)


def log(msg):
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- data ------------------------------------------------------------------------------------------


def load_split(root: Path, imgsz: int, threads: int):
    """Letterboxes every image to imgsz (yolov5's letterbox, pad 114) and caches it in RAM as NCHW
    uint8; labels become [cls, x1, y1, x2, y2] in letterboxed pixels."""
    files = sorted((root / "images").glob("*.jpg"))
    imgs = np.empty((len(files), 3, imgsz, imgsz), np.uint8)
    labels, shapes = [], []

    def one(i):
        f = files[i]
        im = cv2.imread(str(f))  # BGR
        h0, w0 = im.shape[:2]
        lb, ratio, (dw, dh) = letterbox(im, (imgsz, imgsz), auto=False, scaleup=True)
        imgs[i] = lb[:, :, ::-1].transpose(2, 0, 1)  # RGB, CHW
        txt = (root / "labels" / (f.stem + ".txt")).read_text().split()
        lab = np.array(txt, np.float32).reshape(-1, 5)
        if len(lab):
            lab[:, 1:] = xywhn2xyxy(lab[:, 1:], ratio[0] * w0, ratio[1] * h0, padw=dw, padh=dh)
        return lab, (w0, h0)

    with ThreadPool(threads) as pool:
        for lab, shape in pool.imap(one, range(len(files)), chunksize=32):
            labels.append(lab)
            shapes.append(shape)
    return imgs, labels, np.array(shapes, np.float32)


def batch_targets(labels, idx, imgsz, device):
    """yolov5 ComputeLoss targets: [image_in_batch, cls, cx, cy, w, h] normalised."""
    out = []
    for bi, i in enumerate(idx):
        lab = labels[i]
        if len(lab):
            t = np.zeros((len(lab), 6), np.float32)
            t[:, 0] = bi
            t[:, 1] = lab[:, 0]
            t[:, 2] = (lab[:, 1] + lab[:, 3]) / 2 / imgsz
            t[:, 3] = (lab[:, 2] + lab[:, 4]) / 2 / imgsz
            t[:, 4] = (lab[:, 3] - lab[:, 1]) / imgsz
            t[:, 5] = (lab[:, 4] - lab[:, 2]) / imgsz
            out.append(t)
    t = np.concatenate(out) if out else np.zeros((0, 6), np.float32)
    return torch.from_numpy(t).to(device)


def photometric_jitter(x: torch.Tensor, g: torch.Generator):
    """Cheap per-image brightness/contrast/colour jitter on the device (the generator already varies
    lighting; this keeps epochs over the same images from being identical)."""
    n = x.shape[0]
    dev = x.device
    c = 1 + (torch.rand(n, 1, 1, 1, generator=g, device=dev) - 0.5) * 0.4
    b = (torch.rand(n, 1, 1, 1, generator=g, device=dev) - 0.5) * 0.2
    ch = 1 + (torch.rand(n, 3, 1, 1, generator=g, device=dev) - 0.5) * 0.1
    return ((x - 0.5) * c + 0.5 + b).mul(ch).clamp_(0, 1)


# --- evaluation ------------------------------------------------------------------------------------


def process_batch(detections, labels, iouv):
    """yolov5 val.py: correct-prediction matrix [n_det, n_iou] (one match per label, greedy by IoU)."""
    correct = np.zeros((detections.shape[0], iouv.shape[0]), dtype=bool)
    iou = box_iou(labels[:, 1:], detections[:, :4])
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
    return torch.tensor(correct, dtype=torch.bool, device=iouv.device)


@torch.no_grad()
def evaluate(model, imgs, labels, device, batch=64, conf=0.001, iou=0.6):
    model.eval()
    iouv = torch.linspace(0.5, 0.95, 10, device=device)
    stats = []
    amp = device.type == "cuda"
    for s in range(0, len(imgs), batch):
        x = torch.from_numpy(imgs[s:s + batch]).to(device).float() / 255
        with torch.autocast(device.type, enabled=amp):
            pred = model(x)[0]
        out = non_max_suppression(pred.float(), conf, iou, max_det=300)
        for j, det in enumerate(out):
            lab = torch.from_numpy(labels[s + j]).to(device)
            if len(det) == 0:
                if len(lab):
                    stats.append((torch.zeros(0, 10, dtype=torch.bool, device=device), torch.zeros(0, device=device),
                                  torch.zeros(0, device=device), lab[:, 0]))
                continue
            correct = process_batch(det, lab, iouv) if len(lab) else torch.zeros(len(det), 10, dtype=torch.bool, device=device)
            stats.append((correct, det[:, 4], det[:, 5], lab[:, 0]))
    stats = [torch.cat(x, 0).cpu().numpy() for x in zip(*stats)]
    if len(stats) and stats[0].any():
        tp, fp, p, r, f1, ap, _ = ap_per_class(*stats, plot=False, names=NAMES)
        return {"precision": float(p.mean()), "recall": float(r.mean()), "mAP50": float(ap[:, 0].mean()),
                "mAP50-95": float(ap.mean())}
    return {"precision": 0.0, "recall": 0.0, "mAP50": 0.0, "mAP50-95": 0.0}


# --- export ----------------------------------------------------------------------------------------


def export_onnx(model, imgsz: int, path: Path, opset: int = 12):
    import onnx

    m = deepcopy(model).float().cpu().eval()
    m = m.fuse()
    for mod in m.modules():
        if isinstance(mod, Detect):
            mod.inplace = False
            mod.dynamic = False
            mod.export = True
    im = torch.zeros(1, 3, imgsz, imgsz)
    for _ in range(2):
        m(im)  # dry runs build the grids
    kwargs = dict(opset_version=opset, input_names=["images"], output_names=["output0"], do_constant_folding=True)
    try:
        torch.onnx.export(m, im, str(path), dynamo=False, **kwargs)
    except TypeError:  # torch < 2.5 has no dynamo argument
        torch.onnx.export(m, im, str(path), **kwargs)
    om = onnx.load(str(path))
    onnx.checker.check_model(om)
    for k, v in {"stride": int(max(m.stride)), "names": NAMES}.items():
        meta = om.metadata_props.add()
        meta.key, meta.value = k, str(v)
    onnx.save(om, str(path))
    return path


# --- main ------------------------------------------------------------------------------------------


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "training/data")
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "training/runs")
    ap.add_argument("--mlflow-dir", type=Path, default=ROOT / "training/mlruns")
    ap.add_argument("--mlflow-port", type=int, default=0, help="0: a free port")
    ap.add_argument("--publish", type=Path, default=None,
                    help="copy the exported ONNX here ('' to skip; default models/plate-detector.onnx, "
                         "nothing with --smoke)")
    ap.add_argument("--train-n", type=int, default=12000)
    ap.add_argument("--val-n", type=int, default=500)
    ap.add_argument("--train-seed", type=int, default=1)
    ap.add_argument("--val-seed", type=int, default=2, help="the eval set (npm run eval) uses seed 3")
    ap.add_argument("--cfg", default="yolov5n.yaml", help="a model yaml of the yolov5 package")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--epochs", type=int, default=17)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-budget-s", type=float, default=0,
                    help="if > 0: after the first epoch, cut --epochs so training fits this many seconds "
                         "(the linear LR schedule is re-planned to end at the new last epoch)")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="auto")
    ap.add_argument("--opset", type=int, default=12)
    ap.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch: checks the pipeline")
    ap.add_argument("--run-name", default=None)
    ap.add_argument("--init-onnx", type=Path, default=None,
                    help="fine-tune from a detector's ONNX (e.g. models/plate-detector.onnx): its weights and anchors, "
                         "no warmup of the biases")
    ap.add_argument("--lr0", type=float, default=None, help="peak learning rate (default: yolov5's 0.01; fine-tuning: lower)")
    a = ap.parse_args()
    if a.smoke:
        a.train_n, a.val_n, a.epochs = min(a.train_n, 64), min(a.val_n, 32), 1
        a.data_dir = a.data_dir / "smoke"
    if a.publish is None:
        a.publish = Path("") if a.smoke else ROOT / "models/plate-detector.onnx"
    return a


def main():
    a = parse_args()
    t_start = time.time()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    if device.type == "cpu":
        torch.set_num_threads(max(1, a.workers))

    # 1. data
    t0 = time.time()
    fonts = a.data_dir / "fonts"
    tr_meta = synth.generate(a.data_dir / f"train-s{a.train_seed}-n{a.train_n}", a.train_n, a.train_seed, a.workers, fonts)
    va_meta = synth.generate(a.data_dir / f"val-s{a.val_seed}-n{a.val_n}", a.val_n, a.val_seed, a.workers, fonts)
    t_data = time.time() - t0
    log(f"data ready in {t_data:.0f}s")
    tr_imgs, tr_labels, tr_shapes = load_split(a.data_dir / f"train-s{a.train_seed}-n{a.train_n}", a.imgsz, a.workers)
    va_imgs, va_labels, _ = load_split(a.data_dir / f"val-s{a.val_seed}-n{a.val_n}", a.imgsz, a.workers)
    log(f"cached {len(tr_imgs)} train / {len(va_imgs)} val images at {a.imgsz} ({tr_imgs.nbytes / 1e9:.1f} GB)")

    # 2. model: yolov5n from its yaml, 1 class, anchors evolved on our labels (yolov5 autoanchor)
    hyp = dict(HYP)
    if a.lr0:
        hyp["lr0"] = a.lr0
    if a.init_onnx:
        # the shipped detector's weights and anchors; a warmup from bias LR 0.1 would undo what it learnt
        import detector_init

        model = detector_init.load_onnx(a.init_onnx, a.cfg)
        detector_init.calibrate_bn(model, tr_imgs[:64])
        model = model.to(device)
        det = model.model[-1]
        hyp["warmup_bias_lr"], hyp["warmup_momentum"], hyp["warmup_epochs"] = hyp["lr0"], hyp["momentum"], 0.0
    else:
        cfg = Path(yolov5.__file__).parent / "models" / a.cfg
        model = DetectionModel(str(cfg), ch=3, nc=1).to(device)
        det = model.model[-1]
        ds = types.SimpleNamespace(shapes=np.full((len(tr_imgs), 2), a.imgsz, np.float32),
                                   labels=[np.c_[l[:, :1], (l[:, 1:3] + l[:, 3:5]) / 2 / a.imgsz,
                                                 (l[:, 3:5] - l[:, 1:3]) / a.imgsz] for l in tr_labels])
        anchors = kmean_anchors(ds, n=det.anchors.numel() // 2, img_size=a.imgsz, thr=HYP["anchor_t"], gen=1000, verbose=False)
        anchors = torch.tensor(anchors, device=device, dtype=torch.float32).view_as(det.anchors)
        det.anchors[:] = anchors / det.stride.to(device).view(-1, 1, 1)
        check_anchor_order(det)
    log(f"anchors (px at {a.imgsz}): {(det.anchors * det.stride.view(-1, 1, 1)).round().view(-1, 2).tolist()}")
    nl = det.nl
    hyp["box"] *= 3 / nl
    hyp["cls"] *= 1 / 80 * 3 / nl
    hyp["obj"] *= (a.imgsz / 640) ** 2 * 3 / nl
    model.nc, model.hyp, model.names = 1, hyp, NAMES
    compute_loss = ComputeLoss(model)
    nbs = 64
    accumulate = max(round(nbs / a.batch), 1)
    wd = hyp["weight_decay"] * a.batch * accumulate / nbs
    optimizer = smart_optimizer(model, "SGD", hyp["lr0"], hyp["momentum"], wd)
    plan = {"epochs": a.epochs}
    lf = lambda x: max(1 - x / plan["epochs"], 0) * (1.0 - hyp["lrf"]) + hyp["lrf"]  # noqa: E731 (linear, as yolov5)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lf)
    ema = ModelEMA(model)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    n_params = sum(p.numel() for p in model.parameters())

    run_name = a.run_name or time.strftime("yolov5n-%Y%m%d-%H%M%S")
    out = a.runs_dir / run_name
    out.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else None

    import mlflow

    with mlflow_server(a.mlflow_dir, a.mlflow_port or free_port()) as url:
        mlflow.set_tracking_uri(url)
        mlflow.set_experiment("plate-detector")
        with mlflow.start_run(run_name=run_name) as run:
            params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()
                      if k not in ("data_dir", "runs_dir", "mlflow_dir", "publish", "run_name", "mlflow_port")}
            params.update({f"hyp_{k}": v for k, v in hyp.items()})
            params.update({"device_type": device.type, "gpu": gpu or "none", "torch": torch.__version__,
                           "yolov5": yolov5.__version__, "python": platform.python_version(),
                           "generator_version": synth.GENERATOR_VERSION, "train_images": len(tr_imgs),
                           "train_plates": tr_meta["plates"], "val_images": len(va_imgs), "val_plates": va_meta["plates"],
                           "model_params": n_params, "anchors": json.dumps((det.anchors * det.stride.view(-1, 1, 1)).round().view(-1).tolist()),
                           "accumulate": accumulate, "optimizer": "SGD(nesterov)", "lr_schedule": "linear", "ema": True})
            mlflow.log_params(params)
            mlflow.set_tags({"task": "licence-plate detection", "data": "synthetic (training/synth.py)"})

            # 3. train
            dev_imgs = torch.from_numpy(tr_imgs).to(device) if device.type == "cuda" else torch.from_numpy(tr_imgs)
            g = torch.Generator(device=device).manual_seed(a.seed)
            gcpu = torch.Generator().manual_seed(a.seed)
            nb = math.ceil(len(tr_imgs) / a.batch)
            nw = max(round(hyp["warmup_epochs"] * nb), 100) if hyp["warmup_epochs"] > 0 else 0
            best, best_ep, last_opt_step = -1.0, -1, -1
            rows = []
            t_train = time.time()
            epoch = 0
            while epoch < plan["epochs"]:
                model.train()
                te = time.time()
                perm = torch.randperm(len(tr_imgs), generator=gcpu).numpy()
                mloss = torch.zeros(3, device=device)
                optimizer.zero_grad()
                for i in range(nb):
                    ni = i + nb * epoch
                    if nw and ni <= nw:  # warmup, as yolov5
                        xi = [0, nw]
                        accumulate = max(1, np.interp(ni, xi, [1, nbs / a.batch]).round())
                        for j, x in enumerate(optimizer.param_groups):
                            x["lr"] = np.interp(ni, xi, [hyp["warmup_bias_lr"] if j == 0 else 0.0, x["initial_lr"] * lf(epoch)])
                            if "momentum" in x:
                                x["momentum"] = np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]])
                    idx = perm[i * a.batch:(i + 1) * a.batch]
                    x = dev_imgs[torch.from_numpy(idx).to(dev_imgs.device)].to(device, non_blocking=True).float() / 255
                    x = photometric_jitter(x, g)
                    targets = batch_targets(tr_labels, idx, a.imgsz, device)
                    with torch.autocast(device.type, enabled=device.type == "cuda"):
                        pred = model(x)
                        loss, loss_items = compute_loss(pred, targets)
                    scaler.scale(loss).backward()
                    if ni - last_opt_step >= accumulate:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
                        scaler.step(optimizer)
                        scaler.update()
                        optimizer.zero_grad()
                        ema.update(model)
                        last_opt_step = ni
                    mloss = (mloss * i + loss_items) / (i + 1)
                lr = optimizer.param_groups[2]["lr"]
                scheduler.step()
                ema.update_attr(model, include=["yaml", "nc", "hyp", "names", "stride"])
                m = evaluate(ema.ema, va_imgs, va_labels, device)
                ep_time = time.time() - te
                metrics = {"train/box_loss": float(mloss[0]), "train/obj_loss": float(mloss[1]),
                           "train/cls_loss": float(mloss[2]), "lr": float(lr), "epoch_time_s": ep_time,
                           **{f"val/{k}": v for k, v in m.items()}}
                mlflow.log_metrics(metrics, step=epoch)
                rows.append({"epoch": epoch, **metrics})
                fit = 0.1 * m["mAP50"] + 0.9 * m["mAP50-95"]  # yolov5 fitness
                if fit > best:
                    best, best_ep = fit, epoch
                    torch.save({"epoch": epoch, "model": deepcopy(ema.ema).half().state_dict(), "yaml": model.yaml,
                                "anchors": det.anchors.cpu(), "metrics": m}, out / "best.pt")
                    best_model = deepcopy(ema.ema)
                if epoch == 0 and a.train_budget_s > 0:
                    fit_epochs = max(1, min(a.epochs, int(a.train_budget_s // ep_time)))
                    if fit_epochs != plan["epochs"]:
                        plan["epochs"] = fit_epochs
                        log(f"time budget {a.train_budget_s:.0f}s at {ep_time:.1f}s/epoch: {fit_epochs} epochs")
                    mlflow.log_param("epochs_effective", plan["epochs"])
                log(f"epoch {epoch + 1}/{plan['epochs']} {ep_time:.0f}s loss {mloss.sum():.4f} "
                    f"P {m['precision']:.3f} R {m['recall']:.3f} mAP50 {m['mAP50']:.3f} mAP50-95 {m['mAP50-95']:.3f}")
                epoch += 1
            t_train = time.time() - t_train
            with open(out / "results.csv", "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)

            # 4. export the best EMA weights, log, register
            onnx_path = export_onnx(best_model, a.imgsz, out / "plate-detector.onnx", a.opset)
            digest = sha256(onnx_path)
            (out / "plate-detector.onnx.sha256").write_text(f"{digest}  plate-detector.onnx\n")
            size_mb = onnx_path.stat().st_size / 1e6
            final = evaluate(best_model.to(device), va_imgs, va_labels, device)
            summary = {"run_id": run.info.run_id, "best_epoch": best_ep, "epochs": plan["epochs"], "val": final, "onnx_sha256": digest,
                       "onnx_mb": round(size_mb, 2), "imgsz": a.imgsz, "device": gpu or platform.processor() or "cpu",
                       "data_s": round(t_data), "train_s": round(t_train), "train_images": len(tr_imgs),
                       "train_plates": tr_meta["plates"], "val_images": len(va_imgs), "val_plates": va_meta["plates"],
                       "systems": tr_meta["systems"], "fonts": tr_meta["fonts"], "font_packages": tr_meta["fontPackages"]}
            mlflow.log_metrics({f"best/{k}": v for k, v in final.items()} | {"onnx_mb": size_mb, "best_epoch": best_ep})
            mlflow.log_artifact(str(onnx_path), "model")
            mlflow.log_artifact(str(out / "plate-detector.onnx.sha256"), "model")
            mlflow.log_artifact(str(out / "results.csv"))
            mlflow.log_artifact(str(a.data_dir / f"train-s{a.train_seed}-n{a.train_n}" / "meta.json"), "data/train")
            mlflow.log_artifact(str(a.data_dir / f"val-s{a.val_seed}-n{a.val_n}" / "meta.json"), "data/val")
            mlflow.set_tag("onnx_sha256", digest)

            finish_run(run, out, summary, "plate-detector", "YOLOv5n licence-plate detector trained on synthetic scenes", {"onnx_sha256": digest, "imgsz": str(a.imgsz)}, a.smoke, t_start, "train")

    publish(onnx_path, a.publish, "train")
    log(f"done in {time.time() - t_start:.0f}s: {json.dumps(summary['val'])}")


if __name__ == "__main__":
    main()
