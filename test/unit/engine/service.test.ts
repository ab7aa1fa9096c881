/**
 * The boot-service manager with a stand-in server script (no sockets): pid
 * file, log, readiness from the `listening` line, stop by PID, and a pid
 * file that names some other process is never trusted.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync } from 'node:fs';
import { bootServicePid, LogFollower, logFileOf, pidFileOf, startBootService, stopBootService } from '../../../src/engine/service.js';

describe('boot service manager', () => {
  let dir: string;
  let script: string;
  let config: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kse-svc-'));
    config = path.join(dir, 'kseed.yaml');
    writeFileSync(config, 'site: x\n');
    script = path.join(dir, 'fake-serve.mjs');
  });
  afterEach(async () => {
    await stopBootService(path.join(dir, '.kseed'));
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (body: string) => writeFileSync(script, body);
  const stateDir = () => path.join(dir, '.kseed');

  it('starts detached, is ready when it says listening, runs once, stops by PID', async () => {
    write(`
      console.log('starting ' + process.argv.slice(2).join(' '));
      setTimeout(() => console.log(JSON.stringify({ service: 'serve', type: 'listening', http: { port: 8080 } })), 200);
      process.on('SIGTERM', () => { console.log('stopped'); process.exit(0); });
      setInterval(() => {}, 1000);
    `);
    const info = await startBootService({ stateDir: stateDir(), configPath: config, command: [process.execPath, script], artifacts: '/srv/a' });
    expect(info).toMatchObject({ already: false, listening: { http: { port: 8080 } } });
    expect(readFileSync(pidFileOf(stateDir()), 'utf8').trim()).toBe(String(info.pid));
    expect(readFileSync(logFileOf(stateDir()), 'utf8')).toContain(`starting --config ${config} --json boot serve --artifacts /srv/a`);
    expect(bootServicePid(stateDir(), config)).toBe(info.pid);
    // a second up finds it
    const again = await startBootService({ stateDir: stateDir(), configPath: config, command: [process.execPath, script] });
    expect(again).toMatchObject({ already: true, pid: info.pid });
    const stop = await stopBootService(stateDir(), config);
    expect(stop).toMatchObject({ stopped: true, pid: info.pid, forced: false });
    expect(existsSync(pidFileOf(stateDir()))).toBe(false);
    expect(readFileSync(logFileOf(stateDir()), 'utf8')).toContain('stopped');
    expect(await stopBootService(stateDir(), config)).toEqual({ stopped: false });
  });

  it('reads a log by byte offsets: multi-byte text before and a character cut between writes change nothing', () => {
    const log = path.join(dir, 'x.log');
    // an earlier run logged 1,000 non-ASCII characters (3,000 bytes)
    writeFileSync(log, `${JSON.stringify({ file: '\ufffd'.repeat(1000) })}\n`);
    const f = new LogFollower(log, readFileSync(log).length);
    expect(f.lines()).toEqual([]);
    const rec = Buffer.from(`${JSON.stringify({ service: 'serve', type: 'listening', name: 'é' })}\n`);
    const cut = rec.indexOf(Buffer.from('é')) + 1; // inside the 2-byte "é"
    appendFileSync(log, rec.subarray(0, cut));
    expect(f.lines()).toEqual([]);
    appendFileSync(log, rec.subarray(cut));
    expect(f.lines().map((l) => JSON.parse(l))).toEqual([{ service: 'serve', type: 'listening', name: 'é' }]);
    // nothing read twice
    expect(f.lines()).toEqual([]);
  });

  it('is ready after a log of earlier runs full of non-ASCII bytes', async () => {
    mkdirSync(path.join(stateDir(), 'logs'), { recursive: true });
    writeFileSync(logFileOf(stateDir()), `${JSON.stringify({ service: 'tftp', file: '\ufffd'.repeat(1000) })}\n`);
    write(`
      console.log(JSON.stringify({ service: 'serve', type: 'listening', http: { port: 8081 } }));
      process.on('SIGTERM', () => process.exit(0));
      setInterval(() => {}, 1000);
    `);
    const info = await startBootService({ stateDir: stateDir(), configPath: config, command: [process.execPath, script], readyTimeoutMs: 5000 });
    expect(info).toMatchObject({ already: false, listening: { http: { port: 8081 } } });
  });

  it('a server that exits before listening fails up with its log tail', async () => {
    write(`console.error('boot services did not start: address in use'); process.exit(1);`);
    const p = startBootService({ stateDir: stateDir(), configPath: config, command: [process.execPath, script] });
    await expect(p).rejects.toThrow(/boot services did not start \(exit code 1\)/);
    await p.catch((e) => expect(e.detail).toContain('address in use'));
    expect(existsSync(pidFileOf(stateDir()))).toBe(false);
  });

  it('a pid file naming another process is stale: never signalled, removed', () => {
    const f = pidFileOf(stateDir());
    rmSync(path.dirname(f), { recursive: true, force: true });
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, `${process.pid}\n`);
    expect(bootServicePid(stateDir(), config)).toBeUndefined();
    expect(existsSync(f)).toBe(false);
  });
});
