/**
 * The few docker CLI calls the image builder needs. The classic builder is
 * forced (DOCKER_BUILDKIT=0): Debian's docker.io has no buildx, and with
 * BuildKit requested the build fails outright.
 */
import { execa } from 'execa';
import { KseedError } from '../../errors.js';

export const DOCKER_ENV = { DOCKER_BUILDKIT: '0' };

export interface ImageInfo {
  id: string;
  size: number;
  labels: Record<string, string>;
}

export async function checkDocker(docker = 'docker'): Promise<string> {
  const r = await execa(docker, ['version', '--format', '{{.Server.Version}}'], { reject: false, timeout: 30_000 });
  if ((r as { code?: string }).code === 'ENOENT' || r.failed && /ENOENT/.test(String(r.message))) {
    throw new KseedError('docker not found: install the Debian package docker.io', { code: 'missing-tool' });
  }
  if (r.exitCode !== 0) {
    throw new KseedError('cannot reach the Docker engine: is dockerd running?', {
      code: 'no-docker',
      detail: String(r.stderr || r.message).trim(),
    });
  }
  return String(r.stdout).trim();
}

export async function inspectImage(ref: string, docker = 'docker'): Promise<ImageInfo | undefined> {
  const r = await execa(docker, ['image', 'inspect', '--format', '{{json .}}', ref], { reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) return undefined;
  const j = JSON.parse(String(r.stdout)) as { Id: string; Size: number; Config?: { Labels?: Record<string, string> | null } };
  return { id: j.Id, size: j.Size, labels: j.Config?.Labels ?? {} };
}
