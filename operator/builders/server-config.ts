import { createHash } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { ARCHIVE_DIR, bundledModelPath, CONFIG_KEY, HEALTH_PORT, SERVER_PORT } from '../../contract/pod-layout.js';
import { SHARED_DEFAULTS } from '../../contract/defaults.js';
import { layoutsFor } from '../../contract/plate-layouts.js';
import type { ServerConfigInput } from '../../contract/server-config.js';
import { parseTemplate, TemplateError } from '../../contract/text-layout.js';
import { DEFAULTS, pipelineOf, type ModelService } from '../../crds/modelservice.js';
import type { OperatorConfig } from '../config.js';
import { type ChildMeta, childMeta } from './meta.js';
import { InvalidSpecError, modelSource } from './model-source.js';
import { type RegistryPin, resolvedUri } from '../registry/pin.js';
import { parseQuantity } from './quantity.js';

/** The trained plate reader (spec.ocr.reader: plate-reader) inside the server image. */
export const BUNDLED_PLATE_READER = bundledModelPath('plateReader');
/** The ID-document readers (pipeline: documents) inside the server image. */
export const BUNDLED_MRZ_READER = bundledModelPath('mrzReader');
export const BUNDLED_FIELD_READER = bundledModelPath('fieldReader');
/**
 * How a server pod stops (pod deletion, rollout, scale-down, node drain):
 * 1. preStop sleeps PRE_STOP_SLEEP_SECONDS while the server serves as usual: the pod is terminating,
 *    and its removal from the endpoints reaches kube-proxy and ingress controllers meanwhile
 *    (the native sleep action: nothing needs to be in the image);
 * 2. SIGTERM: the server fails readiness and still serves for POD_DRAIN_DELAY_MS (stragglers);
 * 3. it closes its listener and gives in-flight requests POD_SHUTDOWN_TIMEOUT_MS, which covers the
 *    request deadline, so a request that was accepted is answered;
 * TERMINATION_GRACE_SECONDS covers the three, with a margin for the process to exit.
 */
export const PRE_STOP_SLEEP_SECONDS = 10;
export const POD_DRAIN_DELAY_MS = 2_000;
export const POD_SHUTDOWN_TIMEOUT_MS = SHARED_DEFAULTS.server.requestTimeoutMs + 2_000;
export const TERMINATION_GRACE_SECONDS = PRE_STOP_SLEEP_SECONDS + Math.ceil((POD_DRAIN_DELAY_MS + POD_SHUTDOWN_TIMEOUT_MS) / 1000) + 5;
/** Share of the archive volume the server may fill, leaving room for filesystem overhead and in-flight writes. */
export const ARCHIVE_FILL_RATIO = 0.9;

export type ConfigMapChild = V1ConfigMap & { apiVersion: 'v1'; kind: 'ConfigMap'; metadata: ChildMeta; data: Record<string, string> };

/** The inference server's config file for this ModelService, typed by the server's own schema. `pin`: the registry version of a models:/ URI. */
export function buildServerConfig(ms: ModelService, config: OperatorConfig, pin?: RegistryPin): ServerConfigInput {
  const { model, ocr, archive } = ms.spec;
  const pipeline = pipelineOf(ms.spec);
  const thresholds = model.thresholds ?? {};
  const server: ServerConfigInput = {
    server: {
      port: SERVER_PORT,
      healthPort: HEALTH_PORT,
      bodyLimit: config.serverBodyLimitBytes,
      drainDelayMs: POD_DRAIN_DELAY_MS,
      shutdownTimeoutMs: POD_SHUTDOWN_TIMEOUT_MS,
      // A model that cannot be served makes the server exit with its reason as the termination
      // message: the kubelet reports it within seconds and the status shows it (ModelLoadFailed),
      // where an unready pod would only say ModelLoading until the progress deadline.
      exitOnModelError: true,
      // An Ingress path other than / reaches the pod with the prefix still on: the server strips it.
      ...(ms.spec.ingress?.path && ms.spec.ingress.path !== '/' ? { basePath: ms.spec.ingress.path } : {}),
    },
    model: {
      path: modelSource(model, pin).podPath,
      name: ms.metadata.name,
      // Clients see which build answered them: the registry version, else the digest, the only version the operator knows.
      ...(pin ? { version: pin.version, source: resolvedUri(pin) } : model.sha256 ? { version: model.sha256.slice(0, 12) } : {}),
      format: model.format ?? DEFAULTS.format,
      ...(model.classes ? { classes: [...model.classes] } : {}),
      ...(model.inputSize !== undefined ? { inputSize: model.inputSize } : {}),
      thresholds: {
        confidence: thresholds.confidence ?? DEFAULTS.confidence,
        iou: thresholds.iou ?? DEFAULTS.iou,
        maxDetections: thresholds.maxDetections ?? DEFAULTS.maxDetections,
      },
      // Written only when on: a spec without tiles and one the API server defaulted ({grid: 1})
      // must give the same ConfigMap, or defaulting alone would roll the pods.
      ...((model.tiles?.grid ?? DEFAULTS.tilesGrid) > 1 ? { tiles: { grid: model.tiles!.grid!, overlap: model.tiles?.overlap ?? DEFAULTS.tilesOverlap } } : {}),
    },
    // Without OCR classes the tesseract workers would only cost memory.
    ocr: ocr && pipeline === 'plates' ? { enabled: true, language: ocr.language ?? DEFAULTS.ocrLanguage, classes: ocrClasses(ocr) } : { enabled: false },
  };
  if (pipeline === 'documents') {
    const d = ms.spec.documents ?? {};
    server.documents = {
      mrzReader: BUNDLED_MRZ_READER,
      ...((d.fieldReader ?? DEFAULTS.documentsFieldReader) ? { fieldReader: BUNDLED_FIELD_READER } : {}),
      maxDocuments: d.maxDocuments ?? DEFAULTS.documentsMaxDocuments,
      zoneConfidence: d.zoneConfidence ?? DEFAULTS.documentsZoneConfidence,
      // identity documents are personal data: archived only when the ModelService asks for an archive
      archive: archive?.enabled ?? false,
    };
  }
  if (archive?.enabled) {
    server.archive = {
      dir: ARCHIVE_DIR,
      retentionDays: archive.retentionDays ?? DEFAULTS.archiveRetentionDays,
      maxBytes: Math.floor(parseQuantity(archive.size ?? DEFAULTS.archiveSize) * ARCHIVE_FILL_RATIO),
    };
  }
  return server;
}

type OcrSpec = NonNullable<ModelService['spec']['ocr']>;

/** reader auto: the plate recognizer for plate classes, tesseract for anything else (ID cards, signs). */
export function usesPlateReader(reader: OcrSpec['reader'], className: string): boolean {
  const r = reader ?? DEFAULTS.ocrReader;
  return r === 'plate-reader' || (r === 'auto' && /plate/i.test(className));
}

function ocrClasses(ocr: OcrSpec): NonNullable<NonNullable<ServerConfigInput['ocr']>['classes']> {
  checkTemplates(ocr.formats ?? []);
  // Layout correction is opt-in: the templates given plus those of the countries named.
  const formats = [...new Set([...(ocr.formats ?? []), ...layoutsFor(ocr.countries ?? [])])];
  const perClass = {
    mode: ocr.mode ?? DEFAULTS.ocrMode,
    ...(ocr.charset ? { charset: ocr.charset } : {}),
    normalize: { strip: ocr.normalize?.strip ?? DEFAULTS.ocrStrip, uppercase: ocr.normalize?.uppercase ?? DEFAULTS.ocrUppercase },
    // retry only means something with formats; leaving both out keeps the config (and so the pods) of specs without formats as they were.
    ...(formats.length > 0 ? { formats, retry: ocr.retry ?? DEFAULTS.ocrRetry } : {}),
  };
  return Object.fromEntries(
    ocr.classes.map((c) => [
      c,
      // The recognizer reads every box of its classes: tesseract stays off their path (no fallback).
      { ...structuredClone(perClass), ...(usesPlateReader(ocr.reader, c) ? { recognizer: { model: BUNDLED_PLATE_READER, fallback: false } } : {}) },
    ]),
  );
}

/** The CRD bounds the templates but cannot parse them; the server would refuse to start on a bad one. */
function checkTemplates(formats: readonly string[]): void {
  formats.forEach((template, i) => {
    try {
      parseTemplate(template);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      throw new InvalidSpecError(`spec.ocr.formats[${i}] ${JSON.stringify(template)}: ${err.message}`);
    }
  });
}

export function buildConfigMap(ms: ModelService, config: OperatorConfig, pin?: RegistryPin): ConfigMapChild {
  const header = `# Written by the visionops operator from ModelService ${ms.metadata.namespace}/${ms.metadata.name}; edits here are overwritten.\n`;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(ms),
    data: { [CONFIG_KEY]: header + stringify(buildServerConfig(ms, config, pin), { lineWidth: 0 }) },
  };
}

/**
 * Digest of the ConfigMap's data for the pod template: a config change alters the template, and so
 * rolls the pods, which otherwise would keep the config they started with.
 */
export function configHash(cm: Pick<V1ConfigMap, 'data'>): string {
  const h = createHash('sha256');
  for (const key of Object.keys(cm.data ?? {}).sort()) h.update(key).update('\0').update(cm.data![key]!).update('\0');
  return h.digest('hex').slice(0, 16);
}
