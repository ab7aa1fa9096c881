/** What the seed service accepts: bodies, queries and durations, each refusal naming the problem. */
import { describe, expect, it } from 'vitest';
import { ApiError, type Fields, intParam, parseBody, parseDuration, parseQuery } from '../../../src/service/api-input.js';

const F: Fields = { owner: { type: 'string', required: true }, count: { type: 'integer' }, nodes: { type: 'string[]' }, keep: { type: 'boolean' } };

function refusal(fn: () => unknown): { status: number; code: string; message: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    const a = e as ApiError;
    return { status: a.status, code: a.code, message: a.message };
  }
  throw new Error('not refused');
}

describe('parseBody', () => {
  it('accepts the known fields with their types; an empty body is {}', () => {
    expect(parseBody('{"owner":"a","count":2,"nodes":["n1"],"keep":true}', F)).toEqual({ owner: 'a', count: 2, nodes: ['n1'], keep: true });
    expect(parseBody(Buffer.from('  '), { keep: { type: 'boolean' } })).toEqual({});
  });

  it('refuses invalid JSON, non-objects, unknown, missing and mistyped fields, naming them', () => {
    expect(refusal(() => parseBody('{"owner":', F))).toMatchObject({ status: 400, code: 'invalid-json', message: expect.stringMatching(/^invalid JSON in the request body: /) });
    expect(refusal(() => parseBody('[1]', F))).toEqual({ status: 400, code: 'invalid-body', message: 'the request body must be a JSON object' });
    expect(refusal(() => parseBody('null', F)).code).toBe('invalid-body');
    expect(refusal(() => parseBody('{"owner":"a","cont":3,"x":1}', F))).toEqual({ status: 400, code: 'unknown-field', message: 'unknown fields "cont", "x"; known: owner, count, nodes, keep' });
    expect(refusal(() => parseBody('{"count":1}', F))).toEqual({ status: 400, code: 'missing-field', message: 'field "owner" is required' });
    expect(refusal(() => parseBody('{"owner":"a","count":1.5}', F)).message).toBe('field "count" must be a whole number');
    expect(refusal(() => parseBody('{"owner":"a","count":"2"}', F)).message).toBe('field "count" must be a whole number');
    expect(refusal(() => parseBody('{"owner":"a","nodes":["n1",2]}', F)).message).toBe('field "nodes" must be a list of strings');
    expect(refusal(() => parseBody('{"owner":"a","keep":"yes"}', F)).message).toBe('field "keep" must be true or false');
    // a prototype key is a field like any other: unknown
    expect(refusal(() => parseBody('{"owner":"a","__proto__":{}}', F)).message).toMatch(/unknown field "__proto__"/);
  });
});

describe('parseQuery and intParam', () => {
  it('keeps known parameters and refuses unknown or repeated ones', () => {
    expect(parseQuery(new URLSearchParams('node=n1&limit=5'), ['node', 'limit'])).toEqual({ node: 'n1', limit: '5' });
    expect(refusal(() => parseQuery(new URLSearchParams('nod=n1'), ['node']))).toEqual({ status: 400, code: 'unknown-parameter', message: 'unknown query parameter "nod"; known: node' });
    expect(refusal(() => parseQuery(new URLSearchParams('node=a&node=b'), ['node'])).message).toBe('query parameter "node" is given twice');
  });
  it('reads whole numbers in range', () => {
    expect(intParam('limit', undefined, 500, 1, 5000)).toBe(500);
    expect(intParam('limit', '42', 500, 1, 5000)).toBe(42);
    for (const v of ['0', '5001', '-1', '1e3', 'x', '']) expect(refusal(() => intParam('limit', v, 500, 1, 5000)).message).toBe('query parameter "limit" must be a whole number from 1 to 5000');
  });
});

describe('parseDuration', () => {
  it('reads s, m, h, d and sums', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration(' 1h30m ')).toBe(5_400_000);
  });
  it('refuses anything else, naming the text', () => {
    for (const t of ['', '10', 'h', '1.5h', '2 h', '1w', '-1h', '1h-']) expect(() => parseDuration(t, 'ttl'), t).toThrow(`ttl "${t}" is not a duration: use a number with s, m, h or d, like 90s, 30m, 2h, 1h30m`);
  });
});
