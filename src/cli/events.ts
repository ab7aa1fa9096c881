/**
 * The event stream of CI mode (`--events`): one JSON object per line on
 * stdout (NDJSON), schema version 1, documented in README "CI mode". It is
 * the engine's progress stream (engine/types.ts ProgressEvent, the same one
 * the human progress lines print) with a run around it: a start, the
 * command's own progress lines, one result per node, and an end that
 * carries the exit code and the document `--json` prints (or the error).
 *
 * Pure: builds and encodes events, writes nothing.
 */
import type { ProgressEvent } from '../engine/types.js';
import { redact } from './output.js';

/** Bumped only when a field changes meaning or goes away; new fields and types keep 1. */
export const EVENTS_VERSION = 1;

export interface NodeResult {
  node: string;
  /** ok: done; failed: the node's error; skipped: nothing to do (already there, not in a state the verb applies to). */
  result: 'ok' | 'failed' | 'skipped';
  state: string;
  verbs: string[];
  ms: number;
  error?: string;
  note?: string;
}

export interface RunError {
  error: string;
  message: string;
  detail?: string;
  problems?: unknown[];
}

export type EventBody =
  | { type: 'run-start'; command: string; kseed: string }
  | { type: 'progress'; message: string }
  | { type: 'transition'; node: string; from?: string; to?: string; phase?: string; error?: string }
  | { type: 'step' | 'info'; node: string; phase?: string; message?: string; error?: string }
  | ({ type: 'node-result' } & NodeResult)
  | {
      type: 'run-end';
      command: string;
      exit_code: number;
      nodes: { total: number; ok: number; failed: number; skipped: number };
      result?: unknown;
      error?: RunError;
    };

export type KseedEvent = EventBody & { v: number; seq: number; ts: string };

/** The engine's progress event as the stream carries it (its clock, its fields). */
export function fromProgress(e: ProgressEvent): { ts: number; body: EventBody } {
  const opt = { ...(e.phase ? { phase: e.phase } : {}), ...(e.error ? { error: e.error } : {}) };
  const body: EventBody =
    e.kind === 'transition'
      ? { type: 'transition', node: e.node, ...(e.from ? { from: e.from } : {}), ...(e.to ? { to: e.to } : {}), ...opt }
      : { type: e.kind, node: e.node, ...(e.message ? { message: e.message } : {}), ...opt };
  return { ts: e.ts, body };
}

// user:password@ in a URL (an image behind basic auth) in any message
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+):[^\s/@]+@/gi;

/** Deep copy with secret-looking keys redacted (as --json) and passwords in URLs masked. */
export function scrub<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(URL_USERINFO, '$1:******@');
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(redact(value)) as T;
}

/** What a progress event says, as the human progress line says it: `available -> deploying (deploy)`, `boot: booted from disk as node01`. */
export function describeProgress(e: ProgressEvent): string {
  const what = e.kind === 'transition' ? `${e.from} -> ${e.to}${e.phase ? ` (${e.phase})` : ''}` : `${e.phase ? `${e.phase}: ` : ''}${e.message ?? ''}`;
  return `${what}${e.error ? `: ${e.error}` : ''}`;
}

/** Numbers the events of one run and encodes each as one line. */
export class EventEncoder {
  private seq = 0;

  event(body: EventBody, ts: number = Date.now()): KseedEvent {
    this.seq += 1;
    return { v: EVENTS_VERSION, seq: this.seq, ts: new Date(ts).toISOString(), ...scrub(body) };
  }

  /** One NDJSON line: JSON.stringify never emits a raw newline, so a line is always one event. */
  line(body: EventBody, ts?: number): string {
    return `${JSON.stringify(this.event(body, ts))}\n`;
  }
}
