/**
 * Images for the real node. Nothing can be pulled here, so every image a pod runs is imported
 * into the node's containerd: the sandbox image (built from our pause program) and the project's
 * images from podman's local storage (`npm run images`), under the names config/default, the Helm
 * chart and the operator's default server image use.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from '../command.js';

/** containerd's default sandbox image name, so the CRI needs no override to find it. */
export const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.10.2';

/** The project's images, as config/default, the chart and the operator's default name them. */
export const PROJECT_IMAGES = ['ghcr.io/visionops/visionops-operator:0.1.0', 'ghcr.io/visionops/visionops-server:0.1.0'] as const;

/**
 * Where each project image comes from in podman's storage. VISIONOPS_NODE_IMAGE_TAG picks other
 * builds of them (`npm run images -- --tag T`), e.g. so that two checkouts on one machine do not
 * overwrite each other's images; the node still gets them under the names above.
 */
export function projectImageSources(tag = process.env.VISIONOPS_NODE_IMAGE_TAG): { source: string; name: string }[] {
  return PROJECT_IMAGES.map((name) => ({ source: tag ? `${name.slice(0, name.lastIndexOf(':'))}:${tag}` : name, name }));
}

async function sha256File(file: string): Promise<{ digest: string; size: number }> {
  const data = await readFile(file);
  return { digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length };
}

async function writeBlob(layout: string, content: string | Buffer): Promise<{ digest: string; size: number }> {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  const hex = createHash('sha256').update(data).digest('hex');
  await writeFile(path.join(layout, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

export interface SingleFileImage {
  /** Full reference, e.g. registry.k8s.io/pause:3.10.2. */
  ref: string;
  /** The program, placed at /<name> in the image and run as its entrypoint. */
  binary: string;
  name: string;
  user: string;
}

/**
 * Writes an OCI image layout archive (what `ctr images import` reads) of one static binary: one
 * uncompressed layer made by tar, the config, the manifest and an index naming the image.
 */
export async function singleFileImageArchive(image: SingleFileImage, out: string): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'visionops-image-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    const layout = path.join(work, 'layout');
    await mkdir(rootfs);
    await mkdir(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    await copyFile(image.binary, path.join(rootfs, image.name));
    const layerTar = path.join(work, 'layer.tar');
    // Owned by root, fixed times: the same binary gives the same image digest.
    await runCommand('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '--mode=0755', '-C', rootfs, '-cf', layerTar, image.name]);
    const layer = await sha256File(layerTar);
    await copyFile(layerTar, path.join(layout, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)));
    const config = await writeBlob(
      layout,
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Entrypoint: [`/${image.name}`], User: image.user },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    );
    const manifest = await writeBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    );
    const tag = image.ref.slice(image.ref.lastIndexOf(':') + 1);
    await writeFile(
      path.join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifest,
            annotations: { 'io.containerd.image.name': image.ref, 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await runCommand('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-cf', out, '.']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Which of `refs` podman's local storage has (podman absent: none). */
export async function podmanHas(refs: readonly string[]): Promise<string[]> {
  const present: string[] = [];
  for (const ref of refs) {
    const ok = await runCommand('podman', ['image', 'exists', ref]).then(() => true, () => false);
    if (ok) present.push(ref);
  }
  return present;
}

/**
 * A docker-archive of podman images, cached by their image ids: the server image is large and
 * `podman save` of it takes most of a node's start-up, so an unchanged image is saved once.
 */
export async function podmanArchive(refs: readonly string[], cacheDir: string): Promise<string> {
  const ids = await Promise.all(refs.map((r) => runCommand('podman', ['image', 'inspect', '--format', '{{.Id}}', r]).then((s) => s.trim())));
  const key = createHash('sha256').update(refs.map((r, i) => `${r}=${ids[i]}`).join('\n')).digest('hex').slice(0, 16);
  const file = path.join(cacheDir, `images-${key}.tar`);
  const done = await stat(file).then(() => true, () => false);
  if (!done) {
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    await runCommand('podman', ['save', '--format', 'docker-archive', '-m', '-o', tmp, ...refs]);
    await rename(tmp, file);
    // One archive is kept: older builds' are of no use and weigh hundreds of megabytes.
    for (const old of (await readdir(cacheDir)).filter((f) => f.startsWith('images-') && path.join(cacheDir, f) !== file)) {
      await rm(path.join(cacheDir, old), { force: true });
    }
  }
  return file;
}
