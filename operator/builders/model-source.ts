import { BUNDLED_DETECTORS, FETCHED_MODEL_PATH, MODEL_DIR, bundledModelName, bundledModelPath, type BundledModel } from '../../contract/pod-layout.js';
import type { ModelServiceSpec } from '../../crds/modelservice.js';
import type { RegistryPin } from '../registry/pin.js';

export type ModelSource =
  | { kind: 'http'; uri: string; sha256?: string; podPath: string }
  | { kind: 'pvc'; claimName: string; pathInVolume: string; podPath: string }
  | { kind: 'bundled'; model: BundledModel; podPath: string }
  | { kind: 'registry'; pin: RegistryPin; podPath: string };

/** `bundled://plate-detector` names a detector shipped in the server image, by its file name without .onnx. */
export const BUNDLED_SCHEME = 'bundled://';

function bundledSource(uri: string): ModelSource {
  const name = uri.slice(BUNDLED_SCHEME.length);
  const model = BUNDLED_DETECTORS.find((m) => bundledModelName(m) === name);
  if (!model) throw new InvalidSpecError(`model.uri ${uri}: the server image bundles ${BUNDLED_DETECTORS.map((m) => BUNDLED_SCHEME + bundledModelName(m)).join(', ')}`);
  // Nothing to fetch or mount: the file is in the image.
  return { kind: 'bundled', model, podPath: bundledModelPath(model) };
}

/** Raised for a spec the CRD should have refused; the controller reports it instead of retrying. */
export class InvalidSpecError extends Error {
  override name = 'InvalidSpecError';
}

/** `pin`: the registry version the controller resolved for a models:/ URI (operator/registry/). */
export function modelSource(model: ModelServiceSpec['model'], pin?: RegistryPin): ModelSource {
  const { uri } = model;
  if (uri.startsWith('models:/')) {
    // The controller resolves before building and builds nothing without a version.
    if (!pin) throw new Error(`model.uri ${uri}: a registry model is built only once resolved to a version`);
    return { kind: 'registry', pin, podPath: FETCHED_MODEL_PATH };
  }
  if (uri.startsWith('http://') || uri.startsWith('https://')) {
    return { kind: 'http', uri, ...(model.sha256 ? { sha256: model.sha256 } : {}), podPath: FETCHED_MODEL_PATH };
  }
  if (uri.startsWith('pvc://')) {
    const rest = uri.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const claimName = slash > 0 ? rest.slice(0, slash) : '';
    const pathInVolume = slash > 0 ? rest.slice(slash + 1).replace(/^\/+/, '') : '';
    if (!claimName || !pathInVolume || pathInVolume.split('/').includes('..')) {
      throw new InvalidSpecError(`model.uri ${uri}: expected pvc://<claim>/<path to the .onnx file>`);
    }
    // The whole claim is mounted read-only at MODEL_DIR; the server reads the file inside it.
    return { kind: 'pvc', claimName, pathInVolume, podPath: `${MODEL_DIR}/${pathInVolume}` };
  }
  if (uri.startsWith(BUNDLED_SCHEME)) return bundledSource(uri);
  throw new InvalidSpecError(`model.uri ${uri}: only http://, https://, pvc://, bundled:// and models:/ are supported`);
}
