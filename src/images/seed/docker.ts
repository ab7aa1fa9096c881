/**
 * The few docker CLI calls the image builder needs. The classic builder is
 * forced (DOCKER_BUILDKIT=0): Debian's docker.io has no buildx, and with
 * BuildKit requested the build fails outright.
 */
import { dockerEngine, runQuiet } from '../../util/tools.js';

export const DOCKER_ENV = { DOCKER_BUILDKIT: '0' };

export interface ImageInfo {
  id: string;
  size: number;
  labels: Record<string, string>;
}

/** The Docker engine's version; the one check src/util/tools.ts makes for Compose too. */
export async function checkDocker(docker = 'docker'): Promise<string> {
  return dockerEngine(docker);
}

export async function inspectImage(ref: string, docker = 'docker'): Promise<ImageInfo | undefined> {
  const r = await runQuiet(docker, ['image', 'inspect', '--format', '{{json .}}', ref]);
  if (r.exitCode !== 0) return undefined;
  const j = JSON.parse(r.stdout) as { Id: string; Size: number; Config?: { Labels?: Record<string, string> | null } };
  return { id: j.Id, size: j.Size, labels: j.Config?.Labels ?? {} };
}
