/**
 * The last lines of a file, read backwards in chunks until enough newlines
 * are seen, so a long log costs only what is printed.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK = 64 * 1024;

/** The last `n` lines of `file` ('' for n = 0 or an empty file), without the final newline. */
export function lastLines(file: string, n: number): string {
  if (n <= 0) return '';
  const fd = openSync(file, 'r');
  try {
    let pos = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let newlines = 0;
    // n + 1 newlines (one may end the file) put the cut before the first wanted line,
    // so a chunk that starts mid-line or mid-character only spoils a line that is dropped
    while (pos > 0 && newlines <= n + 1) {
      const len = Math.min(CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      chunks.unshift(buf);
      for (const b of buf) if (b === 0x0a) newlines++;
    }
    return Buffer.concat(chunks).toString('utf8').replace(/\n$/, '').split('\n').slice(-n).join('\n');
  } finally {
    closeSync(fd);
  }
}
