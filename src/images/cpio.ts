/**
 * A tiny writer for the "newc" cpio format the kernel unpacks as initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): 110-byte
 * ASCII-hex header, NUL-terminated name, both padded to 4 bytes, then data
 * padded to 4. Written here instead of calling cpio(1) so that device nodes
 * (/dev/console) need no root mknod, and so the archive is byte-identical
 * for identical inputs (mtime 0, uid 0, sorted entries, sequential inodes).
 */

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

interface Entry {
  mode: number;
  data: Buffer;
  rdevMajor: number;
  rdevMinor: number;
}

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function clean(name: string): string {
  const n = name.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!n || n.split('/').some((p) => p === '..' || p === '.' || p === '')) throw new Error(`bad cpio path: ${name}`);
  return n;
}

export class CpioArchive {
  private readonly entries = new Map<string, Entry>();

  private put(name: string, e: Entry): void {
    const n = clean(name);
    const parts = n.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      const existing = this.entries.get(dir);
      if (!existing) this.entries.set(dir, { mode: S_IFDIR | 0o755, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 });
      else if ((existing.mode & 0o170000) !== S_IFDIR) throw new Error(`cpio: ${dir} is not a directory`);
    }
    this.entries.set(n, e);
  }

  dir(name: string, perm = 0o755): this {
    this.put(name, { mode: S_IFDIR | perm, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 });
    return this;
  }

  file(name: string, data: Buffer | string, perm = 0o644): this {
    this.put(name, { mode: S_IFREG | perm, data: Buffer.from(data), rdevMajor: 0, rdevMinor: 0 });
    return this;
  }

  symlink(name: string, target: string): this {
    this.put(name, { mode: S_IFLNK | 0o777, data: Buffer.from(target), rdevMajor: 0, rdevMinor: 0 });
    return this;
  }

  charDev(name: string, major: number, minor: number, perm = 0o600): this {
    this.put(name, { mode: S_IFCHR | perm, data: Buffer.alloc(0), rdevMajor: major, rdevMinor: minor });
    return this;
  }

  get size(): number {
    return this.entries.size;
  }

  toBuffer(): Buffer {
    const chunks: Buffer[] = [];
    let offset = 0;
    const push = (b: Buffer) => {
      chunks.push(b);
      offset += b.length;
    };
    const pad = () => {
      const r = offset % 4;
      if (r) push(Buffer.alloc(4 - r));
    };
    const record = (ino: number, name: string, e: Entry) => {
      const nameBuf = Buffer.from(`${name}\0`);
      const isDir = (e.mode & 0o170000) === S_IFDIR;
      const header =
        '070701' +
        [ino, e.mode, 0, 0, isDir ? 2 : 1, 0, e.data.length, 0, 0, e.rdevMajor, e.rdevMinor, nameBuf.length, 0].map(hex8).join('');
      push(Buffer.from(header, 'ascii'));
      push(nameBuf);
      pad();
      if (e.data.length) {
        push(e.data);
        pad();
      }
    };
    // Sorted names put every directory before its contents ("a" < "a/b").
    const names = [...this.entries.keys()].sort();
    names.forEach((n, i) => record(i + 1, n, this.entries.get(n)!));
    record(0, 'TRAILER!!!', { mode: 0, data: Buffer.alloc(0), rdevMajor: 0, rdevMinor: 0 });
    return Buffer.concat(chunks);
  }
}
