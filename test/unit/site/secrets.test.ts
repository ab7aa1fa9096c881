import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.js';
import { auditSecret, resolveSecret } from '../../../src/site/secrets.js';

const dir = mkdtempSync(path.join(tmpdir(), 'kseed-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const site = { dir };
function secretFile(name: string, content: string, mode: number): string {
  const f = path.join(dir, name);
  writeFileSync(f, content);
  chmodSync(f, mode);
  return name;
}
async function failure(p: Promise<unknown>): Promise<InputError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InputError);
  return e as InputError;
}

describe('resolveSecret', () => {
  afterEach(() => {
    delete process.env.KSEED_TEST_SECRET;
  });

  it('reads environment variables, and names a missing one without a value', async () => {
    process.env.KSEED_TEST_SECRET = 'from-env';
    expect(await resolveSecret({ env: 'KSEED_TEST_SECRET' }, site)).toBe('from-env');
    delete process.env.KSEED_TEST_SECRET;
    const e = await failure(resolveSecret({ env: 'KSEED_TEST_SECRET' }, site));
    expect(e.message).toBe('environment variable KSEED_TEST_SECRET is not set (a secret reference in the site file needs it)');
    expect(e.exitCode).toBe(2);
  });

  it('reads files relative to the site file, dropping one trailing newline', async () => {
    secretFile('bmc.pass', 'pa ss\n\n', 0o600);
    expect(await resolveSecret({ file: 'bmc.pass' }, site)).toBe('pa ss\n');
    secretFile('crlf.pass', 'pw\r\n', 0o640);
    expect(await resolveSecret({ file: 'crlf.pass' }, site)).toBe('pw');
    expect(await resolveSecret({ file: path.join(dir, 'crlf.pass') }, { dir: '/' })).toBe('pw');
  });

  it('refuses world-accessible, empty and missing files without leaking the content', async () => {
    secretFile('open.pass', 'top-s3cret', 0o644);
    const e = await failure(resolveSecret({ file: 'open.pass' }, site));
    expect(e.message).toBe(`secret file ${path.join(dir, 'open.pass')} is accessible by every user (mode 644): chmod 600 it`);
    expect(JSON.stringify(e.toJSON())).not.toContain('top-s3cret');
    secretFile('empty.pass', '\n', 0o600);
    expect((await failure(resolveSecret({ file: 'empty.pass' }, site))).message).toMatch(/is empty$/);
    expect((await failure(resolveSecret({ file: 'missing.pass' }, site))).message).toBe(`cannot read secret file ${path.join(dir, 'missing.pass')} (not found)`);
  });

  it('returns inline values as they are', async () => {
    expect(await resolveSecret({ value: 'inline' }, site)).toBe('inline');
  });
});

describe('auditSecret', () => {
  const where = { file: 'kseed.yaml', line: 3, col: 5, path: 'defaults.bmc.password' };
  it('warns on unset variables and missing or group-readable files, fails on world-readable ones', async () => {
    expect(await auditSecret({ env: 'KSEED_SURELY_UNSET_VAR' }, site, where)).toEqual({
      problems: [],
      warnings: [{ ...where, message: 'environment variable KSEED_SURELY_UNSET_VAR is not set here; commands that use this secret will fail' }],
    });
    secretFile('group.pass', 'x', 0o640);
    expect((await auditSecret({ file: 'group.pass' }, site, where)).warnings[0]!.message).toMatch(/group-accessible \(mode 640\)/);
    secretFile('world.pass', 'x', 0o604);
    expect((await auditSecret({ file: 'world.pass' }, site, where)).problems[0]!.message).toMatch(/accessible by every user \(mode 604\)/);
    secretFile('good.pass', 'x', 0o600);
    expect(await auditSecret({ file: 'good.pass' }, site, where)).toEqual({ problems: [], warnings: [] });
    expect((await auditSecret({ file: 'nope.pass' }, site, where)).warnings[0]!.message).toMatch(/not found here/);
  });
});
