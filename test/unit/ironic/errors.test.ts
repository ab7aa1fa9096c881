import { describe, expect, it } from 'vitest';
import { compareVersions, faultOf, IronicNodeFailed, IronicTimeout } from '../../../src/ironic/index.js';

describe('Ironic error bodies', () => {
  it('reads the faultstring out of the JSON string inside error_message (WSME errors, measured on 21.4)', () => {
    const body = JSON.stringify({ error_message: JSON.stringify({ faultcode: 'Client', faultstring: 'Node nope could not be found.', debuginfo: null }) });
    expect(faultOf(body)).toBe('Node nope could not be found.');
  });
  it('reads a 406 version refusal description', () => {
    const body = JSON.stringify({
      error_message: JSON.stringify({ code: 406, title: 'Not Acceptable', description: 'The supported version range is: [1.1, 1.82].' }),
    });
    expect(faultOf(body)).toBe('The supported version range is: [1.1, 1.82].');
  });
  it('reads the http_basic middleware answer', () => {
    expect(faultOf('{"error":{"message":"Authorization required","code":401}}')).toBe('Authorization required');
  });
  it('keeps a plain-text body, clipped', () => {
    expect(faultOf('Bad Gateway\n')).toBe('Bad Gateway');
    expect(faultOf('x'.repeat(2000))!.length).toBe(500);
    expect(faultOf('')).toBeUndefined();
  });
});

describe('API versions', () => {
  it('compares minor versions numerically', () => {
    expect(compareVersions('1.9', '1.10')).toBe(-1);
    expect(compareVersions('1.82', '1.82')).toBe(0);
    expect(compareVersions('2.0', '1.99')).toBe(1);
    expect(() => compareVersions('1.x', '1.1')).toThrow(/not an API version/);
  });
});

describe('wait errors', () => {
  it('name the node, the target, the state and last_error', () => {
    expect(new IronicNodeFailed('n1', 'active', 'deploy failed', 'image gone').message).toBe('node n1: active failed, it is deploy failed: image gone');
    expect(new IronicTimeout('n1', 'active', 'deploying (target active)', 3200, null).message).toBe(
      'node n1: timed out after 3 s waiting for active; it is deploying (target active)',
    );
  });
});
