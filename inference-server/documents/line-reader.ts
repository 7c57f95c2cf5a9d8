import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { decodeOnnxMetadata } from '../inference/onnx-metadata.js';
import type { Box } from '../ocr/crop.js';
import { bestText, ctcGreedy, readConfidence } from '../ocr/ctc.js';
import { recognizerInput } from '../ocr/recognizer-input.js';
import { parseRecognizerSpec, RECOGNIZER_METADATA_KEY, RecognizerLoadError } from '../ocr/recognizer.js';
import type { ReadChar } from '../ocr/formats.js';

/**
 * A CTC text recognizer of training/documents/recognizer.py (the MRZ reader or the field reader).
 * Its metadata is the plate reader's (`visionops.recognizer`) with the task it was trained for and
 * separate margins across and along the line (marginX, marginY): an MRZ line needs little room at
 * its ends and more above and below. The box is grown here, then the shared preprocessing
 * (ocr/recognizer-input.ts) runs with no margin of its own.
 */

export interface LineReaderSpec {
  task: string;
  alphabet: string;
  blank: number;
  height: number;
  width: number;
  marginX: number;
  marginY: number;
  stdFloor: number;
}

export interface LineProbs {
  /** [steps][classes] softmax rows of one box */
  probs: Float32Array;
  steps: number;
  classes: number;
}

export function parseLineReaderSpec(props: Record<string, string>): LineReaderSpec {
  const base = parseRecognizerSpec(props);
  const m = JSON.parse(props[RECOGNIZER_METADATA_KEY]!) as Record<string, unknown>;
  const frac = (k: string) => {
    const v = m[k];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new RecognizerLoadError(`recognizer metadata: ${k} must be a number in [0, 1], got ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof m.task !== 'string') throw new RecognizerLoadError('recognizer metadata: no task (not an ID-document reader of training/documents/recognizer.py)');
  return { ...base, task: m.task, marginX: frac('marginX'), marginY: frac('marginY') };
}

/** Boxes per onnxruntime run: bounds the input tensor (a few MB) whatever a document holds. */
const MAX_BATCH = 16;

export class LineReader {
  private constructor(
    readonly path: string,
    readonly spec: LineReaderSpec,
    private readonly session: ort.InferenceSession,
  ) {}

  static async load(path: string, expectTask: string, threads = 1): Promise<LineReader> {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      throw new RecognizerLoadError(`recognizer ${path} does not exist or cannot be read`);
    }
    let spec: LineReaderSpec;
    try {
      spec = parseLineReaderSpec(decodeOnnxMetadata(bytes).props);
    } catch (err) {
      throw new RecognizerLoadError(`recognizer ${path}: ${(err as Error).message}`);
    }
    if (spec.task !== expectTask) throw new RecognizerLoadError(`recognizer ${path} reads "${spec.task}", not "${expectTask}"`);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const reader = new LineReader(path, spec, session);
    const probe = await reader.probs(new Uint8Array(spec.width * spec.height * 3).fill(128), spec.width, spec.height, [{ x1: 0, y1: 0, x2: spec.width, y2: spec.height }]);
    if (probe[0]!.classes !== spec.alphabet.length + 1) {
      throw new RecognizerLoadError(`recognizer ${path}: ${probe[0]!.classes} output classes for an alphabet of ${spec.alphabet.length}`);
    }
    return reader;
  }

  /** The box grown by the reader's margins, as in training. */
  grow(b: Box, width: number, height: number): Box {
    const w = b.x2 - b.x1;
    const h = b.y2 - b.y1;
    const { marginX: mx, marginY: my } = this.spec;
    return {
      x1: Math.max(0, b.x1 - mx * w), y1: Math.max(0, b.y1 - my * h),
      x2: Math.min(width, b.x2 + mx * w), y2: Math.min(height, b.y2 + my * h),
    };
  }

  /** The reader's input for each box: grown by its margins, then the shared preprocessing. */
  inputs(pixels: Uint8Array, width: number, height: number, boxes: Box[]): Float32Array[] {
    return boxes.map((b) => recognizerInput(pixels, width, height, this.grow(b, width, height), { ...this.spec, margin: 0 }));
  }

  async probs(pixels: Uint8Array, width: number, height: number, boxes: Box[]): Promise<LineProbs[]> {
    return this.run(this.inputs(pixels, width, height, boxes));
  }

  /** The class probabilities of prepared inputs, at most MAX_BATCH in each onnxruntime run. */
  async run(inputs: Float32Array[]): Promise<LineProbs[]> {
    const out: LineProbs[] = [];
    const { height: h, width: w } = this.spec;
    for (let at = 0; at < inputs.length; at += MAX_BATCH) {
      const batch = inputs.slice(at, at + MAX_BATCH);
      const input = new Float32Array(batch.length * h * w);
      batch.forEach((x, i) => input.set(x, i * h * w));
      const results = await this.session.run({ [this.session.inputNames[0]!]: new ort.Tensor('float32', input, [batch.length, 1, h, w]) });
      const t = results[this.session.outputNames[0]!]!;
      try {
        const [n, steps, classes] = t.dims as number[];
        if (t.dims.length !== 3 || n !== batch.length) throw new RecognizerLoadError(`recognizer output shape [${t.dims.join(', ')}] is not [${batch.length}, T, C]`);
        const data = t.data as Float32Array;
        for (let i = 0; i < batch.length; i++) {
          out.push({ probs: data.slice(i * steps! * classes!, (i + 1) * steps! * classes!), steps: steps!, classes: classes! });
        }
      } finally {
        t.dispose();
      }
    }
    return out;
  }

  /** Greedy CTC read of each box: the text and its characters with alternatives. */
  async read(pixels: Uint8Array, width: number, height: number, boxes: Box[]): Promise<{ text: string; chars: ReadChar[]; confidence: number }[]> {
    const ps = await this.probs(pixels, width, height, boxes);
    return ps.map((p) => {
      const chars = ctcGreedy(p.probs, p.steps, p.classes, this.spec.alphabet, this.spec.blank);
      return { text: bestText(chars), chars, confidence: readConfidence(chars) };
    });
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
