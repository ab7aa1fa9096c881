/**
 * A tiny local image for driver tests, built without any registry: a rootfs
 * of Debian's static busybox plus one symlink per applet, `docker import`ed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019.js';
import { readFileSync } from 'node:fs';

export const BUSYBOX = '/bin/busybox';

export function buildBusyboxImage(tag: string): void {
  const work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-img-'));
  try {
    const root = path.join(work, 'root');
    for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev', 'www']) mkdirSync(path.join(root, d), { recursive: true });
    copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
    chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
    for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
    const tar = path.join(work, 'rootfs.tar');
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    execFileSync('docker', ['import', '-c', 'ENV PATH=/bin', '-c', 'CMD ["/bin/sh"]', tar, tag], { stdio: 'ignore' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function removeImage(tag: string): void {
  try {
    execFileSync('docker', ['image', 'rm', '-f', tag], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Containers and volumes of a project, by label (what `down` must have removed). */
export function projectLeftovers(project: string): { containers: string[]; volumes: string[] } {
  const list = (args: string[]) =>
    execFileSync('docker', args, { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  return {
    containers: list(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`]),
    volumes: list(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]),
  };
}

/** Last-resort cleanup when a test failed midway. */
export function forceRemoveProject(project: string): void {
  const { containers, volumes } = projectLeftovers(project);
  if (containers.length) execFileSync('docker', ['rm', '-f', '-v', ...containers], { stdio: 'ignore' });
  if (volumes.length) execFileSync('docker', ['volume', 'rm', '-f', ...volumes], { stdio: 'ignore' });
  try {
    execFileSync('docker', ['network', 'rm', `${project}_default`], { stdio: 'ignore' });
  } catch {
    // no network
  }
}

/** Debian's docker-compose ships the Compose-spec schema; it is read from there, never copied. */
export const COMPOSE_SCHEMA = '/usr/lib/python3/dist-packages/compose/config/compose_spec.json';

/**
 * The schema names draft 2019-09 by its old http URI (ajv registers https)
 * and labels its parts with draft-04 style string `id`s, which 2019-09 calls
 * `$id`: drop both; a property that is itself named "id" has an object value
 * and is kept.
 */
function stripIds(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripIds);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k, x]) => !(k === 'id' && typeof x === 'string') && k !== '$schema')
        .map(([k, x]) => [k, stripIds(x)]),
    );
  }
  return v;
}
export function loadComposeSchema(): object {
  return stripIds(JSON.parse(readFileSync(COMPOSE_SCHEMA, 'utf8'))) as object;
}

// Compose's own formats (compose/config/validation.py), checked for real rather than ignored.
export function composeAjv() {
  const ajv = new Ajv2019.default({ allErrors: true, strict: false });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
  ajv.addFormat('ports', { type: 'string', validate: (s: string) => /^[\d.:\-/a-z[\]]+$/i.test(s) });
  ajv.addFormat('expose', { type: 'string', validate: (s: string) => /^\d+(-\d+)?(\/[a-z]+)?$/i.test(s) });
  ajv.addFormat('subnet_ip_address', /^[\da-f.:]+\/\d+$/i);
  return ajv;
}


/**
 * An image holding a few host binaries (with the libraries ldd names) plus
 * static busybox as /bin/sh: stands in for a kseed/* service image where the
 * real one (built from Debian packages by `kseed images build`) is absent.
 */
export function buildHostImage(
  tag: string,
  opts: { binaries: string[]; files?: string[]; users: string[]; trees?: string[]; dirs?: string[] },
): void {
  const work = mkdtempSync(path.join(os.tmpdir(), 'kseedtest-himg-'));
  try {
    const root = path.join(work, 'root');
    for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev', 'run', 'var/log/nginx', 'var/lib']) mkdirSync(path.join(root, d), { recursive: true });
    chmodSync(path.join(root, 'tmp'), 0o1777);
    copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
    chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
    for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
    const copy = (src: string) => {
      const dest = path.join(root, src);
      mkdirSync(path.dirname(dest), { recursive: true });
      copyFileSync(realpathSync(src), dest);
      chmodSync(dest, statSync(realpathSync(src)).mode & 0o777);
    };
    for (const bin of opts.binaries) {
      copy(bin);
      // the real tool, not busybox's smaller applet of the same name, as in a Debian image
      rmSync(path.join(root, 'bin', path.basename(bin)), { force: true });
      const ldd = execFileSync('ldd', [bin], { encoding: 'utf8' });
      for (const m of ldd.matchAll(/(\/\S+)\s+\(0x/g)) copy(m[1] as string);
    }
    for (const f of opts.files ?? []) copy(f);
    for (const d of opts.dirs ?? []) mkdirSync(path.join(root, d), { recursive: true });
    // Whole trees (a Python installation) go in by tar; their C extensions need their libraries too.
    const libs = new Set<string>();
    for (const t of opts.trees ?? []) {
      const sos = execFileSync('find', [t, '-name', '*.so*', '-type', 'f'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter(Boolean);
      for (const so of sos) {
        let out = '';
        try {
          out = execFileSync('ldd', [so], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        } catch {
          continue;
        }
        for (const m of out.matchAll(/(\/\S+)\s+\(0x/g)) libs.add(m[1] as string);
      }
    }
    for (const l of libs) if (!l.startsWith(root)) copy(l);
    const ids: Record<string, number> = { root: 0, nobody: 65534 };
    let next = 900;
    const users = ['root', 'nobody', ...opts.users.filter((u) => !(u in ids))];
    const passwd = users.map((u) => `${u}:x:${ids[u] ?? (ids[u] = next++)}:${ids[u]}:${u}:/nonexistent:/bin/sh`);
    writeFileSync(path.join(root, 'etc', 'passwd'), `${passwd.join('\n')}\n`);
    writeFileSync(path.join(root, 'etc', 'group'), `${users.map((u) => `${u === 'nobody' ? 'nogroup' : u}:x:${ids[u]}:`).join('\n')}\n`);
    const tar = path.join(work, 'rootfs.tar');
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    for (const t of opts.trees ?? []) execFileSync('tar', ['-C', '/', '-rf', tar, t.replace(/^\//, '')]);
    execFileSync('docker', ['import', '-c', 'ENV PATH=/bin:/usr/sbin:/usr/bin:/sbin LANG=C.UTF-8', tar, tag], { stdio: 'ignore' });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
