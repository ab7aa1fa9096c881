/**
 * `kseed mirror sync`: loads images into the seed registry so an air-gapped
 * site needs nothing from outside. skopeo does the copying (Debian package
 * `skopeo`): it speaks the registry API, OCI layouts and `docker save`
 * archives, and skips blobs the registry already has, which makes a resumed
 * sync cheap. kseed adds the naming (upstream path kept under the seed,
 * the same rule Kolla's docker_namespace and cephadm's --image rely on),
 * credentials off the command line, per-image progress, and a record of
 * what is done so an interrupted sync resumes at the first image not done.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireTool, runQuiet } from '../util/tools.js';
import { InputError, KseedError } from '../errors.js';
import type { StateStore } from '../engine/state.js';
import { mirroredImage } from './ceph.js';

export const MIRROR_KEY = 'mirror.sync';

/** `daemon`: the local Docker engine (skopeo's docker-daemon: transport), where `kseed images ceph` leaves its image. */
export type MirrorSource = { kind: 'upstream' } | { kind: 'oci'; dir: string } | { kind: 'bundle'; file: string } | { kind: 'daemon' };

export interface MirrorImage {
  ref: string;
  dest: string;
  status: 'copied' | 'done before' | 'failed';
  digest?: string;
  error?: string;
}

/** Image references, one per line; `#` starts a comment. */
export async function readImageList(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read image list ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
  const refs: string[] = [];
  const problems = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    // a reference: path components, optional :tag and/or @sha256:digest; no spaces
    if (!/^[a-z0-9][a-z0-9._:/-]*(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?$/.test(line)) {
      problems.push({ file, line: i + 1, col: 1, message: `"${line}" is not an image reference` });
      continue;
    }
    refs.push(line);
  }
  if (problems.length) throw new InputError(`image list ${file} has ${problems.length} bad line${problems.length === 1 ? '' : 's'}`, problems);
  return refs;
}

/** Image names an OCI layout holds (org.opencontainers.image.ref.name, as skopeo writes them). */
export async function ociRefs(dir: string): Promise<string[]> {
  let index: { manifests?: { annotations?: Record<string, string> }[] };
  try {
    index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as typeof index;
  } catch (err) {
    throw new InputError(`${dir} is not an OCI image layout (index.json: ${(err as Error).message})`);
  }
  return (index.manifests ?? []).map((m) => m.annotations?.['org.opencontainers.image.ref.name']).filter((r): r is string => Boolean(r));
}

export async function sourceOf(from: string | undefined): Promise<MirrorSource> {
  if (!from) return { kind: 'upstream' };
  if (from === 'docker-daemon') return { kind: 'daemon' };
  let st;
  try {
    st = await stat(from);
  } catch {
    throw new InputError(`--from ${from}: not found`);
  }
  return st.isDirectory() ? { kind: 'oci', dir: path.resolve(from) } : { kind: 'bundle', file: path.resolve(from) };
}

function srcRef(src: MirrorSource, ref: string): string {
  switch (src.kind) {
    case 'upstream':
      return `docker://${ref}`;
    case 'oci':
      return `oci:${src.dir}:${ref}`;
    case 'bundle':
      return `docker-archive:${src.file}:${ref}`;
    case 'daemon':
      return `docker-daemon:${ref.includes(':') ? ref : `${ref}:latest`}`;
  }
}

export interface SyncOptions {
  registry: string;
  username: string;
  password: string;
  source: MirrorSource;
  /** copy again images recorded as done */
  force?: boolean;
  /** the registry speaks plain HTTP (the seed's does) */
  insecure?: boolean;
  onProgress?: (ref: string, line: string) => void;
}

/** Copies each image; keeps going past a failed one and reports it. */
export async function syncImages(state: StateStore, refs: string[], opts: SyncOptions): Promise<MirrorImage[]> {
  requireTool('skopeo', 'to load images into the seed registry');
  // credentials in an auth file (0600, removed after), never on a command line `ps` shows
  const tmp = await mkdtemp(path.join(tmpdir(), 'kseed-mirror-'));
  const authFile = path.join(tmp, 'auth.json');
  const auth = Buffer.from(`${opts.username}:${opts.password}`).toString('base64');
  await writeFile(authFile, JSON.stringify({ auths: { [opts.registry]: { auth } } }), { mode: 0o600 });
  const done = state.get<Record<string, { digest: string; dest: string }>>(MIRROR_KEY) ?? {};
  const out: MirrorImage[] = [];
  try {
    for (const ref of refs) {
      const dest = mirroredImage(ref, opts.registry);
      if (!opts.force && done[ref]?.dest === dest) {
        out.push({ ref, dest, status: 'done before', digest: done[ref]!.digest });
        continue;
      }
      const digestFile = path.join(tmp, 'digest');
      const args = [
        'copy',
        '--all',
        '--retry-times',
        '2',
        '--dest-authfile',
        authFile,
        '--digestfile',
        digestFile,
        ...(opts.insecure ? ['--dest-tls-verify=false'] : []),
        srcRef(opts.source, ref),
        `docker://${dest}`,
      ];
      // the last lines that say something: the reason when the copy fails
      const tail: string[] = [];
      const r = await runQuiet('skopeo', args, {
        timeoutMs: 0,
        buffer: false,
        onLine: (l) => {
          if (!l.trim()) return;
          opts.onProgress?.(ref, l.trim());
          tail.push(l.trim());
          if (tail.length > 3) tail.shift();
        },
      });
      if (r.exitCode !== 0) {
        out.push({ ref, dest, status: 'failed', error: tail.join(' ') });
        continue;
      }
      const digest = (await readFile(digestFile, 'utf8')).trim();
      state.update<Record<string, { digest: string; dest: string }>>(MIRROR_KEY, (old) => ({ ...(old ?? {}), [ref]: { digest, dest } }));
      out.push({ ref, dest, status: 'copied', digest });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}
