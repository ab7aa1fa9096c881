/**
 * The deploy ramdisk of a simulated node, as templates/ramdisk/init runs it
 * (docs/AGENT-API.md v1): DHCP, inventory, the task loop, and for a deploy
 * the image streamed and hashed on the way into the node's disk (a sparse
 * file: runs of zeros are skipped, not written), checked against
 * IMAGE_CHECKSUM before the digest is reported. Ends in the power action the
 * task asks for.
 */
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeSync, writeFileSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { SIM_DISK_DEVICE, simInventory } from './hardware.js';
import type { SimBoot } from './boot.js';
import { simHttp } from './http-client.js';
import { SimClientDied, spendNodeFault } from './faults.js';

export type PowerAction = 'reboot' | 'poweroff';

export interface RamdiskArgs {
  url: string;
  node: string;
  token: string;
  mac: string;
}

/** What the simulated "disk" remembers of its deploy: the bootloader's and the OS's view of it. */
export interface DiskLabel {
  url: string;
  node: string;
  token: string;
  digest: string;
  /** SHA-256 of the bytes written (after decompression): what a disk boot reads back. */
  written: string;
  imageBytes: number;
  /** The user-data the seed gave it (what its first boot's cloud-init would apply). */
  userData: string;
}

export function diskLabelFile(diskFile: string): string {
  return `${diskFile}.kseed.env`;
}

function parseTask(text: string): Record<string, string> {
  const t: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) t[line.slice(0, i)] = line.slice(i + 1);
  }
  return t;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });

const ZERO = Buffer.alloc(64 * 1024);

/** Where a die-mid-deploy node freezes: past the first MiB, so the disk holds a part of the image. */
const DIE_AFTER = 1024 * 1024;

/** Writes `chunk` at `pos`, leaving holes for all-zero 64 KiB blocks (dd conv=sparse). */
function writeSparse(fd: number, chunk: Buffer, pos: number): void {
  for (let off = 0; off < chunk.length; off += ZERO.length) {
    const piece = chunk.subarray(off, off + ZERO.length);
    if (piece.length === ZERO.length && piece.equals(ZERO)) continue;
    if (piece.length < ZERO.length && piece.equals(ZERO.subarray(0, piece.length))) continue;
    writeSync(fd, piece, 0, piece.length, pos + off);
  }
}

export async function runRamdisk(b: SimBoot, a: RamdiskArgs): Promise<PowerAction> {
  const auth = { authorization: `Bearer ${a.token}` };
  const api = async (path: string, o: { method?: 'GET' | 'POST'; body?: string; type?: string } = {}) => {
    b.count('http');
    const r = await simHttp({
      netns: b.spec.netns,
      url: `${a.url}${path}`,
      method: o.method ?? 'GET',
      headers: { ...auth, ...(o.type ? { 'content-type': o.type } : {}) },
      ...(o.body !== undefined ? { body: o.body } : {}),
      signal: b.signal,
    });
    if (r.status >= 300) throw new Error(`${o.method ?? 'GET'} ${path}: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`);
    return r.body.toString();
  };
  /** As init's loops: inventory and task 10 tries 3 s apart, result 5 tries 2 s apart; then it gives up. */
  const retry = async <T>(tries: number, gapMs: number, fn: () => Promise<T>): Promise<T> => {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (e) {
        if (i >= tries || b.signal.aborted) throw e;
        await sleep(gapMs, b.signal);
      }
    }
  };
  const form = (f: Record<string, string>) => new URLSearchParams(f).toString();
  const result = (status: 'ok' | 'fail', stage: string, msg: string, digest?: string) =>
    retry(5, 2000, () => api(`/v1/agent/${a.node}/result`, { method: 'POST', type: 'application/x-www-form-urlencoded', body: form({ status, stage, msg, ...(digest ? { digest } : {}) }) }));

  await b.osDhcp('ramdisk');
  b.phase('inventory');
  await retry(10, 3000, () => api(`/v1/agent/${a.node}/inventory`, { method: 'POST', type: 'application/json', body: JSON.stringify(simInventory(b.spec)) }));
  let since = Date.now();
  for (;;) {
    const t = parseTask(await retry(10, 3000, () => api(`/v1/agent/${a.node}/task`)));
    const after = (dflt: '0' | '1'): PowerAction => ((t.REBOOT ?? dflt) === '1' ? 'reboot' : 'poweroff');
    switch (t.TASK) {
      case 'none':
        if (Date.now() - since > 900_000) {
          await result('fail', 'wait', 'no task after 900s');
          return 'poweroff';
        }
        await sleep(1000, b.signal);
        continue;
      case 'inspect':
        await result('ok', 'inspect', 'inventory posted');
        b.phase('inspected');
        if (t.WAIT === '1') {
          since = Date.now();
          continue;
        }
        return 'poweroff';
      case 'deploy':
        return deploy(b, a, t, api, result);
      case 'wipe': {
        b.phase('wipe');
        // metadata only, as the ramdisk does: both ends of the disk
        const fd = openSync(b.spec.diskFile, 'a');
        closeSync(fd);
        const w = openSync(b.spec.diskFile, 'r+');
        try {
          ftruncateSync(w, 0);
          ftruncateSync(w, b.spec.diskBytes);
        } finally {
          closeSync(w);
        }
        writeFileSync(diskLabelFile(b.spec.diskFile), '');
        await result('ok', 'wipe', `metadata of /dev/${SIM_DISK_DEVICE} erased`);
        return after('0');
      }
      case 'fail':
        await result('fail', 'task', t.REASON ?? 'the seed refused the task');
        return 'poweroff';
      default:
        await result('fail', 'task', `unknown TASK ${t.TASK ?? '(none)'}`);
        return 'poweroff';
    }
  }
}

async function deploy(
  b: SimBoot,
  a: RamdiskArgs,
  t: Record<string, string>,
  api: (path: string, o?: { method?: 'GET' | 'POST'; body?: string; type?: string }) => Promise<string>,
  result: (status: 'ok' | 'fail', stage: string, msg: string, digest?: string) => Promise<string>,
): Promise<PowerAction> {
  b.phase('deploy');
  const target = t.TARGET_DISK ?? '';
  if (target !== `/dev/${SIM_DISK_DEVICE}`) {
    await result('fail', 'deploy', `TARGET_DISK ${target || '(none)'} is not the disk the hint may select on this machine`);
    return 'poweroff';
  }
  const comp = t.IMAGE_COMPRESSION ?? 'none';
  if (comp !== 'none' && comp !== 'gzip') {
    await result('fail', 'deploy', `decompress/write failed (${comp}): the simulator decompresses none and gzip`);
    return 'poweroff';
  }
  const url = t.IMAGE_URL ?? '';
  const want = (t.IMAGE_CHECKSUM ?? '').replace(/^sha256:/, '').toLowerCase();
  await api(`/v1/agent/${a.node}/progress`, { method: 'POST', type: 'application/x-www-form-urlencoded', body: `stage=deploy&pct=0&msg=${encodeURIComponent(`writing ${url}`)}` });
  const hash = createHash('sha256');
  const written = createHash('sha256');
  const fd = openSync(b.spec.diskFile, 'a');
  closeSync(fd);
  const disk = openSync(b.spec.diskFile, 'r+');
  let pos = 0;
  let err: string | undefined;
  // fault die-mid-deploy: the machine freezes with part of the image on its disk, once
  const dies = b.faults.has('die-mid-deploy');
  let froze: SimClientDied | undefined;
  const died = () => {
    spendNodeFault(b.spec.dir, 'die-mid-deploy');
    froze ??= new SimClientDied(`fault die-mid-deploy: froze after ${pos} bytes of ${url}`);
    return Promise.reject(froze);
  };
  try {
    ftruncateSync(disk, b.spec.diskBytes);
    const gunzip = comp === 'gzip' ? createGunzip() : undefined;
    gunzip?.on('data', (c: Buffer) => {
      written.update(c);
      writeSparse(disk, c, pos);
      pos += c.length;
    });
    b.count('http');
    const r = await simHttp({
      netns: b.spec.netns,
      url,
      // the token goes only to the seed (docs/AGENT-API.md "Agent token" 6)
      headers: url.startsWith(`${a.url}/`) ? { authorization: `Bearer ${a.token}` } : {},
      timeoutMs: 60_000,
      signal: b.signal,
      onData: (c) => {
        if (dies && pos >= DIE_AFTER) return died();
        hash.update(c);
        if (gunzip) {
          if (!gunzip.write(c)) return new Promise<void>((r2) => gunzip.once('drain', () => r2()));
          return undefined;
        }
        written.update(c);
        writeSparse(disk, c, pos);
        pos += c.length;
        return undefined;
      },
    });
    if (gunzip) await new Promise<void>((resolve, reject) => gunzip.end(() => resolve()).once('error', reject));
    if (r.status !== 200) err = `download failed: HTTP ${r.status}`;
  } catch (e) {
    // however the aborted download ended, the frozen machine says nothing more
    if (froze) throw froze;
    err = `download failed: ${(e as Error).message}`;
  } finally {
    closeSync(disk);
  }
  const got = hash.digest('hex');
  if (!err && got !== want) err = `checksum mismatch: got sha256:${got} want sha256:${want}`;
  if (err) {
    // a half-written or unverified disk must never boot
    const w = openSync(b.spec.diskFile, 'r+');
    ftruncateSync(w, 0);
    closeSync(w);
    await result('fail', 'deploy', `${err}; disk wiped`);
    return 'poweroff';
  }
  b.count('bytes', pos);
  // the NoCloud files the real agent copies to the image's CIDATA partition; the user-data is kept, as cloud-init reads it at first boot
  await api(`/v1/nocloud/${a.node}/meta-data`);
  const userData = await api(`/v1/nocloud/${a.node}/user-data`);
  const label: DiskLabel = { url: a.url, node: a.node, token: a.token, digest: got, written: written.digest('hex'), imageBytes: pos, userData };
  writeFileSync(diskLabelFile(b.spec.diskFile), JSON.stringify(label), { mode: 0o600 });
  await result('ok', 'deploy', `sha256:${got} written to /dev/${SIM_DISK_DEVICE}`, `sha256:${got}`);
  b.phase('deployed');
  return (t.REBOOT ?? '1') === '1' ? 'reboot' : 'poweroff';
}
