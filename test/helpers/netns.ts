/**
 * Network namespaces for integration tests. Every namespace a test makes is
 * its own little network: nothing here touches the root namespace's
 * interfaces, so DHCP servers and clients never see a real network.
 *
 *   const net = await Lab.create('ksd-auth');          // namespace ksd-auth-s with bridge br0
 *   await net.bridge('br0', '10.91.0.1/24');
 *   const c = await net.client('c1', 'br0', '52:54:00:91:00:01');   // namespace ksd-auth-c1, eth0
 *   await c.exec('udhcpc', [...]);
 *   await net.destroy();                                // kills what runs inside, deletes them all
 *
 * Names: the caller's prefix must start with the area's prefix (ksd-, kst-,
 * ...); namespaces are `<prefix>-s` (server side) and `<prefix>-<client>`.
 */
import { type ChildProcess, execFile, spawn, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function nsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/** Kill every process still running inside `ns` (all were started by the test), then delete it. */
export async function deleteNetns(name: string): Promise<void> {
  if (!nsExists(name)) return;
  const pids = (await run('ip', ['netns', 'pids', name])).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  if (pids.length) {
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  await run('ip', ['netns', 'del', name]);
}

export class Netns {
  constructor(readonly name: string) {}

  static async create(name: string): Promise<Netns> {
    if (Buffer.byteLength(name) > 32) throw new Error(`netns name too long: ${name}`);
    if (nsExists(name)) await deleteNetns(name);
    await must('ip', ['netns', 'add', name]);
    await must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return new Netns(name);
  }

  ip(...args: string[]): Promise<string> {
    return must('ip', ['-n', this.name, ...args]);
  }

  exec(cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  }

  destroy(): Promise<void> {
    return deleteNetns(this.name);
  }
}

export interface Client {
  ns: Netns;
  /** Interface name inside the client namespace. */
  ifname: string;
  mac: string;
  exec: Netns['exec'];
  spawn: Netns['spawn'];
}

/** A server namespace with bridges, and client namespaces plugged into them by veth pairs. */
export class Lab {
  readonly clients: Client[] = [];
  private constructor(
    readonly prefix: string,
    readonly server: Netns,
  ) {}

  static async create(prefix: string): Promise<Lab> {
    return new Lab(prefix, await Netns.create(`${prefix}-s`));
  }

  /** A bridge in the server namespace, with the seed's address on it when `cidr` is given. */
  async bridge(name: string, cidr?: string): Promise<void> {
    await this.server.ip('link', 'add', name, 'type', 'bridge');
    // no STP forwarding delay: ports forward at once
    await this.server.ip('link', 'set', name, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
    if (cidr) await this.server.ip('addr', 'add', cidr, 'dev', name);
    await this.server.ip('link', 'set', name, 'up');
  }

  /** An interface in the server namespace itself, plugged into `bridge` (a second "host NIC" of the seed). */
  async serverPort(ifname: string, bridge: string, cidr?: string): Promise<void> {
    const peer = `${ifname}p`;
    await this.server.ip('link', 'add', ifname, 'type', 'veth', 'peer', 'name', peer);
    await this.server.ip('link', 'set', peer, 'master', bridge);
    await this.server.ip('link', 'set', peer, 'up');
    if (cidr) await this.server.ip('addr', 'add', cidr, 'dev', ifname);
    await this.server.ip('link', 'set', ifname, 'up');
  }

  /** A client namespace `<prefix>-<id>` whose `eth0` (with `mac`) is a port of `bridge`. */
  async client(id: string, bridge: string, mac: string, opts: { cidr?: string } = {}): Promise<Client> {
    const ns = await Netns.create(`${this.prefix}-${id}`);
    const hostSide = `v${id}`.slice(0, 15);
    await this.server.ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
    await this.server.ip('link', 'set', hostSide, 'master', bridge);
    await this.server.ip('link', 'set', hostSide, 'up');
    await ns.ip('link', 'set', 'eth0', 'address', mac);
    if (opts.cidr) await ns.ip('addr', 'add', opts.cidr, 'dev', 'eth0');
    await ns.ip('link', 'set', 'eth0', 'up');
    const c: Client = { ns, ifname: 'eth0', mac, exec: ns.exec.bind(ns), spawn: ns.spawn.bind(ns) };
    this.clients.push(c);
    return c;
  }

  async destroy(): Promise<void> {
    for (const c of this.clients) await c.ns.destroy();
    await this.server.destroy();
  }
}

/** Wait for a line matching `re` on a child's stdout (or fail after `timeoutMs`). */
export function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout waiting for ${re} (stdout: ${buf.slice(-500)} stderr: ${err.slice(-500)})`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (re.test(line)) {
          cleanup();
          resolve(line);
          return;
        }
      }
    };
    const onErr = (d: Buffer) => {
      err += d.toString();
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`process exited (${code}) before ${re}: ${err.slice(-1000)}`));
    };
    const cleanup = () => {
      clearTimeout(t);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}
