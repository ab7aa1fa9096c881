/**
 * Secret references are resolved only when used, never stored resolved,
 * and their values never appear in messages: errors name the reference
 * (variable name, file path), not what it holds.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, type Problem } from '../errors.js';
import type { SecretRef, Site } from './types.js';

/** Mode bits a secret file may not have: readable or writable by others. */
const WORLD_BITS = 0o007;

export function describeSecret(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('file' in ref) return `secret file ${ref.file}`;
  return 'inline secret';
}

export function secretFilePath(ref: { file: string }, site: Pick<Site, 'dir'>): string {
  return path.resolve(site.dir, ref.file);
}

/**
 * The secret's value. `file` is relative to the site file's directory; one
 * trailing newline is dropped (`echo pw > file` is how people write them).
 * World-accessible files are refused: BRIEF/DESIGN require secret files 0600.
 */
export async function resolveSecret(ref: SecretRef, site: Pick<Site, 'dir'>): Promise<string> {
  if ('value' in ref) return ref.value;
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined || v === '') {
      throw new InputError(`environment variable ${ref.env} is not set (a secret reference in the site file needs it)`, [], { code: 'secret-missing' });
    }
    return v;
  }
  const file = secretFilePath(ref, site);
  let fh;
  try {
    // O_NOFOLLOW is not wanted: secrets are often symlinked from a vault mount
    fh = await open(file, constants.O_RDONLY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`cannot read secret file ${file} (${code === 'ENOENT' ? 'not found' : code})`, [], { code: 'secret-missing' });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InputError(`secret file ${file} is not a regular file`, [], { code: 'secret-insecure' });
    if (st.mode & WORLD_BITS) {
      throw new InputError(`secret file ${file} is accessible by every user (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`, [], {
        code: 'secret-insecure',
      });
    }
    const text = await fh.readFile('utf8');
    const v = text.replace(/\r?\n$/, '');
    if (v === '') throw new InputError(`secret file ${file} is empty`, [], { code: 'secret-missing' });
    return v;
  } finally {
    await fh.close();
  }
}

/**
 * What `kseed validate` says about a secret without reading its value:
 * missing variables and files, loose permissions.
 */
export async function auditSecret(ref: SecretRef, site: Pick<Site, 'dir'>, where: Omit<Problem, 'message'>): Promise<{ problems: Problem[]; warnings: Problem[] }> {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  if ('env' in ref) {
    if (!process.env[ref.env]) warnings.push({ ...where, message: `environment variable ${ref.env} is not set here; commands that use this secret will fail` });
  } else if ('file' in ref) {
    const file = secretFilePath(ref, site);
    try {
      const st = await stat(file);
      if (!st.isFile()) problems.push({ ...where, message: `secret file ${file} is not a regular file` });
      else if (st.mode & WORLD_BITS) problems.push({ ...where, message: `secret file ${file} is accessible by every user (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it` });
      else if (st.mode & 0o070) warnings.push({ ...where, message: `secret file ${file} is group-accessible (mode ${(st.mode & 0o777).toString(8)}); 600 is safer` });
      else if (st.size === 0) problems.push({ ...where, message: `secret file ${file} is empty` });
    } catch {
      // like an unset variable: the file may only exist where kseed runs for real
      warnings.push({ ...where, message: `secret file ${file} not found here; commands that use this secret will fail` });
    }
  }
  return { problems, warnings };
}
