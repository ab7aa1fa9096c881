/**
 * Typed errors with the exit codes kseed documents (README "Exit codes").
 * Every error carries a short message (what failed) and an optional detail
 * (stderr, the raw answer) that is shown with --verbose and in --json.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class KseedError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly detail?: string;
  readonly code: string;
  constructor(message: string, opts: { exitCode?: ExitCodeValue; detail?: string; code?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KseedError';
    this.exitCode = opts.exitCode ?? ExitCode.failure;
    this.detail = opts.detail;
    this.code = opts.code ?? 'failure';
  }
  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...(this.detail ? { detail: this.detail } : {}) };
  }
}

/** Bad input: site file, profile, command line. Exit code 2. */
export class InputError extends KseedError {
  readonly problems: Problem[];
  constructor(message: string, problems: Problem[] = [], opts: { detail?: string; code?: string } = {}) {
    super(message, { exitCode: ExitCode.usage, code: opts.code ?? 'bad-input', detail: opts.detail });
    this.name = 'InputError';
    this.problems = problems;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), problems: this.problems };
  }
}

/** One problem in an input file: `file:line:col path: message`. */
export interface Problem {
  file: string;
  line?: number;
  col?: number;
  /** Field path in the file, e.g. `nodes[2].macs[0]`. */
  path?: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}:${p.col ?? 1}` : p.file;
  return p.path ? `${where} ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** Some nodes failed, others succeeded. Exit code 3. */
export class PartialFailure extends KseedError {
  constructor(message: string, detail?: string) {
    super(message, { exitCode: ExitCode.partial, code: 'partial', detail });
    this.name = 'PartialFailure';
  }
}
