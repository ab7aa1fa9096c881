/** Ironic's words and kseed's, both ways: lifecycle states, root-device hints. Pure. */
import type { ProvisionState } from '../ironic/index.js';
import type { RootDeviceHint } from '../site/types.js';
import type { NodeState } from './lifecycle.js';

/** Ironic states to kseed's lifecycle words (kseed has no cleaning: it stays short of available). */
export function kseedStateOf(s: ProvisionState): NodeState {
  switch (s) {
    case 'enroll':
    case 'verifying':
      return 'enroll';
    case 'manageable':
    case 'cleaning':
    case 'clean wait':
    case 'clean failed':
      return 'manageable';
    case 'inspecting':
    case 'inspect wait':
      return 'inspecting';
    case 'inspect failed':
      return 'inspect failed';
    case 'available':
    case null:
      return 'available';
    case 'deploying':
    case 'wait call-back':
    case 'rebuild':
      return 'deploying';
    case 'active':
      return 'active';
    case 'deleting':
      return 'deleting';
    default:
      return 'deploy failed';
  }
}

/**
 * Ironic's root device hints (ironic-lib 5.3 VALID_ROOT_DEVICE_HINTS): size
 * in GiB, with oslo specs_matcher operators. A size range has no operator
 * there (no <range-in>): the lower bound is kept and `partial` says the
 * upper one is lost (kseed's own ramdisk still applies the whole hint).
 */
export function ironicRootDevice(h: RootDeviceHint | undefined): { hint: Record<string, unknown>; partial: boolean } | undefined {
  if (!h) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of ['name', 'model', 'vendor', 'serial', 'wwn', 'hctl', 'by_path', 'rotational'] as const) if (h[k] !== undefined) out[k] = h[k];
  const s = h.size_gb;
  let partial = false;
  if (typeof s === 'number') out.size = s;
  else if (s?.min !== undefined) {
    out.size = `>= ${s.min}`;
    partial = s.max !== undefined;
  } else if (s?.max !== undefined) out.size = `<= ${s.max}`;
  return { hint: out, partial };
}
