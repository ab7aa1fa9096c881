import { describe, expect, it } from 'vitest';
import { formatProblem, InputError, ExitCode } from '../../../src/errors.js';
import { redact, table } from '../../../src/cli/output.js';

describe('errors', () => {
  it('formats a problem as file:line:col path: message', () => {
    expect(formatProblem({ file: 'kseed.yaml', line: 14, col: 9, path: 'nodes[2].macs[0]', message: 'bad' })).toBe(
      'kseed.yaml:14:9 nodes[2].macs[0]: bad',
    );
    expect(formatProblem({ file: 'kseed.yaml', message: 'missing' })).toBe('kseed.yaml: missing');
  });
  it('input errors exit 2 and carry their problems into JSON', () => {
    const e = new InputError('site file is invalid', [{ file: 'a.yaml', line: 1, col: 1, message: 'x' }]);
    expect(e.exitCode).toBe(ExitCode.usage);
    expect(e.toJSON()).toMatchObject({ error: 'bad-input', problems: [{ file: 'a.yaml', message: 'x' }] });
  });
});

describe('output', () => {
  it('redacts secret-looking keys at any depth', () => {
    const r = redact({ bmc: { username: 'admin', password: 'hunter2' }, list: [{ token: 'abc' }], n: 1 });
    expect(r).toEqual({ bmc: { username: 'admin', password: '******' }, list: [{ token: '******' }], n: 1 });
  });
  it('aligns tables', () => {
    const t = table(['a', 'bb'], [['xxx', 1], [undefined, 'y']]).split('\n');
    expect(t[0]).toBe('a    bb');
    expect(t[2]).toBe('xxx  1');
    expect(t[3]).toBe('-    y');
  });
});
