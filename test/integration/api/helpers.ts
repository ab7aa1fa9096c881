/**
 * The seed service as a user runs it: `kseed serve` in its own process on a
 * fixed loopback port, a site file of N nodes (BMCs never contacted), tokens
 * made by `kseed token create`, and requests over real sockets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KSEED_BIN, runKseed } from '../../helpers/cli.js';

/**
 * A site of `nodes` nodes in a new directory. With `ports`, the seed is
 * 127.0.0.1/8 on lo (so `kseed up` can start its boot services there, DHCP
 * off) with these seed.ports. `nodeFields(i)` adds fields to node i (", roles: [compute]").
 */
export function siteDir(prefix: string, nodes: number, ports?: { api: number; http: number; tftp: number }, nodeFields: (i: number) => string = () => ''): string {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  const lines = [
    'site: apitest',
    'engine: embedded',
    'seed:',
    '  interface: lo',
    `  address: ${ports ? '127.0.0.1/8' : '10.77.0.1/24'}`,
    '  dhcp: { mode: off }',
    ...(ports ? [`  ports: { api: ${ports.api}, http: ${ports.http}, tftp: ${ports.tftp} }`] : []),
    'defaults:',
    '  bmc: { type: ipmi, username: admin, password: { value: unused } }',
    'nodes:',
    ...Array.from({ length: nodes }, (_, i) => `  - { name: n${i + 1}, bmc: { address: 127.0.0.1, port: ${19000 + i} }, macs: ["52:54:00:00:18:${(i + 1).toString(16).padStart(2, '0')}"]${nodeFields(i)} }`),
    '',
  ];
  writeFileSync(path.join(root, 'kseed.yaml'), lines.join('\n'));
  return root;
}

export async function createToken(root: string, name: string): Promise<string> {
  const r = await runKseed(['--json', 'token', 'create', name], { cwd: root });
  if (r.code !== 0) throw new Error(`token create ${name}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout).secret as string;
}

export interface Service {
  child: ChildProcess;
  url: string;
  /** Everything the service printed so far (its request log). */
  output(): string;
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

/** Starts `kseed serve` in `root` and waits for its `listening` line. */
export function startService(root: string, port: number, args: string[] = []): Promise<Service> {
  const child = spawn(process.execPath, [KSEED_BIN, 'serve', '--port', String(port), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const svc: Service = {
    child,
    url: `${args.includes('--tls') ? 'https' : 'http'}://${args.includes('--host') ? args[args.indexOf('--host') + 1] : '127.0.0.1'}:${port}`,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`kseed serve did not listen within 20 s:\n${out}`)), 20_000);
    const check = () => {
      if (out.includes('"type":"listening"')) {
        clearTimeout(t);
        child.stdout!.off('data', check);
        resolve(svc);
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(t);
      reject(new Error(`kseed serve exited ${code} before listening:\n${out}`));
    });
  });
}

export interface Answer {
  status: number;
  body: any;
}

/** One request; the answer's body parsed as JSON (the API never answers anything else). */
export async function api(url: string, method: string, route: string, o: { token?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(`${url}/api/v1${route}`, {
    method,
    headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
    ...(o.body !== undefined ? { body: o.body } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

/** `name{labels}` -> value, for every sample line. */
export function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/**
 * A simulated lab of `nodes` nodes (`kseed lab up --sim`, lab `lab`, BMCs on
 * UDP bmcBase+) with a random raw image to deploy, and the seed's boot
 * services up (`kseed up --no-api`: the test runs the seed service itself,
 * on its own port). `k` runs kseed on its site file.
 */
export async function simSeed(o: { prefix: string; lab: string; nodes: number; bmcBase: number }) {
  const root = mkdtempSync(path.join(tmpdir(), o.prefix));
  chmodSync(root, 0o755);
  const site = path.join(root, 'kseed.yaml');
  const k = (args: string[], x: { timeoutMs?: number; env?: Record<string, string | undefined> } = {}) => runKseed(['--config', site, ...args], { cwd: root, timeoutMs: x.timeoutMs ?? 120_000, ...(x.env ? { env: x.env } : {}) });
  const art = path.join(root, 'artifacts');
  mkdirSync(art);
  // the simulator checks the ramdisk's length only; the image is written to the node's disk
  writeFileSync(path.join(art, 'vmlinuz'), randomBytes(MiB));
  writeFileSync(path.join(art, 'initramfs.gz'), randomBytes(MiB));
  const image = randomBytes(2 * MiB);
  writeFileSync(path.join(art, 'sim.raw'), image);
  const sum = createHash('sha256').update(image).digest('hex');
  const up = await k(['--json', 'lab', 'up', '--sim', String(o.nodes), '--name', o.lab, '--bmc-port-base', String(o.bmcBase), '--image-url', 'http://10.77.0.1:8080/artifacts/sim.raw', '--image-checksum', `sha256:${sum}`]);
  if (up.code !== 0) throw new Error(`lab up: ${up.stderr}`);
  const seed = await k(['--json', 'up', '--no-api', '--artifacts', art]);
  if (seed.code !== 0) throw new Error(`up: ${seed.stderr}`);
  return {
    root,
    site,
    k,
    /** The seed and the lab down, the directory gone; throws if the lab's namespaces stayed. */
    down: async () => {
      try {
        if (existsSync(site)) await k(['down']);
        const d = await k(['--json', 'lab', 'down', '--name', o.lab]);
        if (d.code !== 0) throw new Error(`lab down: ${d.stderr}`);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

const MiB = 1024 * 1024;
