/** Link checks of redfish/links.ts: every refusal names the JSON path and the value received. */
import { describe, expect, it } from 'vitest';
import { BadField, jsonPath, linkAt, memberLinks, quoteValue, servicePath } from '../../../../src/bmc/redfish/links.js';

const ORIGIN = 'https://10.0.0.5:443';

function refusal(fn: () => unknown): BadField {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadField);
    return err as BadField;
  }
  throw new Error('expected a BadField');
}

describe('jsonPath and quoteValue', () => {
  it('writes identifiers dotted, other keys bracketed, indexes in brackets', () => {
    expect(jsonPath(['Links', 'ManagedBy', 0, '@odata.id'])).toBe('Links.ManagedBy[0]["@odata.id"]');
    expect(jsonPath(['Actions', '#ComputerSystem.Reset', 'target'])).toBe('Actions["#ComputerSystem.Reset"].target');
    expect(jsonPath(['@odata.id'])).toBe('["@odata.id"]');
  });

  it('quotes as JSON and cuts long values, saying how long they were', () => {
    expect(quoteValue('x')).toBe('"x"');
    expect(quoteValue(42)).toBe('42');
    expect(quoteValue(undefined)).toBe('undefined');
    const long = quoteValue('a'.repeat(200));
    expect(long).toBe(`"${'a'.repeat(79)}... (202 characters)`);
  });
});

describe('servicePath', () => {
  it('accepts paths and same-origin URIs, keeping the query', () => {
    expect(servicePath('/redfish/v1/Systems/1', 'f', ORIGIN)).toBe('/redfish/v1/Systems/1');
    expect(servicePath('https://10.0.0.5/redfish/v1/Systems/1?$expand=.', 'f', ORIGIN)).toBe('/redfish/v1/Systems/1?$expand=.');
    expect(servicePath('Systems/1', 'f', ORIGIN)).toBe('/Systems/1');
  });

  it('refuses what is not a URI, not parseable, or points at another host', () => {
    expect(refusal(() => servicePath(42, 'Systems["@odata.id"]', ORIGIN)).message).toBe('Systems["@odata.id"] is not a URI: 42');
    expect(refusal(() => servicePath('', 'Location header', ORIGIN)).message).toBe('Location header is not a URI: ""');
    expect(refusal(() => servicePath('http://[bad', 'Location header', ORIGIN)).message).toBe('Location header is not a valid URI: "http://[bad"');
    const away = refusal(() => servicePath('//evil.example/redfish/v1', 'Members[0]["@odata.id"]', ORIGIN));
    expect(away.message).toBe(`Members[0]["@odata.id"] points away from this BMC (${ORIGIN}): "//evil.example/redfish/v1"`);
    expect(away.field).toBe('Members[0]["@odata.id"]');
    expect(away.value).toBe('//evil.example/redfish/v1');
    expect(refusal(() => servicePath('http://10.0.0.5/redfish/v1', 'f', ORIGIN)).message).toMatch(/points away from this BMC/);
  });
});

describe('linkAt and memberLinks', () => {
  const sys = { Links: { ManagedBy: [{ '@odata.id': '/redfish/v1/Managers/1' }, { '@odata.id': 7 }] }, EthernetInterfaces: null };

  it('an absent link is undefined, a present one is checked', () => {
    expect(linkAt(sys, ['Links', 'ManagedBy', 0, '@odata.id'], ORIGIN)).toBe('/redfish/v1/Managers/1');
    expect(linkAt(sys, ['Links', 'Chassis', 0, '@odata.id'], ORIGIN)).toBeUndefined();
    expect(linkAt(sys, ['EthernetInterfaces', '@odata.id'], ORIGIN)).toBeUndefined();
    expect(linkAt(sys, ['Links', 'ManagedBy', 'x'], ORIGIN)).toBeUndefined();
    expect(refusal(() => linkAt(sys, ['Links', 'ManagedBy', 1, '@odata.id'], ORIGIN)).message).toBe('Links.ManagedBy[1]["@odata.id"] is not a URI: 7');
  });

  it('every member must be a link of this service', () => {
    expect(memberLinks({ Members: [{ '@odata.id': '/a' }, { '@odata.id': '/b' }] }, ORIGIN)).toEqual(['/a', '/b']);
    expect(memberLinks({ Members: 'nope' }, ORIGIN)).toBeUndefined();
    expect(refusal(() => memberLinks({ Members: [{ '@odata.id': '/a' }, { bogus: 1 }] }, ORIGIN)).message).toBe('Members[1] has no @odata.id: {"bogus":1}');
  });
});
