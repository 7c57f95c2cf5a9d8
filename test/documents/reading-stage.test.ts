import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import sharp from 'sharp';
import { CORNER_CLASSES, DocumentReader, MRZ_LINE_CLASS, type Found } from '../../inference-server/documents/document-reader.js';
import { LineReader } from '../../inference-server/documents/line-reader.js';
import { apply, rectify, type Point, type Quad } from '../../inference-server/documents/rectify.js';
import { projectRoot } from '../../inference-server/project-root.js';
import { FIXTURES } from '../server/helpers.js';

/**
 * The reading stage of the ID-document pipeline with the bundled MRZ reader (models/mrz-reader.onnx):
 * rectification from the document's corners, the MRZ lines read to their exact length, the
 * check-digit correction, the ICAO parse and the fields. The corners and the MRZ lines are placed
 * where the fixture's truth has them (as a perfect detector would), so this measures the reader and
 * the logic after it, apart from the bundled detector, whose CPU-trained weights place them far less
 * well (models/document-detector.md; end to end: test/server/documents.test.ts, npm run eval:documents).
 */

interface Truth { file: string; type: string; fields: Record<string, string>; mrz: string[]; corners: Point[]; mrzQuads: Point[][] }

const box = (pts: Point[]) => ({
  x1: Math.min(...pts.map((p) => p[0])), y1: Math.min(...pts.map((p) => p[1])),
  x2: Math.max(...pts.map((p) => p[0])), y2: Math.max(...pts.map((p) => p[1])),
});

describe('ID documents: the reading stage with the bundled MRZ reader', function () {
  this.timeout(60_000);
  let reader: LineReader;
  let documents: DocumentReader;

  before(async () => {
    reader = await LineReader.load(join(projectRoot(), 'models', 'mrz-reader.onnx'), 'mrz');
    documents = new DocumentReader({ mrzReader: reader, maxDocuments: 1, zoneConfidence: 0.25 });
  });
  after(async () => {
    await documents?.close();
  });

  it('reads each fixture\'s MRZ exactly, valid by every check digit, and all eight fields from it', async () => {
    const dir = join(FIXTURES, 'documents');
    const truths = JSON.parse(await readFile(join(dir, 'truth.json'), 'utf8')) as Truth[];
    for (const t of truths) {
      const img = await sharp(join(dir, t.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const corners = t.corners as Quad;
      // the photo's detections: the document and its four corners (small boxes centred on them)
      const found: Found[] = [
        { class: t.type.toLowerCase(), score: 0.9, box: box(t.corners) },
        ...CORNER_CLASSES.map((c, i) => ({ class: c, score: 0.9, box: { x1: corners[i]![0] - 4, y1: corners[i]![1] - 4, x2: corners[i]![0] + 4, y2: corners[i]![1] + 4 } })),
      ];
      // on the rectified view: the MRZ lines where the truth puts them, in view coordinates
      const { toView } = rectify(new Uint8Array(img.data), img.info.width, img.info.height, corners);
      const lines: Found[] = t.mrzQuads.map((q) => ({ class: MRZ_LINE_CLASS, score: 0.9, box: box(q.map((p) => apply(toView, p))) }));
      const infer = async (pixels: Uint8Array) => ({ pixels, found: lines });
      const [doc] = await documents.read(new Uint8Array(img.data), img.info.width, img.info.height, found, infer, new Date());
      expect(doc, t.file).to.not.equal(undefined);
      expect(doc!.mrz?.lines, t.file).to.deep.equal(t.mrz);
      expect(doc!.mrz?.valid, t.file).to.equal(true);
      expect(doc!.type, t.file).to.equal(t.type);
      expect(doc!.fields, t.file).to.deep.equal(t.fields);
    }
  });
});
