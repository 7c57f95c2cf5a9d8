/**
 * Where things are inside a server pod and the server image: the operator mounts and points at
 * these paths, the server image (Dockerfile.server) puts its files there. Pure constants.
 */

/** The server's HTTP port in the pod (its config's server.port). */
export const SERVER_PORT = 8080;

/**
 * The kubelet's probes' own port in the pod (the config's server.healthPort): on the API port they
 * would queue behind client connections under load, and a slow liveness probe restarts a busy pod.
 */
export const HEALTH_PORT = 8081;

/** The ConfigMap holding the server's config.yaml is mounted here. */
export const CONFIG_DIR = '/etc/visionops';
export const CONFIG_KEY = 'config.yaml';
export const CONFIG_PATH = `${CONFIG_DIR}/${CONFIG_KEY}`;

/** Models fetched or mounted for the pod live here. */
export const MODEL_DIR = '/models';
/** The file the fetch init container writes and the server reads, for downloaded models. */
export const FETCHED_MODEL_PATH = `${MODEL_DIR}/model.onnx`;

/**
 * The server's exit code when it cannot serve its model (not ONNX, outputs it cannot decode, warm-up
 * failed) and its config asks it to exit (server.exitOnModelError, which the operator sets): the
 * reason is then in the container's termination message, where the operator reads it.
 */
export const MODEL_LOAD_FAILED_EXIT_CODE = 3;

/** The image archive's volume. */
export const ARCHIVE_DIR = '/archive';

/** WORKDIR of the server image: Dockerfile.server copies the repository's models/ to `${IMAGE_APP_DIR}/models`. */
export const IMAGE_APP_DIR = '/app';

/** The models the project ships, by their path relative to the repository root (and to IMAGE_APP_DIR). */
export const BUNDLED_MODEL_FILES = {
  /** YOLOv5n licence-plate detector, models/plate-detector.md */
  plateDetector: 'models/plate-detector.onnx',
  /** CRNN + CTC plate text recognizer, models/plate-reader.md */
  plateReader: 'models/plate-reader.onnx',
  /** YOLOv5n ID-document, corner and zone detector, models/document-detector.md */
  documentDetector: 'models/document-detector.onnx',
  /** CRNN + CTC MRZ line reader, models/mrz-reader.md */
  mrzReader: 'models/mrz-reader.onnx',
  /** CRNN + CTC visual-zone field reader (training/documents/recognizer.py --task field); opt-in (documents.fieldReader), models/field-reader.md */
  fieldReader: 'models/field-reader.onnx',
} as const;

export type BundledModel = keyof typeof BUNDLED_MODEL_FILES;

/** The bundled models a ModelService can serve as its detector (`spec.model.uri: bundled://<file name>`). */
export const BUNDLED_DETECTORS: readonly BundledModel[] = ['plateDetector', 'documentDetector'];

/** `plate-detector` for models/plate-detector.onnx: the name `bundled://` uses. */
export function bundledModelName(model: BundledModel): string {
  const file = BUNDLED_MODEL_FILES[model];
  return file.slice(file.lastIndexOf('/') + 1).replace(/\.onnx$/, '');
}

/** A bundled model's path inside the server image. */
export function bundledModelPath(model: BundledModel): string {
  return `${IMAGE_APP_DIR}/${BUNDLED_MODEL_FILES[model]}`;
}
