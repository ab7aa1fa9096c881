import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
// the same ipmi_sim harness the benchmark uses (plain JS so bench/ can run it from dist)
import { startBmc, tempRoot, writeBmc } from '../../../../bench/ipmi-fleet/ipmisim.mjs';

export { startBmc, tempRoot, writeBmc };

export interface SimBmc {
  dir: string;
  guid: string;
  address: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
  power(): string;
  bootFile(): string | undefined;
}

const run = promisify(execFile);

/** The reference client against the same BMC: always -C 3 (no -C costs 10 s on ipmi_sim). */
export async function ipmitool(b: { address: string; port: number }, ...args: string[]): Promise<string> {
  const { stdout, stderr } = await run(
    'ipmitool',
    ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '2', '-H', b.address, '-p', String(b.port), '-U', 'admin', '-P', 'password', ...args],
    { timeout: 20_000 },
  );
  // ipmitool sometimes exits 0 on failure (lab.md): treat its error words as failure
  if (/failed|Error/.test(stderr) && !/HPM|VSO|PICMG/.test(stderr)) throw new Error(`ipmitool ${args.join(' ')}: ${stderr}`);
  return stdout;
}

export function field(text: string, name: string): string | undefined {
  const m = new RegExp(`^\\s*${name.replace(/[()]/g, '\\$&')}\\s*:\\s*(.*)$`, 'm').exec(text);
  return m?.[1]?.trim();
}

/** A "BMC" that receives and never answers: the dead-node case. */
export async function blackHole(address: string, port: number): Promise<{ received: () => number; close: () => void }> {
  const s = dgram.createSocket('udp4');
  let n = 0;
  s.on('message', () => {
    n += 1;
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => resolve());
  });
  return { received: () => n, close: () => s.close() };
}

/** A "BMC" that answers every packet with garbage of the same length. */
export async function garbage(address: string, port: number): Promise<() => void> {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, r) => {
    const junk = Buffer.from(msg);
    for (let i = 0; i < junk.length; i++) junk[i] = (junk[i]! * 31 + i) & 0xff;
    // keep the RMCP header so the answer reaches the session decoder
    junk[0] = 0x06;
    junk[3] = 0x07;
    s.send(junk, r.port, r.address);
  });
  await new Promise<void>((resolve) => s.bind(port, address, () => resolve()));
  return () => s.close();
}

/** A "BMC" that answers every datagram with the same bytes, whatever they are (a web server, a printer). */
export async function answersWith(address: string, port: number, reply: Buffer): Promise<() => void> {
  const s = dgram.createSocket('udp4');
  s.on('message', (_msg, r) => s.send(reply, r.port, r.address));
  await new Promise<void>((resolve) => s.bind(port, address, () => resolve()));
  return () => s.close();
}
