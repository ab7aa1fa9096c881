/** What a lab Redfish BMC accepts, and the DSP0266 error answers for what it refuses: no sockets. */
import { describe, expect, it } from 'vitest';
import { ifMatchOk, parseBody, parseInsertMedia, parseLogin, parseReset, parseSystemPatch, rfError } from '../../../src/lab/redfish/requests.js';
import { etagOf, withEtag } from '../../../src/lab/redfish/resources.js';
import { Accounts, MAX_SESSIONS } from '../../../src/lab/redfish/sessions.js';

/** The MessageIds of an error answer, without the registry version. */
function ids(a: { body?: Record<string, unknown> }): string[] {
  const err = a.body?.error as { '@Message.ExtendedInfo': { MessageId: string }[] };
  return err['@Message.ExtendedInfo'].map((m) => m.MessageId.replace(/^Base\.1\.8\./, ''));
}

describe('request bodies', () => {
  it('an empty body is an empty object; broken JSON and non-objects are MalformedJSON', () => {
    expect(parseBody('')).toEqual({ ok: true, body: {} });
    const bad = parseBody('{"ResetType": "On"');
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.answer.status).toBe(400);
      expect(ids(bad.answer)).toEqual(['MalformedJSON']);
    }
    const arr = parseBody('["On"]');
    expect(arr.ok === false && arr.answer.status).toBe(400);
  });

  it('Reset: each allowable ResetType, the default On, and refusals naming the value', () => {
    for (const t of ['On', 'ForceOn', 'ForceOff', 'GracefulShutdown', 'ForceRestart', 'PowerCycle', 'PushPowerButton']) {
      expect(parseReset({ ResetType: t })).toEqual({ ok: true, resetType: t });
    }
    expect(parseReset({})).toEqual({ ok: true, resetType: 'On' });
    const nmi = parseReset({ ResetType: 'Nmi' });
    expect(nmi.ok).toBe(false);
    if (!nmi.ok) {
      expect(nmi.answer.status).toBe(400);
      expect(ids(nmi.answer)).toEqual(['ActionParameterValueNotInList']);
      expect(JSON.stringify(nmi.answer.body)).toContain('"Nmi"');
    }
    const extra = parseReset({ ResetType: 'On', Delay: 3 });
    expect(extra.ok === false && ids(extra.answer)).toEqual(['ActionParameterNotSupported']);
  });

  it('System PATCH: the three Boot override properties; every problem reported, none applied', () => {
    expect(parseSystemPatch({ Boot: { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Once', BootSourceOverrideMode: 'Legacy' } }, 'Legacy')).toEqual({
      ok: true,
      change: { target: 'Cd', enabled: 'Once', mode: 'Legacy' },
    });
    expect(parseSystemPatch({ Boot: { BootSourceOverrideEnabled: 'Continuous' } }, 'UEFI')).toEqual({ ok: true, change: { enabled: 'Continuous' } });
    const bad = parseSystemPatch(
      { PowerState: 'On', AssetTag: 'x', Boot: { BootSourceOverrideTarget: 'Floppy', BootSourceOverrideEnabled: 'Always', BootSourceOverrideMode: 'UEFI', UefiTargetBootSourceOverride: 'x' } },
      'Legacy',
    );
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.answer.status).toBe(400);
      expect(ids(bad.answer).sort()).toEqual(['PropertyNotWritable', 'PropertyUnknown', 'PropertyUnknown', 'PropertyValueNotInList', 'PropertyValueNotInList', 'PropertyValueNotInList']);
      const related = (bad.answer.body!.error as { '@Message.ExtendedInfo': { RelatedProperties?: string[] }[] })['@Message.ExtendedInfo'].flatMap((m) => m.RelatedProperties ?? []);
      expect(related).toContain('#/Boot/BootSourceOverrideMode');
      expect(related).toContain('#/PowerState');
    }
    const typeErr = parseSystemPatch({ Boot: 'Pxe' }, 'Legacy');
    expect(typeErr.ok === false && ids(typeErr.answer)).toEqual(['PropertyValueTypeError']);
  });

  it('InsertMedia: an http(s) Image is required; the scheme decides the protocol; a writable CD is refused', () => {
    expect(parseInsertMedia({ Image: 'http://10.77.0.1:8080/boot.iso' })).toEqual({
      ok: true,
      media: { image: 'http://10.77.0.1:8080/boot.iso', inserted: true, writeProtected: true, protocol: 'HTTP', verifyCertificate: false },
    });
    expect(parseInsertMedia({ Image: 'https://seed/x.iso', TransferProtocolType: 'HTTPS', Inserted: true, WriteProtected: true, TransferMethod: 'Stream' })).toMatchObject({ ok: true, media: { protocol: 'HTTPS' } });
    const cases: [Record<string, unknown>, string[]][] = [
      [{}, ['ActionParameterMissing']],
      [{ Image: 'nfs://seed/x.iso' }, ['ActionParameterValueFormatError']],
      [{ Image: 'http://seed/x.iso', TransferProtocolType: 'HTTPS' }, ['ActionParameterValueConflict']],
      [{ Image: 'http://seed/x.iso', TransferProtocolType: 'CIFS' }, ['ActionParameterValueNotInList']],
      [{ Image: 'http://seed/x.iso', WriteProtected: false }, ['ActionParameterNotSupported']],
      [{ Image: 'http://seed/x.iso', Inserted: 'yes' }, ['ActionParameterValueTypeError']],
      [{ Image: 'http://seed/x.iso', Foo: 1 }, ['ActionParameterUnknown']],
    ];
    for (const [body, want] of cases) {
      const r = parseInsertMedia(body);
      expect(r.ok, JSON.stringify(body)).toBe(false);
      if (!r.ok) expect(ids(r.answer), JSON.stringify(body)).toEqual(want);
    }
  });

  it('login needs UserName and Password strings', () => {
    expect(parseLogin({ UserName: 'admin', Password: 'pw' })).toEqual({ ok: true, user: 'admin', password: 'pw' });
    const r = parseLogin({ UserName: 'admin' });
    expect(r.ok === false && ids(r.answer)).toEqual(['PropertyMissing']);
  });

  it('an error with several messages says GeneralError on top and lists them all', () => {
    const a = rfError(400, { id: 'PropertyUnknown', message: 'a' }, { id: 'PropertyMissing', message: 'b' });
    expect((a.body!.error as { code: string }).code).toBe('Base.1.8.GeneralError');
    expect(ids(a)).toEqual(['PropertyUnknown', 'PropertyMissing']);
  });
});

describe('ETags', () => {
  it('change with the representation and match the @odata.etag inside it', () => {
    const a = withEtag({ Id: 'System', PowerState: 'Off' });
    const b = withEtag({ Id: 'System', PowerState: 'On' });
    expect(a['@odata.etag']).toBe(etagOf(a));
    expect(a['@odata.etag']).not.toBe(b['@odata.etag']);
    expect(etagOf({ Id: 'System', PowerState: 'Off' })).toBe(a['@odata.etag']);
  });

  it('If-Match: absent, *, the tag, its weak form or one of a list passes; another tag fails', () => {
    const tag = '"abc"';
    expect(ifMatchOk(undefined, tag)).toBe(true);
    expect(ifMatchOk('*', tag)).toBe(true);
    expect(ifMatchOk('"abc"', tag)).toBe(true);
    expect(ifMatchOk('W/"abc"', tag)).toBe(true);
    expect(ifMatchOk('"x", "abc"', tag)).toBe(true);
    expect(ifMatchOk('"abd"', tag)).toBe(false);
  });
});

describe('accounts and sessions', () => {
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

  it('Basic credentials and session tokens; a stale or unknown token is refused even with Basic beside it', () => {
    let now = 1_000_000;
    const a = new Accounts('admin', 'secret', 60, () => now);
    expect(a.who({})).toEqual({ ok: false, why: 'none' });
    expect(a.who({ authorization: basic('admin', 'secret') })).toEqual({ ok: true, user: 'admin' });
    expect(a.who({ authorization: basic('admin', 'wrong') })).toEqual({ ok: false, why: 'bad' });
    expect(a.who({ authorization: basic('root', 'secret') })).toEqual({ ok: false, why: 'bad' });
    expect(a.who({ authorization: 'Bearer xyz' })).toEqual({ ok: false, why: 'bad' });
    expect(a.login('admin', 'wrong')).toBeUndefined();
    const s = a.login('admin', 'secret')!;
    expect(s.token).toMatch(/^[0-9a-f]{48}$/);
    expect(a.who({ token: s.token })).toMatchObject({ ok: true, user: 'admin' });
    expect(a.who({ token: 'nope', authorization: basic('admin', 'secret') })).toEqual({ ok: false, why: 'bad' });
    // idle for longer than SessionTimeout: gone
    now += 61_000;
    expect(a.who({ token: s.token })).toEqual({ ok: false, why: 'bad' });
    expect(a.list()).toEqual([]);
  });

  it('logout frees the slot; when all slots are taken the oldest session goes', () => {
    let now = 0;
    const a = new Accounts('admin', 'pw', 3600, () => now++);
    const first = a.login('admin', 'pw')!;
    expect(a.logout(first.id)).toBe(true);
    expect(a.logout(first.id)).toBe(false);
    const all = Array.from({ length: MAX_SESSIONS + 1 }, () => a.login('admin', 'pw')!);
    expect(a.list()).toHaveLength(MAX_SESSIONS);
    expect(a.who({ token: all[0]!.token }).ok).toBe(false);
    expect(a.who({ token: all.at(-1)!.token }).ok).toBe(true);
  });
});
