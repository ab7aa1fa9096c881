/**
 * Worker thread of the TFTP server: runs the transfers the main thread hands
 * it. Why: on loopback and fast LANs the per-datagram send syscall dominates,
 * and one event loop serializes it; workers let concurrent transfers use every core.
 * Protocol: main -> { type: 'start', id, params } | { type: 'abort', id? };
 *           worker -> { type: 'end', id, outcome } | { type: 'failed', id, message }.
 */
import { parentPort } from 'node:worker_threads';
import { runTransfer, type Running, type RunParams } from './run.js';

const running = new Map<number, Running>();

parentPort?.on('message', (m: { type: 'start'; id: number; params: RunParams } | { type: 'abort'; id?: number }) => {
  if (m.type === 'abort') {
    // Without an id: the server is closing, stop everything.
    if (m.id === undefined) for (const r of running.values()) r.abort();
    else running.get(m.id)?.abort();
    return;
  }
  runTransfer(m.params, (outcome) => {
    running.delete(m.id);
    parentPort?.postMessage({ type: 'end', id: m.id, outcome });
  }).then(
    (r) => running.set(m.id, r),
    (e: Error) => parentPort?.postMessage({ type: 'failed', id: m.id, message: e.message }),
  );
});
