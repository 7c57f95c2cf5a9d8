import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { decodeOnnxMetadata } from '../inference/onnx-metadata.js';
import type { Box } from './crop.js';
import { bestText, calibratedConfidence, ctcGreedy, greedyPathLogProb, minCharLogProb, readConfidence, type Calibration } from './ctc.js';
import type { ReadChar } from './formats.js';
import { recognizerInput, type RecognizerSpec } from './recognizer-input.js';

/** The metadata key training/reader.py writes the recognizer's preprocessing and alphabet under. */
export const RECOGNIZER_METADATA_KEY = 'visionops.recognizer';

export class RecognizerLoadError extends Error {
  override name = 'RecognizerLoadError';
}

export interface Recognition {
  read: ReadChar[];
  text: string;
  /** the calibrated probability that the read is right (uncalibrated models: the characters' geometric mean) */
  confidence: number;
}

/** The recognizer's metadata: its input (recognizer-input.ts) and, when trained with one, its confidence calibration. */
export interface RecognizerModelSpec extends RecognizerSpec {
  calibration?: Calibration;
}

function parseCalibration(v: unknown): Calibration | undefined {
  if (v === undefined) return undefined;
  const c = v as Partial<Calibration> | null;
  const finite = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (
    !c ||
    c.kind !== 'logistic' ||
    JSON.stringify(c.features) !== JSON.stringify(['pathLogProb', 'minCharLogProb']) ||
    !Array.isArray(c.weights) ||
    c.weights.length !== 2 ||
    !c.weights.every(finite) ||
    !finite(c.bias)
  ) {
    throw new RecognizerLoadError('recognizer metadata: calibration must be {kind: logistic, features: [pathLogProb, minCharLogProb], weights: [a, b], bias}');
  }
  return { kind: 'logistic', features: ['pathLogProb', 'minCharLogProb'], weights: [c.weights[0]!, c.weights[1]!], bias: c.bias! };
}

/** Parses and checks the metadata; every problem named, so a wrong file fails readiness clearly. */
export function parseRecognizerSpec(props: Record<string, string>): RecognizerModelSpec {
  const raw = props[RECOGNIZER_METADATA_KEY];
  if (!raw) throw new RecognizerLoadError(`no "${RECOGNIZER_METADATA_KEY}" metadata: not a text recognizer exported by training/reader.py`);
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new RecognizerLoadError(`"${RECOGNIZER_METADATA_KEY}" metadata is not JSON`);
  }
  const num = (k: string, min: number, max: number) => {
    const v = m[k];
    if (typeof v !== 'number' || !(v >= min && v <= max)) throw new RecognizerLoadError(`recognizer metadata: ${k} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v;
  };
  const expect = (k: string, value: string) => {
    if (m[k] !== value) throw new RecognizerLoadError(`recognizer metadata: ${k} "${String(m[k])}" is not supported (expected "${value}")`);
  };
  expect('kind', 'ctc-text-recognizer');
  expect('grey', 'bt601-fixed14');
  expect('resample', 'area');
  expect('normalize', 'standardize');
  if (typeof m.alphabet !== 'string' || m.alphabet.length === 0) throw new RecognizerLoadError('recognizer metadata: alphabet missing');
  const calibration = parseCalibration(m.calibration);
  return {
    ...(calibration ? { calibration } : {}),
    alphabet: m.alphabet,
    blank: num('blank', 0, 0),
    height: num('height', 8, 256),
    width: num('width', 8, 2048),
    margin: num('margin', 0, 1),
    stdFloor: num('stdFloor', 0, 255),
  };
}

/**
 * A CTC text recognizer (training/reader.py's export): all boxes of an image go through one
 * onnxruntime run. Runs on the main thread's onnxruntime pool: the network is small (a few ms per
 * plate) next to detection, and session.run does not block the event loop.
 */
export class TextRecognizer {
  private constructor(
    readonly path: string,
    readonly spec: RecognizerModelSpec,
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
  ) {}

  static async load(path: string, threads = 1): Promise<TextRecognizer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      throw new RecognizerLoadError(`recognizer ${path} does not exist or cannot be read`);
    }
    let spec: RecognizerModelSpec;
    try {
      spec = parseRecognizerSpec(decodeOnnxMetadata(bytes).props);
    } catch (err) {
      throw new RecognizerLoadError(`recognizer ${path}: ${(err as Error).message}`);
    }
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const inputName = session.inputNames[0];
    if (!inputName) throw new RecognizerLoadError(`recognizer ${path} has no input`);
    const r = new TextRecognizer(path, spec, session, inputName);
    // One run now: a model whose output does not fit its metadata fails here, not on a request.
    await r.recognize(new Uint8Array(spec.width * spec.height * 3).fill(128), spec.width, spec.height, [{ x1: 0, y1: 0, x2: spec.width, y2: spec.height }]);
    return r;
  }

  async recognize(pixels: Uint8Array, width: number, height: number, boxes: Box[]): Promise<Recognition[]> {
    if (boxes.length === 0) return [];
    const { height: h, width: w } = this.spec;
    const input = new Float32Array(boxes.length * h * w);
    boxes.forEach((b, i) => input.set(recognizerInput(pixels, width, height, b, this.spec), i * h * w));
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, [boxes.length, 1, h, w]) };
    const results = await this.session.run(feeds);
    const out = results[this.session.outputNames[0]!]!;
    try {
      const [n, steps, classes] = out.dims as number[];
      if (out.dims.length !== 3 || n !== boxes.length) throw new RecognizerLoadError(`recognizer output shape [${out.dims.join(', ')}] is not [${boxes.length}, T, C]`);
      const probs = out.data as Float32Array;
      const cal = this.spec.calibration;
      return boxes.map((_, i) => {
        const p = probs.subarray(i * steps! * classes!, (i + 1) * steps! * classes!);
        const read = ctcGreedy(p, steps!, classes!, this.spec.alphabet, this.spec.blank);
        const confidence =
          read.length === 0 ? 0 : cal ? calibratedConfidence(cal, greedyPathLogProb(p, steps!, classes!), minCharLogProb(read)) : readConfidence(read);
        return { read, text: bestText(read), confidence };
      });
    } finally {
      out.dispose();
    }
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
