/**
 * The shell scripts `kseed handoff --ceph --run` sends to the nodes, one per
 * step, each safe to run again: it checks what is already there first.
 * They run as root (through sudo) under POSIX sh; the nodes run Debian.
 */
import { heredoc } from './remote.js';
import { shq } from './steps.js';

/**
 * Docker on the node pulls from the seed registry, which speaks plain HTTP:
 * the registry goes into daemon.json's insecure-registries (kept with what
 * is there; Kolla's bootstrap-servers writes the same entry later), and
 * docker restarts only when the file changed.
 */
export function trustRegistryScript(registry: string): string {
  const py = `import json, os, sys
p = '/etc/docker/daemon.json'
try:
    d = json.load(open(p))
except FileNotFoundError:
    d = {}
regs = d.setdefault('insecure-registries', [])
if sys.argv[1] in regs:
    sys.exit(0)
regs.append(sys.argv[1])
os.makedirs('/etc/docker', exist_ok=True)
open(p + '.kseed', 'w').write(json.dumps(d, indent=2) + '\\n')
os.replace(p + '.kseed', p)
sys.exit(10)`;
  return [
    'set -u',
    'command -v docker >/dev/null || { echo "docker is not installed on this host (the node OS carries docker.io)" >&2; exit 1; }',
    `python3 - ${shq(registry)} ${heredoc(py)}`,
    'rc=$?',
    'if [ $rc -eq 10 ]; then systemctl restart docker && echo "docker now trusts the seed registry"; exit $?; fi',
    'exit $rc',
  ].join('\n');
}

export interface ArchiveToLoad {
  url: string;
  sha256: string;
  /** the image id `docker load` must yield */
  id: string;
  /** the name cephadm runs (the seed-registry name): the loaded image gets it as a tag */
  ref: string;
}

/**
 * The Ceph image into the host's Docker from the seed's uncompressed
 * archive: nothing when an image of that id is there (it gets the tag);
 * else fetched to disk with its sha256 checked before anything is loaded
 * (a corrupt or truncated archive is refused and removed), `docker load`,
 * and the id checked again. python3 fetches: every node has it (cephadm
 * needs it), curl may be missing.
 */
export function loadImageScript(a: ArchiveToLoad): string {
  const py = `import hashlib, sys, time, urllib.request
url, dest, want = sys.argv[1:4]
h = hashlib.sha256()
n, t0, shown = 0, time.time(), 0
with urllib.request.urlopen(url, timeout=120) as r, open(dest, 'wb') as f:
    total = int(r.headers.get('Content-Length') or 0)
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        h.update(b)
        f.write(b)
        n += len(b)
        if n - shown >= 100_000_000:
            shown = n
            print(f'fetched {n // 1_000_000} of {total // 1_000_000} MB', flush=True)
got = h.hexdigest()
if got != want:
    sys.exit(f'{url}: sha256 {got} over {n} bytes, the seed recorded {want}: corrupt or not the archive the seed made; nothing loaded')
print(f'fetched {n} bytes in {time.time() - t0:.1f} s, sha256 as recorded', flush=True)`;
  return [
    'set -eu',
    'command -v docker >/dev/null || { echo "docker is not installed on this host (the node OS carries docker.io)" >&2; exit 1; }',
    `id=${shq(a.id)}`,
    `ref=${shq(a.ref)}`,
    'if docker image inspect "$id" >/dev/null 2>&1; then docker tag "$id" "$ref"; echo "$ref already loaded ($id)"; exit 0; fi',
    // /var/tmp: on the root disk, where /tmp may be a small tmpfs
    'dir=$(mktemp -d /var/tmp/kseed-ceph-image.XXXXXX)',
    'trap \'rm -rf "$dir"\' EXIT',
    `python3 - ${shq(a.url)} "$dir/image.tar" ${shq(a.sha256)} ${heredoc(py)}`,
    't0=$(date +%s)',
    'docker load -i "$dir/image.tar"',
    'docker image inspect "$id" >/dev/null 2>&1 || { echo "docker load gave no image $id: the archive holds another image" >&2; exit 1; }',
    'docker tag "$id" "$ref"',
    'echo "$ref loaded in $(( $(date +%s) - t0 )) s ($id)"',
  ].join('\n');
}

/** Installs Debian's cephadm .deb from the seed's HTTP, unless that very version is installed. */
export function installCephadmScript(url: string, version: string): string {
  return [
    'set -eu',
    `want=${shq(version)}`,
    'have=$(dpkg-query -W -f \'${Version}\' cephadm 2>/dev/null || true)',
    'if [ "$have" = "$want" ]; then echo "cephadm $have already installed"; exit 0; fi',
    'tmp=$(mktemp -d)',
    'trap \'rm -rf "$tmp"\' EXIT',
    // python3 is on every node (cephadm needs it); curl or wget may not be
    `python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' ${shq(url)} "$tmp/cephadm.deb"`,
    'dpkg -i "$tmp/cephadm.deb"',
    'echo "cephadm $(dpkg-query -W -f \'${Version}\' cephadm) installed from the seed"',
  ].join('\n');
}

/**
 * `cephadm bootstrap`, once: a host that already holds the admin keyring was
 * bootstrapped (by an earlier run that died before recording it) and is left
 * alone. The registry credentials travel in a here-doc into a 0600 file that
 * is removed afterwards (cephadm keeps them in the cluster's config store).
 */
export function bootstrapScript(argv: string[], remoteDir: string, registryJson?: string): string {
  return [
    'set -eu',
    'if [ -e /etc/ceph/ceph.client.admin.keyring ] && [ -e /etc/ceph/ceph.conf ]; then echo "already bootstrapped (/etc/ceph/ceph.conf and the admin keyring exist): not again"; exit 0; fi',
    `install -d -m 0700 ${shq(remoteDir)}`,
    // the archive delivery logs in nowhere: no credentials travel
    ...(registryJson === undefined
      ? []
      : [
          `(umask 077; cat > ${shq(`${remoteDir}/registry.json`)} ${heredoc(registryJson)}
)`,
          `trap 'rm -f ${shq(`${remoteDir}/registry.json`)}' EXIT`,
        ]),
    argv.map(shq).join(' '),
  ].join('\n');
}

/** Runs `ceph ARGS` through `cephadm shell` (the node has no ceph CLI of its own). */
export function cephCli(image: string, args: string[], mounts: string[] = []): string {
  return ['cephadm', '--image', image, 'shell', ...mounts.flatMap((m) => ['--mount', m]), '--', 'ceph', ...args].map(shq).join(' ');
}

/** The cluster's public key (cephadm writes it at bootstrap) into the login user's authorized_keys. */
export function authorizeKeyScript(pubKey: string): string {
  return [
    'set -eu',
    'umask 077',
    'mkdir -p "$HOME/.ssh"',
    'touch "$HOME/.ssh/authorized_keys"',
    `key=$(cat ${heredoc(pubKey.trim())}
)`,
    'if grep -qxF "$key" "$HOME/.ssh/authorized_keys"; then echo "the cluster key is already authorized"; exit 0; fi',
    'printf \'%s\\n\' "$key" >> "$HOME/.ssh/authorized_keys"',
    'echo "the cluster key is now authorized"',
  ].join('\n');
}

export interface HostToAdd {
  name: string;
  addr: string;
  labels: string[];
}

/**
 * `ceph orch host add` for each host in one `cephadm shell` (each shell is a
 * container start, tens of seconds under emulation); a line per host tells
 * the runner which ones failed.
 */
export function addHostsScript(image: string, hosts: HostToAdd[]): string {
  const lines = ['set -u'];
  const inner = hosts
    // `orch host add <hostname> [<addr>] [<labels>...]`: the labels are the trailing positionals
    .map((h) => `if ceph orch host add ${[h.name, h.addr, ...h.labels].map(shq).join(' ')} >/tmp/kseed-add.out 2>&1; then echo "kseed-host ${h.name} ok"; else echo "kseed-host ${h.name} failed: $(tail -n 1 /tmp/kseed-add.out)"; fi`)
    .join('\n');
  lines.push(`cephadm --image ${shq(image)} shell -- sh -c ${shq(inner)}`);
  return lines.join('\n');
}

/** Writes the services spec to the node and applies it (`ceph orch apply -i`). */
export function applySpecScript(image: string, remoteDir: string, spec: string): string {
  const file = `${remoteDir}/services.yaml`;
  return [
    'set -eu',
    `install -d -m 0700 ${shq(remoteDir)}`,
    `cat > ${shq(file)} ${heredoc(spec)}`,
    cephCli(image, ['orch', 'apply', '-i', '/mnt/services.yaml'], [`${file}:/mnt/services.yaml`]),
  ].join('\n');
}
