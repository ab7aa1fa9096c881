/**
 * Bringing a rendered stack up and down. Takes what `renderStack` returns
 * (structurally), so compose/ does not depend on render/.
 */
import path from 'node:path';
import { KseedError } from '../errors.js';
import type { ComposeDriver, ComposeProject, ServiceStatus, WaitOptions } from './driver.js';

export interface StackRef {
  project: string;
  composeFile: string;
  /** Image per service. */
  images: Record<string, string>;
  services: string[];
}

export const BUILD_HINT = 'kseed images build';

export function projectOf(ref: Pick<StackRef, 'project' | 'composeFile'>): ComposeProject {
  return { name: ref.project, file: ref.composeFile, dir: path.dirname(ref.composeFile) };
}

/**
 * Checks images first: Compose would otherwise try to pull `kseed/*` from a
 * registry (never wanted: the seed is often offline) and fail with a trace.
 */
export async function ensureImages(driver: ComposeDriver, ref: StackRef, hint = BUILD_HINT): Promise<void> {
  const missing = await driver.missingImages(Object.values(ref.images));
  if (missing.length === 0) return;
  throw new KseedError(`image not found: ${missing.join(', ')} — build ${missing.length === 1 ? 'it' : 'them'} with: ${hint}`, {
    code: 'image-not-found',
    detail: `services need: ${Object.entries(ref.images)
      .map(([s, i]) => `${s}=${i}`)
      .join(', ')}`,
  });
}

export async function upStack(
  driver: ComposeDriver,
  ref: StackRef,
  opts: WaitOptions & { hint?: string } = {},
): Promise<ServiceStatus[]> {
  await ensureImages(driver, ref, opts.hint);
  const p = projectOf(ref);
  await driver.up(p);
  return driver.waitHealthy(p, ref.services, opts);
}
