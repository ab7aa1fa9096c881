/**
 * `kseed images ceph`: a Ceph container image from Debian 12's own Ceph
 * packages, built the way the seed images are (the debootstrap base, then
 * `docker build` with the classic builder; no registry anywhere). It carries
 * mon, mgr with the cephadm module, osd and ceph-volume with lvm2, kseed's
 * stand-in for `remoto`, and the cephadm .deb of the same build, which is
 * copied next to the seed's boot artifacts so the nodes get the one cephadm
 * release the image matches. The tag is the Ceph version actually installed.
 * The `docker save` archive of the image goes there too (archive.ts): the
 * nodes load it uncompressed instead of pulling gzip layers.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../../errors.js';
import { outputBytes, runQuiet, TOOL_ERROR } from '../../util/tools.js';
import { ensureBase, type BaseResult } from '../seed/base.js';
import { dockerBuild, kseedVersion } from '../seed/build.js';
import { IMAGE_TEMPLATES_DIR, INPUTS_LABEL, loadTemplates, renderDockerfile } from '../seed/dockerfile.js';
import { checkDocker, inspectImage } from '../seed/docker.js';
import { ensureCephArchive, type CephArchive } from './archive.js';
import { cephadmDebOf, upstreamVersion } from './version.js';

export const CEPH_REPO = 'kseed/ceph';
/** Bumped when the procedure below changes (the template and remoto files hash themselves). */
const RECIPE = 'kseed-ceph-image/1';

/**
 * From the reference build (shared/reference/node-os-and-ceph.md): Debian has no
 * ceph-volume package (ceph-osd ships it); python3-distutils because the mgr
 * module imports distutils beside remoto, and any failed import there disables it.
 */
export const CEPH_PACKAGES = [
  'ceph-mon', 'ceph-mgr', 'ceph-mgr-cephadm', 'ceph-osd', 'ceph-common', 'ceph-base',
  'lvm2', 'udev', 'util-linux', 'gdisk', 'e2fsprogs', 'kmod', 'procps', 'hostname',
  'python3-execnet', 'python3-distutils', 'openssh-client',
];

export interface CephImageOptions {
  cacheDir: string;
  /** Where the seed serves boot artifacts from: the cephadm .deb goes there. */
  artifactsDir: string;
  baseImage?: string;
  force?: boolean;
  onProgress?: (line: string) => void;
}

export interface CephImageResult {
  /** kseed/ceph:<version> */
  image: string;
  /** Debian's full version of the Ceph packages, e.g. 16.2.15+ds-0+deb12u2 */
  version: string;
  id: string;
  size: number;
  seconds: number;
  status: 'built' | 'reused';
  /** the cephadm .deb the seed serves, and its version */
  cephadm_deb: string;
  /** the image's `docker save` archive the seed serves the nodes, and whether this run wrote it */
  archive: Pick<CephArchive, 'file' | 'sha256' | 'size'> & { status: 'written' | 'reused' };
  base: Pick<BaseResult, 'image' | 'status' | 'seconds'>;
}

const REMOTO_DIR = path.join(IMAGE_TEMPLATES_DIR, 'ceph', 'remoto');

function remotoFiles(): { name: string; text: string }[] {
  return readdirSync(REMOTO_DIR)
    .filter((f) => f.endsWith('.py'))
    .sort()
    .map((name) => ({ name, text: readFileSync(path.join(REMOTO_DIR, name), 'utf8') }));
}

async function docker(args: string[], what: string): Promise<string> {
  const r = await runQuiet('docker', args, { timeoutMs: 600_000 });
  if (r.exitCode !== 0) throw new KseedError(`${what} failed`, { code: 'build-failed', detail: r.stderr.trim() });
  return r.stdout.trim();
}

/** The image that these inputs already made, if any: its version tag is not known before building. */
async function builtWith(hash: string): Promise<string | undefined> {
  const out = await docker(['images', CEPH_REPO, '--filter', `label=${INPUTS_LABEL}=${hash}`, '--format', '{{.Tag}}'], 'docker images');
  return out.split('\n').find((t) => t && !t.startsWith('build-'));
}

/** Reads the installed Ceph version and the cephadm .deb out of the image (no network inside). */
async function fromImage(image: string, artifactsDir: string): Promise<{ version: string; deb: string }> {
  const version = await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'dpkg-query', image, '-W', '-f', '${Version}', 'ceph-mon'], `reading the Ceph version of ${image}`);
  const names = (await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'ls', image, '/usr/share/kseed'], `listing /usr/share/kseed in ${image}`)).split('\n');
  const debName = names.find((n) => cephadmDebOf(n)?.version === version);
  if (!debName) throw new KseedError(`${image} holds no cephadm .deb of version ${version} in /usr/share/kseed (found: ${names.join(', ') || 'nothing'})`, { code: 'build-failed' });
  mkdirSync(artifactsDir, { recursive: true });
  const dest = path.join(artifactsDir, debName);
  const tmp = `${dest}.${process.pid}.tmp`;
  let bytes: Buffer;
  try {
    bytes = await outputBytes('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'cat', image, `/usr/share/kseed/${debName}`], { timeoutMs: 120_000 });
  } catch (err) {
    if (err instanceof KseedError && err.code === TOOL_ERROR.failed) throw new KseedError(`copying ${debName} out of ${image} failed`, { code: 'build-failed', detail: err.detail });
    throw err;
  }
  writeFileSync(tmp, bytes, { mode: 0o644 });
  renameSync(tmp, dest);
  // an older build's cephadm would be served beside the new one: only the matching one stays
  for (const f of readdirSync(artifactsDir)) if (f !== debName && cephadmDebOf(f)) rmSync(path.join(artifactsDir, f), { force: true });
  return { version, deb: dest };
}

export async function buildCephImage(opts: CephImageOptions): Promise<CephImageResult> {
  const t0 = Date.now();
  const say = opts.onProgress ?? (() => {});
  await checkDocker();
  const base = await ensureBase({ cacheDir: opts.cacheDir, image: opts.baseImage, onProgress: say });
  const work = path.join(opts.cacheDir, 'ceph');
  mkdirSync(work, { recursive: true });
  const remoto = remotoFiles();
  const dockerfile = renderDockerfile(loadTemplates({ template: 'ceph' }), { service: 'ceph', image: `${CEPH_REPO}:<ceph version>`, base: base.image, packages: CEPH_PACKAGES, debconf: [], offline: false });
  const h = createHash('sha256').update(`${RECIPE}\nbase ${base.id}\n${dockerfile}`);
  for (const f of remoto) h.update(`\n${f.name}\n${f.text}`);
  const hash = h.digest('hex');

  const have = opts.force ? undefined : await builtWith(hash);
  let image: string;
  let status: 'built' | 'reused';
  if (have) {
    image = `${CEPH_REPO}:${have}`;
    status = 'reused';
    say(`ceph: ${image} up to date`);
  } else {
    // the context holds only the remoto package the Dockerfile copies
    const ctx = path.join(work, `ctx-${process.pid}`);
    rmSync(ctx, { recursive: true, force: true });
    mkdirSync(path.join(ctx, 'remoto'), { recursive: true });
    for (const f of remoto) writeFileSync(path.join(ctx, 'remoto', f.name), f.text);
    const dfile = path.join(ctx, 'Dockerfile');
    writeFileSync(dfile, dockerfile);
    const buildTag = `${CEPH_REPO}:build-${hash.slice(0, 12)}`;
    say(`ceph: building from ${base.image} (${CEPH_PACKAGES.length} packages from the Debian mirror)`);
    try {
      await dockerBuild({ tag: buildTag, hash, service: 'ceph', dockerfile: dfile, context: ctx, logFile: path.join(work, 'build.log') }, say);
    } finally {
      rmSync(ctx, { recursive: true, force: true });
    }
    const version = await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'dpkg-query', buildTag, '-W', '-f', '${Version}', 'ceph-mon'], 'reading the Ceph version');
    image = `${CEPH_REPO}:${upstreamVersion(version)}`;
    await docker(['tag', buildTag, image], `docker tag ${image}`);
    await docker(['rmi', buildTag], `docker rmi ${buildTag}`);
    status = 'built';
  }
  const { version, deb } = await fromImage(image, opts.artifactsDir);
  const info = await inspectImage(image);
  if (!info) throw new KseedError(`docker build did not produce ${image}`, { code: 'build-failed' });
  const archive = await ensureCephArchive({ image, id: info.id, artifactsDir: opts.artifactsDir, onProgress: say });
  const seconds = (Date.now() - t0) / 1000;
  if (status === 'built') say(`ceph: built ${image} (Ceph ${version}, kseed ${kseedVersion()}) in ${seconds.toFixed(1)} s, ${(info.size / 1e6).toFixed(0)} MB`);
  return { image, version, id: info.id, size: info.size, seconds, status, cephadm_deb: deb, archive: { file: archive.file, sha256: archive.sha256, size: archive.size, status: archive.status }, base: { image: base.image, status: base.status, seconds: base.seconds } };
}
