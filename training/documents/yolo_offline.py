"""Imports the yolov5 package without its online side: yolov5.utils.general imports ultralytics'
check_requirements (which may pip-install or call home) and pkg_resources (gone from recent
setuptools). Neither is needed for the model, loss, anchors and NMS; both are stubbed out, as
training/train.py does for the plate detector."""
from __future__ import annotations

import os
import sys
import types

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

import numpy as np  # noqa: E402
import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=UserWarning, module="yolov5")
if not hasattr(np, "trapz"):  # numpy 2: yolov5's compute_ap still calls np.trapz
    np.trapz = np.trapezoid

import yolov5  # noqa: E402,F401
from yolov5.models.yolo import Detect, DetectionModel  # noqa: E402,F401
from yolov5.utils.autoanchor import check_anchor_order, kmean_anchors  # noqa: E402,F401
from yolov5.utils.general import non_max_suppression  # noqa: E402,F401
from yolov5.utils.loss import ComputeLoss  # noqa: E402,F401
from yolov5.utils.metrics import ap_per_class, box_iou  # noqa: E402,F401
from yolov5.utils.torch_utils import ModelEMA, smart_optimizer  # noqa: E402,F401
