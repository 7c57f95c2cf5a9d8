#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLED_MODEL_FILES, MODEL_LOAD_FAILED_EXIT_CODE } from '../contract/pod-layout.js';
import { ConfigError, loadConfig } from './config/load.js';
import { fetchModel, FetchError, writeTerminationMessage } from './fetch/model-fetch.js';
import { credentialsFromEnv, fetchRegistryModel } from './fetch/registry-fetch.js';
import { plateOcr } from './ocr/plate-rule.js';
import { projectRoot } from './project-root.js';
import { ListenError, PORT_UNAVAILABLE_EXIT_CODE } from './http/listen.js';
import { startServer } from './server.js';

const USAGE = `usage:
  visionops-server [serve] [--config FILE] [--model MODEL.onnx] [--port N]
  visionops-server fetch --uri https://... [--sha256 HEX] --dest /models/model.onnx [--retries N]
  visionops-server fetch --uri models:/NAME/VERSION [--tracking-uri URL] [--sha256 HEX] --dest ... [--retries N] [--backoff-ms MS]

serve   runs the HTTP inference server. Without --model or a config file it serves the bundled
        demo plate detector (models/plate-detector.onnx) and reads plates with OCR.
fetch   downloads a model (init container): retries, sha256 check, atomic write. A models:/ version
        comes through the MLflow tracking server's artifact proxy (the one .onnx file of the
        version's artifacts), with MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN or
        MLFLOW_TRACKING_USERNAME/PASSWORD from the environment.
Environment: PORT, LOG_LEVEL, VISIONOPS_MODEL, VISIONOPS__<SECTION>__<KEY> (e.g. VISIONOPS__OCR__WORKERS=4).`;

/** The bundled plate reader, when the checkout has it. */
function bundledReader(root: string): string | undefined {
  const path = join(root, BUNDLED_MODEL_FILES.plateReader);
  return existsSync(path) ? path : undefined;
}

/** The embedded default: the demo model the project trains, its plates read by the bundled plate reader. */
function demoDefaults(root: string) {
  return {
    model: { path: join(root, BUNDLED_MODEL_FILES.plateDetector), name: 'plate-detector', version: 'demo' },
    ocr: { classes: { plate: plateOcr(bundledReader(root)) } },
  };
}

function modelNameFromPath(path: string): string {
  const name = basename(path).replace(/\.onnx$/i, '').replace(/[^a-z0-9_.-]+/gi, '-').replace(/^[-_.]+|[-_.]+$/g, '');
  return name || 'model';
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, model: { type: 'string', short: 'm' }, port: { type: 'string', short: 'p' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void console.log(USAGE);
  const overrides: Record<string, unknown> = {};
  if (values.model) overrides.model = { path: values.model };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port)) throw new ConfigError(`--port ${values.port} is not a port number`);
    overrides.server = { port };
  }
  const root = projectRoot();
  const explicitModel = Boolean(values.model || values.config || process.env.VISIONOPS_MODEL);
  const demo = demoDefaults(root);
  if (!explicitModel && !existsSync(demo.model.path)) {
    console.error(
      `No model to serve: the bundled demo model ${demo.model.path} is not there.\n` +
        `Pass one:  npm start -- --model path/to/yolo.onnx   (or --config server.yaml, or VISIONOPS_MODEL=...)\n\n${USAGE}`,
    );
    process.exit(2);
  }
  // A model given on the command line is named after its file; the plate OCR rule stays, as it
  // only applies to a class called "plate".
  const given = values.model ?? process.env.VISIONOPS_MODEL;
  const defaults = values.config
    ? {}
    : given
      ? { model: { path: given, name: modelNameFromPath(given), version: '1' }, ocr: { classes: { plate: plateOcr(bundledReader(root)) } } }
      : demo;
  const config = loadConfig({ ...(values.config ? { file: values.config } : {}), env: process.env, overrides, defaults });
  const running = await startServer(config, { listenBeforeReady: true });
  let signalled = false;
  const stop = (signal: string) => {
    if (signalled) {
      // A second signal (Ctrl-C again) ends the drain delay; in-flight requests still finish.
      running.skipDrainDelay();
      return;
    }
    signalled = true;
    running.log.info('signal received', { signal });
    // Ctrl-C at a terminal stops at once; SIGTERM (Kubernetes, docker stop) drains first.
    running.shutdown(signal === 'SIGINT' ? { drainDelayMs: 0 } : {}).then(
      () => process.exit(0),
      (err: Error) => {
        running.log.error('shutdown failed', { err: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (config.server.exitOnModelError) {
    const exitIfUnservable = async () => {
      const reason = running.service.modelError;
      if (!reason || signalled) return;
      signalled = true;
      // Restarting will not fix a file that is not a model; saying why where Kubernetes looks
      // (the termination message) beats an unready pod that only a port-forward can explain.
      running.log.error('the model cannot be served: exiting', { reason, exitCode: MODEL_LOAD_FAILED_EXIT_CODE });
      await writeTerminationMessage(`model load failed: ${reason}`);
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      // Nothing to drain (never ready, so never in the Service), and a full shutdown would wait for
      // the OCR workers to finish starting first.
      process.exit(MODEL_LOAD_FAILED_EXIT_CODE);
    };
    // A model that does not load is known before the OCR workers are up: no need to wait for them.
    // A warm-up failure is known once everything has started.
    void running.service.modelAttempt.then(exitIfUnservable).then(() => running.loaded).then(exitIfUnservable);
  }
}

async function fetchCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      uri: { type: 'string' },
      sha256: { type: 'string' },
      dest: { type: 'string' },
      retries: { type: 'string' },
      'backoff-ms': { type: 'string' },
      'tracking-uri': { type: 'string' },
    },
  });
  if (!values.uri || !values.dest) throw new FetchError(`fetch needs --uri and --dest\n${USAGE}`, false);
  const retries = values.retries === undefined ? undefined : Number(values.retries);
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) throw new FetchError(`--retries ${values.retries} is not a whole number`, false);
  const backoffMs = values['backoff-ms'] === undefined ? undefined : Number(values['backoff-ms']);
  if (backoffMs !== undefined && !(Number.isInteger(backoffMs) && backoffMs >= 0)) throw new FetchError(`--backoff-ms ${values['backoff-ms']} is not a whole number`, false);
  const tuning = { ...(retries !== undefined ? { retries } : {}), ...(backoffMs !== undefined ? { backoffMs } : {}) };
  const started = Date.now();
  if (values.uri.startsWith('models:/')) {
    const got = await fetchRegistryModel({
      uri: values.uri,
      trackingUri: values['tracking-uri'] ?? process.env.MLFLOW_TRACKING_URI ?? '',
      credentials: credentialsFromEnv(process.env),
      dest: values.dest,
      ...(values.sha256 ? { sha256: values.sha256 } : {}),
      ...tuning,
      log: (line) => console.error(line),
    });
    console.log(JSON.stringify({ msg: 'model fetched', uri: values.uri, dest: values.dest, ...got, ms: Date.now() - started }));
    return;
  }
  const got = await fetchModel({
    uri: values.uri,
    dest: values.dest,
    ...(values.sha256 ? { sha256: values.sha256 } : {}),
    ...tuning,
    log: (line) => console.error(line),
  });
  console.log(JSON.stringify({ msg: 'model fetched', uri: values.uri, dest: values.dest, ...got, ms: Date.now() - started }));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    if (command === 'fetch') await fetchCommand(rest);
    else if (command === 'serve') await serve(rest);
    else if (command === 'help' || command === '--help' || command === '-h') console.log(USAGE);
    else await serve(argv);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof FetchError) {
      const message = `${command === 'fetch' ? 'model fetch failed' : 'configuration error'}: ${err.message}`;
      console.error(message);
      if (command === 'fetch') await writeTerminationMessage(message);
      process.exit(2);
    }
    if (err instanceof ListenError) {
      console.error(`cannot start: ${err.message}`);
      // Also the termination message: in a pod, the status says why without the logs.
      await writeTerminationMessage(`cannot start: ${err.message}`);
      process.exit(PORT_UNAVAILABLE_EXIT_CODE);
    }
    if (err instanceof Error && 'code' in err && err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
}

await main(process.argv.slice(2));
