import { statSync } from 'node:fs';

/** Whether process `pid` runs in the named network namespace (same nsfs inode); false when either is gone. */
export function pidInNetns(pid: number, netns: string): boolean {
  try {
    const a = statSync(`/proc/${pid}/ns/net`);
    const b = statSync(`/run/netns/${netns}`);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}
