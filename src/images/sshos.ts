/**
 * The SSH variant of the test OS: what Ansible and cephadm need to log in and
 * run a module on a provisioned lab node, taken from Debian packages:
 *
 *   dropbear (dropbear-bin)            the SSH server, port 22
 *   sftp-server (openssh-sftp-server)  so Ansible copies modules over SFTP, its default
 *   python3 (python3.X-minimal, libpython3.X-minimal, libpython3.X-stdlib)
 *
 * plus exactly the shared libraries their ELF files name (DT_NEEDED, followed
 * transitively) out of a fixed set of library packages. A Python extension
 * module whose library is not in that set (curses, dbm, sqlite, ssl ...) is
 * left out: Ansible's ping and command modules import none of them.
 *
 * The stdlib is byte-compiled at build time by the very interpreter that goes
 * into the image (run through its own ld.so), as unchecked-hash .pyc files: the
 * initramfs has mtime 0 everywhere, and a TCG guest compiling the stdlib on
 * each Ansible run would take seconds per module.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { KseedError } from '../errors.js';
import type { CpioArchive } from './cpio.js';
import { type Deb, extractDeb, fetchDebs } from './debs.js';
import { elfNeeded, isElf } from './elf.js';
import { output as run } from '../util/tools.js';

const SSH_PACKAGES = ['dropbear-bin', 'openssh-sftp-server'];
/** Where DT_NEEDED sonames are looked up (libc6 also brings ld.so). */
const LIB_PACKAGES = ['libc6', 'libcrypt1', 'zlib1g', 'libtomcrypt1', 'libtommath1', 'libgmp10', 'libexpat1', 'liblzma5', 'libbz2-1.0', 'libffi8', 'libuuid1'];
const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'];
const LD_SO = 'ld-linux-x86-64.so.2';

/** Parts of the stdlib nothing on a server needs: tests, GUI, docs, build config. */
const PY_PRUNE = [/^test$/, /^idlelib$/, /^tkinter$/, /^turtledemo$/, /^turtle\.py$/, /^lib2to3$/, /^ensurepip$/, /^pydoc_data$/, /^config-[^/]*$/, /^__phello__$/];

export interface SshStage {
  /** root of the staged tree, to be added to the initramfs as is */
  dir: string;
  packages: string[];
  /** extension modules left out because a library they need is not in the image */
  dropped: string[];
  pythonVersion: string;
  /** true when the stdlib .pyc were compiled at build time */
  compiled: boolean;
}

/** The python3.X behind python3-minimal's /usr/bin/python3 symlink. */
async function pythonVersion(cacheDir: string): Promise<string> {
  const [meta] = await fetchDebs(['python3-minimal'], cacheDir);
  const root = await extractDeb(meta!, cacheDir);
  const target = readlinkSync(path.join(root, 'usr/bin/python3'));
  const m = /^python(3\.\d+)$/.exec(target);
  if (!m) throw new KseedError(`python3-minimal's /usr/bin/python3 points to ${target}, not python3.X`, { code: 'build-failed' });
  return m[1]!;
}

/** The packages of the SSH variant, fetched (versions go into the image's stamp). */
export async function fetchSshDebs(cacheDir: string): Promise<{ debs: Deb[]; py: string }> {
  const py = await pythonVersion(cacheDir);
  const debs = await fetchDebs([...SSH_PACKAGES, `python${py}-minimal`, `libpython${py}-minimal`, `libpython${py}-stdlib`, 'python3-minimal', ...LIB_PACKAGES], cacheDir);
  return { debs, py };
}

function copyFile(from: string, to: string, mode?: number): void {
  mkdirSync(path.dirname(to), { recursive: true });
  cpSync(from, to, { dereference: true });
  if (mode !== undefined) chmodSync(to, mode);
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Builds the staged tree under `work/ssh-root`. */
export async function stageSshRoot(cacheDir: string, work: string, fetched: { debs: Deb[]; py: string }): Promise<SshStage> {
  const { debs, py } = fetched;
  const roots = new Map<string, string>();
  for (const d of debs) roots.set(d.pkg, await extractDeb(d, cacheDir));
  const from = (pkg: string, rel: string) => {
    const p = path.join(roots.get(pkg)!, rel);
    if (!existsSync(p)) throw new KseedError(`${pkg} has no ${rel}`, { code: 'build-failed' });
    return p;
  };
  const dir = path.join(work, 'ssh-root');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  copyFile(from('dropbear-bin', 'usr/sbin/dropbear'), path.join(dir, 'usr/sbin/dropbear'), 0o755);
  copyFile(from('dropbear-bin', 'usr/bin/dropbearkey'), path.join(dir, 'usr/bin/dropbearkey'), 0o755);
  copyFile(from('openssh-sftp-server', 'usr/lib/openssh/sftp-server'), path.join(dir, 'usr/lib/openssh/sftp-server'), 0o755);
  // Debian's dropbear runs the SFTP subsystem from this path (its SFTPSERVER_PATH)
  symlinkSync('openssh/sftp-server', path.join(dir, 'usr/lib/sftp-server'));
  copyFile(from(`python${py}-minimal`, `usr/bin/python${py}`), path.join(dir, `usr/bin/python${py}`), 0o755);
  symlinkSync(`python${py}`, path.join(dir, 'usr/bin/python3'));

  const lib = path.join(dir, 'usr/lib', `python${py}`);
  for (const pkg of [`libpython${py}-minimal`, `libpython${py}-stdlib`]) {
    const src = path.join(roots.get(pkg)!, 'usr/lib', `python${py}`);
    if (!existsSync(src)) continue;
    cpSync(src, lib, { recursive: true, verbatimSymlinks: true, filter: (s) => !PY_PRUNE.some((re) => re.test(path.relative(src, s))) });
  }
  if (!existsSync(path.join(lib, 'os.py'))) throw new KseedError(`libpython${py}-minimal brought no os.py`, { code: 'build-failed' });

  // Shared libraries: DT_NEEDED closure over every ELF file staged so far.
  const libRoots = LIB_PACKAGES.map((p) => roots.get(p)!).filter(Boolean);
  const findLib = (soname: string): string | undefined => {
    for (const r of libRoots) for (const d of LIB_DIRS) if (existsSync(path.join(r, d, soname))) return path.join(r, d, soname);
    return undefined;
  };
  const dropped: string[] = [];
  const have = new Set<string>();
  const queue: string[] = [];
  const dynload = path.join(lib, 'lib-dynload');
  for (const f of walk(dir)) {
    const buf = readFileSync(f);
    if (!isElf(buf)) continue;
    const needed = elfNeeded(buf) ?? [];
    const missing = needed.filter((s) => !findLib(s));
    if (missing.length) {
      if (f.startsWith(dynload + path.sep)) {
        rmSync(f);
        dropped.push(`${path.basename(f).split('.')[0]} (${missing.join(', ')})`);
        continue;
      }
      throw new KseedError(`${path.relative(dir, f)} needs ${missing.join(', ')}, which none of ${LIB_PACKAGES.join(', ')} has`, { code: 'build-failed' });
    }
    queue.push(...needed);
  }
  while (queue.length) {
    const soname = queue.shift()!;
    if (have.has(soname)) continue;
    have.add(soname);
    const file = findLib(soname)!;
    if (!file) throw new KseedError(`shared library ${soname} is in none of ${LIB_PACKAGES.join(', ')}`, { code: 'build-failed' });
    copyFile(file, path.join(dir, 'lib/x86_64-linux-gnu', soname), 0o755);
    queue.push(...(elfNeeded(readFileSync(file)) ?? []));
  }
  const ldso = findLib(LD_SO);
  if (!ldso) throw new KseedError(`libc6 has no ${LD_SO}`, { code: 'build-failed' });
  // PT_INTERP of every amd64 binary
  copyFile(ldso, path.join(dir, 'lib64', LD_SO), 0o755);

  // Byte-compile with the staged interpreter itself, so the .pyc magic is the one the guest runs.
  let compiled = false;
  try {
    await run(
      path.join(dir, 'lib64', LD_SO),
      ['--library-path', path.join(dir, 'lib/x86_64-linux-gnu'), path.join(dir, 'usr/bin', `python${py}`), '-s', '-m', 'compileall', '-q', '-f', '-j', '2', '--invalidation-mode', 'unchecked-hash', '-s', dir, '-p', '/', lib],
      { env: { PYTHONHOME: path.join(dir, 'usr'), PYTHONDONTWRITEBYTECODE: '1', PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 600_000 },
    );
    compiled = true;
  } catch {
    // the guest compiles on first import instead (slower, same result)
  }
  return { dir, packages: debs.map((d) => `${d.pkg}=${d.version}`), dropped: dropped.sort(), pythonVersion: py, compiled };
}

/** Adds a staged tree (files, symlinks, directories, their permission bits) to the initramfs. */
export function addTree(cpio: CpioArchive, dir: string, prefix = ''): void {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) cpio.symlink(name, readlinkSync(p));
    else if (st.isDirectory()) {
      cpio.dir(name, st.mode & 0o7777);
      addTree(cpio, p, name);
    } else if (st.isFile()) cpio.file(name, readFileSync(p), st.mode & 0o7777);
  }
}

