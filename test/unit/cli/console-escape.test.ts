import { describe, expect, it } from 'vitest';
import { EscapeReader, type EscapeAction } from '../../../src/cli/console-escape.js';

const show = (a: EscapeAction[]) => a.map((x) => ('data' in x ? x.data.toString('latin1') : Object.keys(x)[0]));

describe('console escape keys', () => {
  it('detaches on ~. as the first key or right after Enter, sending what came before', () => {
    expect(show(new EscapeReader().feed(Buffer.from('~.')))).toEqual(['detach']);
    expect(show(new EscapeReader().feed(Buffer.from('ls\r~.rm -rf /\r')))).toEqual(['ls\r', 'detach']);
    expect(show(new EscapeReader().feed(Buffer.from('ls\n~.')))).toEqual(['ls\n', 'detach']);
  });

  it('passes ~ through in the middle of a line, and Ctrl-C always', () => {
    expect(show(new EscapeReader().feed(Buffer.from('cd ~.\x03')))).toEqual(['cd ~.\x03']);
  });

  it('holds a ~ across reads (keys come one per read on a terminal)', () => {
    const r = new EscapeReader();
    expect(show(r.feed(Buffer.from('\r')))).toEqual(['\r']);
    expect(show(r.feed(Buffer.from('~')))).toEqual([]);
    expect(show(r.feed(Buffer.from('.')))).toEqual(['detach']);
  });

  it('~~ sends one ~, ~B a break, ~? the help, any other key both characters', () => {
    expect(show(new EscapeReader().feed(Buffer.from('~~.')))).toEqual(['~.']);
    expect(show(new EscapeReader().feed(Buffer.from('~Bx')))).toEqual(['break', 'x']);
    expect(show(new EscapeReader().feed(Buffer.from('~?~.')))).toEqual(['help', 'detach']);
    expect(show(new EscapeReader().feed(Buffer.from('~x')))).toEqual(['~x']);
  });
});
