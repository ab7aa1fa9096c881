/**
 * The boot services' counters between processes: `kseed boot serve` (often
 * inside seed.netns, always its own process) writes a snapshot of its
 * DHCP/TFTP/HTTP counters (boot/counters.ts) to .kseed/run/boot-counters.json
 * every COUNTERS_EVERY_MS while they change, and once more when it stops;
 * the seed service reads it at each scrape of /metrics.
 *
 * Why a file and not the log: the log is noise-limited (a flood is logged
 * as its first lines and a summary) and is only ever read by its tail, so
 * counting its lines would undercount exactly when it matters. Why not the
 * state store: a write per datagram would put the store's lock in DHCP's
 * hot path. The file is replaced by rename (POSIX rename(2) is atomic): a
 * reader sees the old snapshot or the new one, never half of one.
 * The counters start at zero with each run of the boot services, which
 * Prometheus reads as a counter reset; the snapshot says when that run
 * started (a reset is also visible in that timestamp).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BootCounterSnapshot, Counts } from '../boot/counters.js';

export const COUNTERS_EVERY_MS = 2000;

export const countersFileOf = (stateDir: string) => path.join(stateDir, 'run', 'boot-counters.json');

export interface CountersFile extends BootCounterSnapshot {
  pid: number;
  /** ISO time the boot services started: their counters count from there. */
  started_at: string;
  written_at: string;
}

/** Writes the snapshot whole or not at all. */
export function writeCountersFile(stateDir: string, f: CountersFile): void {
  const file = countersFileOf(stateDir);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(f)}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

const LABEL = /^[a-z0-9_-]{1,32}$/;
const count = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
/** A map of counts from the file, keeping only label-safe keys and whole non-negative numbers. */
function counts(v: unknown): Counts {
  const out: Counts = {};
  if (v && typeof v === 'object') for (const [k, n] of Object.entries(v)) if (LABEL.test(k)) out[k] = count(n);
  return out;
}

/** The last snapshot, or undefined when the boot services never ran here (or the file is not one of ours). */
export function readCountersFile(stateDir: string): CountersFile | undefined {
  let j: Record<string, any>;
  try {
    j = JSON.parse(readFileSync(countersFileOf(stateDir), 'utf8'));
  } catch {
    return undefined;
  }
  if (!j || typeof j !== 'object' || typeof j.started_at !== 'string' || Number.isNaN(Date.parse(j.started_at))) return undefined;
  return {
    pid: count(j.pid),
    started_at: j.started_at,
    written_at: String(j.written_at ?? ''),
    dhcp: { received: counts(j.dhcp?.received), sent: counts(j.dhcp?.sent), ignored: counts(j.dhcp?.ignored) },
    tftp: { started: count(j.tftp?.started), completed: count(j.tftp?.completed), failed: counts(j.tftp?.failed), refused: count(j.tftp?.refused), bytes: count(j.tftp?.bytes) },
    http: { requests: counts(j.http?.requests), bytes: count(j.http?.bytes) },
  };
}
