/**
 * Writing the hand-off: every file is computed first, then each is written
 * to a temporary name in its directory and renamed over the old one, so an
 * interrupted run leaves either the old or the new file, never half of one.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface OutFile {
  /** Relative to the hand-off directory. */
  rel: string;
  content: string;
  mode: number;
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, content, { mode });
    // writeFile's mode is masked by the umask; secrets must end up exactly 0600
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function writeAll(dir: string, files: OutFile[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const f of files) await writeAtomic(path.join(dir, f.rel), f.content, f.mode);
}
