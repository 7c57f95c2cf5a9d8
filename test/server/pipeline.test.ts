import { expect } from 'chai';
import { letterboxParams, letterboxToTensor, pyRound, unletterboxBox, PAD_VALUE } from '../../inference-server/pipeline/letterbox.js';
import { decodeCandidates, detectLayout, UnsupportedOutputError } from '../../inference-server/pipeline/yolo-output.js';
import { nonMaxSuppression } from '../../inference-server/pipeline/nms.js';
import { parseClassNames } from '../../inference-server/pipeline/model-metadata.js';
import { manifest } from './helpers.js';

describe('letterbox arithmetic', () => {
  it('rounds halves to even like Python', () => {
    expect([0.5, 1.5, 2.5, 2.4, 2.6, -2.5].map(pyRound)).to.deep.equal([0, 2, 2, 2, 3, -2]);
  });

  it('fits a landscape image and pads top and bottom equally', () => {
    const p = letterboxParams(640, 480, 320);
    expect(p).to.include({ ratio: 0.5, newWidth: 320, newHeight: 240, padLeft: 0, padTop: 40 });
  });

  it('puts the smaller half of an odd padding at the top/left', () => {
    // 100x67 into 64: r = 0.64, new 64 x round(42.88)=43, dh = 10.5 -> top round(10.4)=10, bottom 11
    const p = letterboxParams(100, 67, 64);
    expect(p.newHeight).to.equal(43);
    expect(p.padTop).to.equal(10);
    expect(64 - p.newHeight - p.padTop).to.equal(11);
  });

  it('uses banker\'s rounding for the resized size as yolov5 does', () => {
    // 3 * (64/6) = 32 exactly; 1 x 5 into 10: r=2, w=2, h=10
    expect(letterboxParams(6, 3, 64)).to.include({ newWidth: 64, newHeight: 32, padTop: 16 });
    // w*r = 25.5 -> 26 (even), not 25
    const p = letterboxParams(51, 200, 100);
    expect(p.newWidth).to.equal(pyRound(51 * 0.5));
    expect(p.newWidth).to.equal(26);
  });

  it('rejects an empty image', () => {
    expect(() => letterboxParams(0, 10, 64)).to.throw(RangeError);
  });

  it('writes pixels unchanged when no resize is needed and pads with 114', () => {
    const w = 4;
    const h = 2;
    const rgb = new Uint8Array(w * h * 3).map((_, i) => i * 7);
    const p = letterboxParams(w, h, 4);
    const t = letterboxToTensor(rgb, p);
    const plane = 16;
    // top pad row 0 is 114, image starts at row 1
    expect(t[0]).to.be.closeTo(PAD_VALUE / 255, 1e-7);
    expect(t[1 * 4 + 0]).to.be.closeTo(rgb[0]! / 255, 1e-7);
    expect(t[plane + 1 * 4 + 1]).to.be.closeTo(rgb[4]! / 255, 1e-7);
    expect(t[2 * plane + 2 * 4 + 3]).to.be.closeTo(rgb[(1 * w + 3) * 3 + 2]! / 255, 1e-7);
    expect(t[3 * 4 + 0]).to.be.closeTo(PAD_VALUE / 255, 1e-7);
  });

  it('averages 2x2 blocks on an exact 2x downscale (cv2 INTER_LINEAR = INTER_AREA there)', () => {
    const rgb = new Uint8Array([10, 0, 0, 20, 0, 0, 30, 0, 0, 41, 0, 0]); // 2x2, red only
    const t = letterboxToTensor(rgb, letterboxParams(2, 2, 1));
    expect(Math.round(t[0]! * 255)).to.equal(Math.round((10 + 20 + 30 + 41) / 4));
  });

  it('interpolates linearly with half-pixel centres on upscale', () => {
    // 2x1 row [0, 200] to 4 wide: cv2 gives 0, 50, 150, 200
    const rgb = new Uint8Array([0, 0, 0, 200, 0, 0]);
    const p = { size: 4, srcWidth: 2, srcHeight: 1, ratio: 2, newWidth: 4, newHeight: 1, padLeft: 0, padTop: 0 };
    const t = letterboxToTensor(rgb, p);
    expect(Array.from(t.slice(0, 4), (v) => Math.round(v * 255))).to.deep.equal([0, 50, 150, 200]);
  });

  it('maps boxes back with scale_boxes arithmetic and clips to the image', () => {
    const p = letterboxParams(640, 480, 320);
    expect(unletterboxBox(p, { x1: 60, y1: 100, x2: 140, y2: 140 })).to.deep.equal({ x1: 120, y1: 120, x2: 280, y2: 200 });
    expect(unletterboxBox(p, { x1: -10, y1: 20, x2: 400, y2: 300 })).to.deep.equal({ x1: 0, y1: 0, x2: 640, y2: 480 });
  });
});

describe('YOLO output layouts', () => {
  it('tells YOLOv5 [1, N, 5+nc] from YOLOv8 [1, 4+nc, N]', () => {
    expect(detectLayout([1, 25200, 85])).to.deep.equal({ layout: 'yolov5', candidates: 25200, classes: 80 });
    expect(detectLayout([1, 84, 8400])).to.deep.equal({ layout: 'yolov8', candidates: 8400, classes: 80 });
    expect(detectLayout([1, 6300, 6])).to.deep.equal({ layout: 'yolov5', candidates: 6300, classes: 1 });
    expect(detectLayout([1, 5, 2100])).to.deep.equal({ layout: 'yolov8', candidates: 2100, classes: 1 });
  });

  it('uses the known class count to settle small shapes', () => {
    expect(detectLayout([1, 16, 7], 2).layout).to.equal('yolov5');
    expect(detectLayout([1, 6, 16], 2).layout).to.equal('yolov8');
  });

  it('refuses shapes no decoder accepts, naming the shape', () => {
    expect(() => detectLayout([1, 7])).to.throw(UnsupportedOutputError, '[1, 7]');
    expect(() => detectLayout([2, 100, 85])).to.throw(UnsupportedOutputError);
    expect(() => detectLayout([1, 25200, 85], 3)).to.throw(UnsupportedOutputError, '3 classes');
    expect(() => detectLayout([1, 84, 8400], undefined, 'yolov5')).to.not.throw();
    expect(() => detectLayout([1, 84, 8400], 80, 'yolov5')).to.throw(UnsupportedOutputError, 'yolov5');
  });
});

describe('decoding and NMS against the yolov5 reference (fixture manifest)', () => {
  const m = manifest();
  const nc = m.rows.columns.length - 5;
  const v5 = Float32Array.from(m.rows.values.flat());
  const n = m.rows.values.length;

  const check = (got: ReturnType<typeof nonMaxSuppression>) => {
    expect(got.map((d) => d.classId)).to.deep.equal(m.expected.map((e) => e.class));
    got.forEach((d, i) => {
      const e = m.expected[i]!;
      expect(d.score).to.be.closeTo(e.score, 1e-6);
      expect([d.x1, d.y1, d.x2, d.y2]).to.deep.equal([e.box.x1, e.box.y1, e.box.x2, e.box.y2]);
    });
  };

  it('YOLOv5 rows: score = obj x cls, strict thresholds, per-class greedy NMS', () => {
    const layout = detectLayout([1, n, 5 + nc], nc);
    check(nonMaxSuppression(decodeCandidates(v5, layout, 0.25), 0.45, 300));
  });

  it('YOLOv8 columns give the same detections', () => {
    // Transpose to [4+nc, N] with class score = obj * cls, no objectness.
    const v8 = new Float32Array((4 + nc) * n);
    m.rows.values.forEach((r, i) => {
      for (let k = 0; k < 4; k++) v8[k * n + i] = r[k]!;
      for (let c = 0; c < nc; c++) v8[(4 + c) * n + i] = Math.fround(r[4]! * r[5 + c]!);
    });
    check(nonMaxSuppression(decodeCandidates(v8, detectLayout([1, 4 + nc, n], nc), 0.25), 0.45, 300));
  });

  it('caps the result at maxDetections, best first', () => {
    const layout = detectLayout([1, n, 5 + nc], nc);
    const got = nonMaxSuppression(decodeCandidates(v5, layout, 0.25), 0.45, 3);
    expect(got.map((d) => d.score)).to.deep.equal(m.expected.slice(0, 3).map((e) => Math.fround(e.score)));
  });

  it('a higher confidence keeps only the boxes above it', () => {
    const layout = detectLayout([1, n, 5 + nc], nc);
    const got = nonMaxSuppression(decodeCandidates(v5, layout, 0.7), 0.45, 300);
    expect(got.length).to.equal(m.expected.filter((e) => e.score > 0.7).length);
    expect(got.every((d) => d.score > 0.7)).to.equal(true);
  });
});

describe('class names from ONNX metadata', () => {
  it('parses the Python dict literal that YOLO exports write', () => {
    expect(parseClassNames("{0: 'plate', 1: 'card'}")).to.deep.equal(['plate', 'card']);
    expect(parseClassNames('{0: "licence plate", 1: \'it\\\'s\'}')).to.deep.equal(['licence plate', "it's"]);
    expect(parseClassNames("['a', 'b']")).to.deep.equal(['a', 'b']);
  });

  it('rejects malformed or gappy maps instead of guessing', () => {
    expect(parseClassNames('{0: plate}')).to.equal(undefined);
    expect(parseClassNames("{0: 'a', 2: 'c'}")).to.equal(undefined);
    expect(parseClassNames('import os')).to.equal(undefined);
  });
});
