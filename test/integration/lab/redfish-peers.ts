/** Shared by the lab Redfish tests: the reference clients (sushy, curl) against a lab BMC, and an HTTP server inside the lab's netns. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const SUSHY = path.join(import.meta.dirname, 'redfish-sushy.py');
/** Debian's python3 (python3-sushy lives in its dist-packages). */
export const PYTHON = '/usr/bin/python3';
export const SUSHY_MODULE = '/usr/lib/python3/dist-packages/sushy/__init__.py';

export interface SushyView {
  auth: string;
  session: string | null;
  sessions: string[];
  power: string;
  target: string | null;
  enabled: string | null;
  mode: string | null;
  allowed_targets: string[];
  allowed_resets: string[];
  manufacturer: string;
  serial: string;
  uuid: string;
  media: { image: string | null; image_name: string | null; inserted: boolean; connected_via: string | null; media_types: string[] };
}

/**
 * One sushy operation (see redfish-sushy.py). requests lets REQUESTS_CA_BUNDLE
 * and CURL_CA_BUNDLE override a session's `verify`, so they are left out: sushy
 * then trusts exactly the lab's certificate.
 */
export async function sushy(port: number, ca: string, password: string, ...op: string[]): Promise<SushyView> {
  const { REQUESTS_CA_BUNDLE: _r, CURL_CA_BUNDLE: _c, ...env } = process.env;
  const { stdout } = await execFileP(PYTHON, [SUSHY, String(port), ca, ...op], { env: { ...env, RF_PASSWORD: password }, timeout: 120_000 });
  return JSON.parse(stdout) as SushyView;
}

/** The same, for an operation expected to fail: sushy's exception text. */
export async function sushyFails(port: number, ca: string, password: string, ...op: string[]): Promise<string> {
  try {
    await sushy(port, ca, password, ...op);
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
  throw new Error(`sushy ${op.join(' ')} succeeded`);
}

export interface CurlAnswer {
  status: number;
  headers: Record<string, string>;
  body: any;
}

/** curl with the lab's certificate pinned (no -k); `-u` or `-H` in `args` for credentials. */
export async function curl(url: string, ca: string, ...args: string[]): Promise<CurlAnswer> {
  const { stdout } = await execFileP('curl', ['-sS', '-i', '--cacert', ca, ...args, url], { timeout: 30_000 });
  const [head, ...rest] = stdout.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const status = Number(lines[0]!.split(' ')[1]);
  const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  const text = rest.join('\r\n\r\n');
  return { status, headers, body: text.trim() ? JSON.parse(text) : undefined };
}

/**
 * Python's http.server on the lab bridge address inside the lab netns: where
 * the seed serves images, and what the lab BMC fetches virtual media from.
 * Its request log (stderr) shows what was fetched.
 */
export function netnsHttpServer(netns: string, address: string, port: number, dir: string): { child: ChildProcess; log: () => string } {
  const child = spawn('ip', ['netns', 'exec', netns, PYTHON, '-m', 'http.server', String(port), '--bind', address, '--directory', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return { child, log: () => log };
}
