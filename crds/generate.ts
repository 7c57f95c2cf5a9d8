import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CRD_FILE, renderModelServiceCrdYaml } from './crd.js';

// Writes the CRD next to the schema; test/operator/crd.test.ts fails when this was not re-run.
const target = fileURLToPath(new URL(`../${CRD_FILE}`, import.meta.url));
writeFileSync(target, renderModelServiceCrdYaml());
console.log(`wrote ${CRD_FILE}`);
