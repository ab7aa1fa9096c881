/**
 * Bringing a rendered stack up and down. Takes what `renderStack` returns
 * (structurally), so compose/ does not depend on render/.
 */
import { statSync } from 'node:fs';
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

/**
 * Running services whose process 1 is not in the namespace `netns` names now.
 * A container that entered seed.netns keeps the namespace it entered alive:
 * after the lab was torn down and made again, its dnsmasq would serve a
 * network nobody is on, while Compose sees nothing changed.
 */
export function staleNetnsServices(statuses: ServiceStatus[], netns: string, services: string[]): string[] {
  let want: { ino: number; dev: number };
  try {
    want = statSync(`/run/netns/${netns}`);
  } catch {
    return [];
  }
  return statuses
    .filter((s) => services.includes(s.service) && s.state === 'running' && s.pid)
    .filter((s) => {
      try {
        const have = statSync(`/proc/${s.pid}/ns/net`);
        return have.ino !== want.ino || have.dev !== want.dev;
      } catch {
        return false;
      }
    })
    .map((s) => s.service);
}

export async function upStack(
  driver: ComposeDriver,
  ref: StackRef,
  opts: WaitOptions & { hint?: string; netns?: { name: string; services: string[] }; unchanged?: boolean } = {},
): Promise<ServiceStatus[]> {
  await ensureImages(driver, ref, opts.hint);
  const p = projectOf(ref);
  if (opts.unchanged) {
    // nothing re-rendered and every service already up and healthy in the right namespace: Compose has nothing to do
    const now = await driver.ps(p);
    const up = ref.services.every((name) => now.some((s) => s.service === name && s.state === 'running' && (s.health === 'healthy' || s.health === 'none')));
    const stale = opts.netns ? staleNetnsServices(now, opts.netns.name, opts.netns.services) : [];
    if (up && stale.length === 0 && now.length === ref.services.length) return now.filter((s) => ref.services.includes(s.service));
  }
  await driver.up(p);
  if (opts.netns) await driver.recreate(p, staleNetnsServices(await driver.ps(p), opts.netns.name, opts.netns.services));
  return driver.waitHealthy(p, ref.services, opts);
}
