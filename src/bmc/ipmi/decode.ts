/** How the IPMI codecs fail: a malformed or truncated answer is one BMC's error, never a crash. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export function need(buf: Buffer, len: number, what: string): void {
  if (buf.length < len) throw new DecodeError(`${what}: truncated (${buf.length} of ${len} bytes)`);
}
