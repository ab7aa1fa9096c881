/**
 * The simulator process of a lab (`kseed lab up --sim N` starts it
 * detached): every simulated node of the lab in one Node process. A node's
 * power is its `power` file, which the node's BMC (ipmi_sim's chassis
 * program, chassis.ts) writes; this process follows it: a power on starts
 * that node's boot (boot.ts), a power off aborts it wherever it is. Each
 * node's progress goes to `sim.json` in its directory (phases with times,
 * request counts), which `lab status` and bench/fleet read.
 *
 * Usage: node daemon.js <lab dir>
 */
import { existsSync, readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseManifest } from '../manifest.js';
import { SimBoot, type CounterKind, type SimRecorder } from './boot.js';
import { readPower, simSpecs } from './spec.js';
import { readNodeFaults, SimClientDied } from './faults.js';
import type { SimNodeSpec } from './hardware.js';

export interface SimNodeStatus {
  node: string;
  mac: string;
  power: 'on' | 'off';
  /** Power-ons seen (generations of the power file). */
  powerOns: number;
  phase: string;
  phases: { phase: string; at: number; detail?: string }[];
  counts: Record<CounterKind, number>;
  errors: string[];
  updatedAt: number;
}

function readBootdev(dir: string): string {
  try {
    return readFileSync(path.join(dir, 'boot'), 'utf8').trim() || 'none';
  } catch {
    return 'none';
  }
}

/** At most this many phase records per node, so a node in a boot loop cannot grow memory. */
const MAX_PHASES = 200;

class SimNode implements SimRecorder {
  private ac: AbortController | undefined;
  private gen = -1;
  private dirty = false;
  readonly status: SimNodeStatus;

  constructor(readonly spec: SimNodeSpec) {
    this.status = { node: spec.name, mac: spec.mac, power: 'off', powerOns: 0, phase: 'off', phases: [], counts: { dhcp: 0, tftp: 0, http: 0, bytes: 0 }, errors: [], updatedAt: Date.now() };
  }

  phase(name: string, detail?: string): void {
    this.status.phase = name;
    this.status.phases.push({ phase: name, at: Date.now(), ...(detail ? { detail } : {}) });
    if (this.status.phases.length > MAX_PHASES) this.status.phases.splice(0, this.status.phases.length - MAX_PHASES);
    this.dirty = true;
  }

  count(kind: CounterKind, n = 1): void {
    this.status.counts[kind] += n;
    this.dirty = true;
  }

  /** Follows the power file: on with a new generation (on, or a reset) starts a boot; off stops it. */
  follow(): void {
    const p = readPower(path.join(this.spec.dir, 'power'));
    if (p.on && p.gen !== this.gen) this.start(p.gen);
    else if (!p.on && this.ac) this.stop('power off');
  }

  private start(gen: number): void {
    this.stop('power cycle');
    this.gen = gen;
    const ac = new AbortController();
    this.ac = ac;
    this.status.power = 'on';
    this.status.powerOns++;
    this.phase('power-on');
    const boot = new SimBoot(this.spec, ac.signal, this, () => readBootdev(this.spec.dir), readNodeFaults(this.spec.dir));
    boot
      .run()
      .then(async (outcome) => {
        if (ac.signal.aborted) return;
        if (outcome === 'poweroff') {
          this.phase('poweroff');
          await boot.release();
          // the machine turned itself off: the BMC must say so (unless it was powered on again meanwhile)
          const now = readPower(path.join(this.spec.dir, 'power'));
          if (now.gen === gen) writeAtomic(path.join(this.spec.dir, 'power'), '0\n');
          this.status.power = 'off';
          this.ac = undefined;
        } else this.phase('idle');
      })
      .catch(async (e: Error) => {
        if (ac.signal.aborted) return;
        this.status.errors.push(`${new Date().toISOString()} ${this.status.phase}: ${e.message}`);
        if (this.status.errors.length > 20) this.status.errors.shift();
        // a real machine whose boot failed sits there until the BMC acts
        this.phase(e instanceof SimClientDied ? 'died' : 'hung', e.message);
      });
  }

  private stop(why: string): void {
    if (!this.ac) return;
    this.ac.abort(new Error(why));
    this.ac = undefined;
    this.status.power = 'off';
    this.phase('off', why);
    void new SimBoot(this.spec, new AbortController().signal, this, () => 'none').release();
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.status.updatedAt = Date.now();
    writeAtomic(path.join(this.spec.dir, 'sim.json'), `${JSON.stringify(this.status)}\n`);
  }

  shutdown(): void {
    this.stop('simulator stopped');
    this.flush();
  }
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

export function runDaemon(labDir: string): void {
  const m = parseManifest(readFileSync(path.join(labDir, 'manifest.json'), 'utf8'));
  const nodes = simSpecs(m).map((s) => new SimNode(s));
  writeAtomic(path.join(labDir, 'sim.pid'), `${process.pid}\n`);
  for (const n of nodes) {
    n.follow();
    // inotify for promptness; the periodic pass below catches anything it misses
    if (existsSync(n.spec.dir)) watch(n.spec.dir, (_ev, f) => f === 'power' && n.follow()).on('error', () => undefined);
  }
  const tick = setInterval(() => {
    for (const n of nodes) {
      n.follow();
      n.flush();
    }
  }, 250);
  const end = () => {
    clearInterval(tick);
    for (const n of nodes) n.shutdown();
    // give the address flushes a moment, then go
    setTimeout(() => process.exit(0), 300).unref();
  };
  process.on('SIGTERM', end);
  process.on('SIGINT', end);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: daemon.js <lab dir>\n');
    process.exit(2);
  }
  runDaemon(path.resolve(dir));
}
