"""The bundled detector's weights back in the yolov5n module, from its ONNX export (the repository
keeps only the ONNX: BN is folded into the convolutions, the anchors are constants of the graph).

    .venv/bin/python training/detector_init.py --imgsz 640 --out /tmp/plate-detector-640.onnx

Used by train.py --init-onnx to fine-tune from the shipped detector (load_onnx, then calibrate_bn),
and alone to re-export it at another input size (the network is fully convolutional; the anchors
are in pixels).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (sets up the offline yolov5 import)
from yolov5.models.common import Conv  # noqa: E402
from yolov5.models.yolo import DetectionModel  # noqa: E402
from onnx_weights import calibrate_folded_bn, load_folded_conv  # noqa: E402


def onnx_anchors(graph, inits: dict) -> np.ndarray:
    """[3, 3, 2] anchors in pixels, from the anchor_grid constants (shape [1, 3, ny, nx, 2]) by grid size."""
    from onnx import numpy_helper

    grids = []
    for n in graph.node:
        if n.op_type == "Constant":
            a = numpy_helper.to_array(n.attribute[0].t)
            if a.ndim == 5 and a.shape[0] == 1 and a.shape[1] == 3 and a.shape[4] == 2:
                grids.append(a)
    grids += [a for a in inits.values() if a.ndim == 5 and a.shape[1] == 3 and a.shape[4] == 2]
    # the cell offsets (grid) have the same shape; the anchor grid is the same in every cell
    grids = [a for a in grids if np.allclose(a[0, :, 0, 0], a[0, :, -1, -1])]
    if len(grids) != 3:
        raise ValueError(f"expected 3 anchor grids in the graph, found {len(grids)}")
    grids.sort(key=lambda a: -a.shape[2])  # largest grid (stride 8) first
    return np.stack([g[0, :, 0, 0, :] for g in grids])


def load_onnx(path: Path, cfg: str = "yolov5n.yaml", fused: bool = False, names: dict | None = None) -> DetectionModel:
    """A DetectionModel with the ONNX's weights. Unfused (default): each BN is set so that it passes
    the folded convolution's output through unchanged (weight 1, bias the folded bias, running stats
    0/1), a starting point for fine-tuning; fused: the export's own structure. The class count is
    the detect head's (the plate detector's 1, the document detector's 16); `names` those classes'."""
    import onnx
    from onnx import numpy_helper

    import yolov5

    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    head = [v for k, v in inits.items() if k.endswith(".m.0.weight") and v.ndim == 4 and v.shape[2:] == (1, 1)]
    nc = head[-1].shape[0] // 3 - 5 if head else 1
    model = DetectionModel(str(Path(yolov5.__file__).parent / "models" / cfg), ch=3, nc=nc)
    det = model.model[-1]
    anchors = torch.tensor(onnx_anchors(m.graph, inits), dtype=torch.float32)
    det.anchors[:] = anchors / det.stride.view(-1, 1, 1)
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, Conv):
                load_folded_conv(mod.conv, mod.bn, inits[f"{name}.conv.weight"], inits[f"{name}.conv.bias"])
        for i, conv in enumerate(det.m):
            conv.weight.copy_(torch.from_numpy(inits[f"model.{len(model.model) - 1}.m.{i}.weight"]))
            conv.bias.copy_(torch.from_numpy(inits[f"model.{len(model.model) - 1}.m.{i}.bias"]))
    model.names = names if names is not None else train.NAMES
    model.eval()
    return model.fuse() if fused else model


def calibrate_bn(model: DetectionModel, imgs: np.ndarray) -> None:
    """Makes an unfused load_onnx model compute in training mode what it computes in eval mode, its
    batch norms calibrated on `imgs` (NCHW uint8, e.g. 64 training images):
    onnx_weights.calibrate_folded_bn."""
    model.eval()
    pairs = [(mod.conv, mod.bn) for mod in model.modules() if isinstance(mod, Conv)]
    calibrate_folded_bn(pairs, lambda: model(torch.from_numpy(imgs).float() / 255))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, default=train.ROOT / "models" / "plate-detector.onnx")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    model = load_onnx(a.onnx)
    # the re-export must compute what the original does at the original size
    import onnxruntime as ort

    size0 = ort.InferenceSession(str(a.onnx)).get_inputs()[0].shape[2]
    x = torch.rand(1, 3, size0, size0)
    ref = ort.InferenceSession(str(a.onnx)).run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        got = model(x)[0].numpy()
    print(f"[detector_init] torch vs {a.onnx.name} at {size0}: max |diff| {np.abs(got - ref).max():.2e}")
    train.export_onnx(model, a.imgsz, a.out)
    print(f"[detector_init] exported {a.out} at {a.imgsz}")
