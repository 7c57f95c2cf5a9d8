import type { DocumentsConfig } from '../../contract/server-config.js';
import type { Logger } from '../logging.js';
import { DocumentReader, REQUIRED_CLASSES, type DocumentOut, type Found, type InferFn } from './document-reader.js';
import { LineReader } from './line-reader.js';

/**
 * The ID-document pipeline as the service runs it: its readers' lifecycle, its readiness, and one
 * photo's documents. Nothing it logs holds what a document says: paths, counts and reasons only.
 */
export class DocumentPipeline {
  private reader?: DocumentReader;
  private error?: string;
  private classError?: string;

  constructor(
    readonly config: DocumentsConfig,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const c = this.config;
    try {
      const [mrzReader, fieldReader] = await Promise.all([
        LineReader.load(c.mrzReader, 'mrz'),
        c.fieldReader ? LineReader.load(c.fieldReader, 'field') : Promise.resolve(undefined),
      ]);
      this.reader = new DocumentReader({ mrzReader, ...(fieldReader ? { fieldReader } : {}), maxDocuments: c.maxDocuments, zoneConfidence: c.zoneConfidence });
      this.log.info('document readers loaded', {
        mrzReader: c.mrzReader, mrzInput: `${mrzReader.spec.height}x${mrzReader.spec.width}`,
        fieldReader: c.fieldReader ?? null, ...(fieldReader ? { fieldInput: `${fieldReader.spec.height}x${fieldReader.spec.width}` } : {}),
      });
    } catch (err) {
      this.error = `document readers could not load: ${(err as Error).message}`;
      this.log.error('document readers failed to load; the server stays unready', { reason: this.error });
    }
  }

  /** The detector must know the document pipeline's classes (training/documents/views.py). */
  checkClasses(classes: string[]): void {
    const missing = REQUIRED_CLASSES.filter((c) => !classes.includes(c));
    this.classError = missing.length
      ? `the model is not an ID-document detector: it has no class ${missing.join(', ')} (see models/document-detector.md)`
      : undefined;
    if (this.classError) this.log.error('document pipeline cannot run with this model', { reason: this.classError });
  }

  readiness(): { ok: boolean; reason?: string } {
    if (this.classError) return { ok: false, reason: this.classError };
    if (this.reader) return { ok: true };
    return { ok: false, reason: this.error ?? 'document readers are loading' };
  }

  /** Whether a request's image may be archived: identity documents only when the operator opted in. */
  get archiveAllowed(): boolean {
    return this.config.archive;
  }

  async read(pixels: Uint8Array, width: number, height: number, found: Found[], infer: InferFn, minScore = 0, today = new Date()): Promise<DocumentOut[]> {
    if (!this.reader) return [];
    return this.reader.read(pixels, width, height, found, infer, today, minScore);
  }

  async close(): Promise<void> {
    await this.reader?.close();
  }
}
