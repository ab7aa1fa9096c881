import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { portsInTable, processTree } from '../../../src/util/procnet.js';
import { lastLines } from '../../../src/util/tail.js';

// rows as /proc/net/udp and /proc/net/tcp print them (proc(5)); ports are hex: 0043 = 67, 0045 = 69, 1F90 = 8080
const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 2192: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 830726 2 0000000032f10783 0
 2194: 0100BF0A:0045 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 830710 2 000000003052181d 0
 2300: 00000000:0FA3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999999 2 000000003052181d 0
`;
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100BF0A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 830711 1 0000000000000000 100 0 0 10 0
   1: 0100BF0A:1F90 6400BF0A:C350 01 00000000:00000000 00:00000000 00000000     0        0 830799 1 0000000000000000 20 4 30 10 -1
`;

describe('portsInTable', () => {
  it("finds the ports of the process's socket inodes only", () => {
    expect(portsInTable(UDP, new Set(['830726', '830710']), false)).toEqual([67, 69]);
    expect(portsInTable(UDP, new Set(['1']), false)).toEqual([]);
  });
  it('TCP: listening sockets only, not its connections', () => {
    expect(portsInTable(TCP, new Set(['830711', '830799']), true)).toEqual([8080]);
  });
});

describe('processTree', () => {
  it('a process and the ones below it (a shell and its sleep), not another process', async () => {
    const sh = spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const other = spawn('sleep', ['30']);
    let child = 0;
    try {
      child = Number(await new Promise<string>((r) => sh.stdout.once('data', (d) => r(String(d).trim()))));
      const tree = processTree(sh.pid!);
      expect(tree).toEqual([sh.pid, child]);
      expect(tree).not.toContain(other.pid);
      expect(processTree(child)).toEqual([child]);
    } finally {
      if (child) process.kill(child, 'SIGKILL');
      sh.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });
});

describe('lastLines', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kst-tail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('the last n lines, with or without a final newline', () => {
    expect(lastLines(file('a', 'one\ntwo\nthree\n'), 2)).toBe('two\nthree');
    expect(lastLines(file('b', 'one\ntwo\nthree'), 2)).toBe('two\nthree');
    expect(lastLines(file('c', 'one\n'), 5)).toBe('one');
    expect(lastLines(file('d', ''), 5)).toBe('');
    expect(lastLines(file('e', 'x\n'), 0)).toBe('');
  });

  it('reads across 64 KiB chunks and keeps multi-byte characters whole', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'é'.repeat(20)}`);
    const f = file('big', `${lines.join('\n')}\n`);
    expect(lastLines(f, 3000)).toBe(lines.slice(-3000).join('\n'));
    expect(lastLines(f, 1)).toBe(lines[4999]);
  });
});
