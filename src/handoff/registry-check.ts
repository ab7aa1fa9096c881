/**
 * Asks the seed registry, before anything starts on a node, whether it
 * takes kseed's credentials and holds the image the hand-off names
 * (Docker Registry HTTP API V2: GET /v2/ for auth, HEAD of the manifest).
 */
import { KseedError } from '../errors.js';

const MANIFESTS = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** `host:port/repo/path:tag` -> its parts; the seed registry speaks plain HTTP. */
export function splitImage(image: string): { registry: string; repo: string; tag: string } {
  const slash = image.indexOf('/');
  const rest = image.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  return { registry: image.slice(0, slash), repo: colon > 0 ? rest.slice(0, colon) : rest, tag: colon > 0 ? rest.slice(colon + 1) : 'latest' };
}

export async function checkSeedImage(image: string, creds: { username: string; password: string }, hint: string): Promise<void> {
  const { registry, repo, tag } = splitImage(image);
  const auth = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  let res: Response;
  try {
    res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { authorization: auth, accept: MANIFESTS }, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new KseedError(`the seed registry at ${registry} does not answer (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}): is the seed up (kseed up)?`, { code: 'registry-unreachable' });
  }
  if (res.status === 401 || res.status === 403) {
    throw new KseedError(`the seed registry at ${registry} refused kseed's credentials (user ${creds.username}): wrong registry password (registry.password in the site file, or .kseed/secrets/registry-password from kseed up)`, { code: 'registry-auth' });
  }
  if (res.status === 404) throw new KseedError(`the seed registry has no ${repo}:${tag}: ${hint}`, { code: 'image-missing' });
  if (!res.ok) throw new KseedError(`the seed registry answered ${res.status} for ${repo}:${tag}`, { code: 'registry-error' });
}
