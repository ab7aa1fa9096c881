/**
 * The seed service as a user runs it: `kseed serve` in its own process on a
 * fixed loopback port, a site file of N nodes (BMCs never contacted), tokens
 * made by `kseed token create`, and requests over real sockets.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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
