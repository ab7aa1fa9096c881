/**
 * CI mode's encoders without sockets: the NDJSON events (numbering, the
 * engine's progress events as the stream carries them, one line per event
 * whatever the message holds, secrets masked, every type valid against
 * docs/events-v1.schema.json) and the JUnit XML (escaping by XML 1.0's
 * rules, counts, the exact document for a small run).
 */
import { describe, expect, it } from 'vitest';
import { CiRun } from '../../../src/cli/ci.js';
import { EventEncoder, fromProgress, scrub } from '../../../src/cli/events.js';
import { counts, junitTimestamp, junitXml, xmlAttr, xmlText } from '../../../src/cli/junit.js';
import { NODE_STATES } from '../../../src/engine/lifecycle.js';
import { InputError } from '../../../src/errors.js';
import { EVENTS_SCHEMA, schemaErrors } from './events-schema.js';

const T0 = Date.UTC(2026, 11, 6, 23, 0, 0, 250);

describe('events (schema 1)', () => {
  it('numbers every event of a run from 1, with the schema version and an ISO time', () => {
    const enc = new EventEncoder();
    const a = enc.event({ type: 'run-start', command: 'provision', kseed: '0.1.0' }, T0);
    const b = enc.event({ type: 'progress', message: 'provisioning 2 nodes' }, T0 + 1000);
    expect(a).toEqual({ v: 1, seq: 1, ts: '2026-12-06T23:00:00.250Z', type: 'run-start', command: 'provision', kseed: '0.1.0' });
    expect(b).toMatchObject({ v: 1, seq: 2, ts: '2026-12-06T23:00:01.250Z', type: 'progress' });
  });

  it('carries the engine progress events with their own clock and only the fields they have', () => {
    expect(fromProgress({ node: 'n1', ts: T0, kind: 'transition', from: 'available', to: 'deploying', phase: 'deploy' })).toEqual({
      ts: T0,
      body: { type: 'transition', node: 'n1', from: 'available', to: 'deploying', phase: 'deploy' },
    });
    expect(fromProgress({ node: 'n1', ts: T0, kind: 'info', phase: 'boot', error: 'first boot timed out after 900 s' })).toEqual({
      ts: T0,
      body: { type: 'info', node: 'n1', phase: 'boot', error: 'first boot timed out after 900 s' },
    });
    expect(fromProgress({ node: 'n2', ts: T0, kind: 'step', message: 'network boot (bootdev pxe, power on)' }).body).toEqual({ type: 'step', node: 'n2', message: 'network boot (bootdev pxe, power on)' });
  });

  it('is one line per event, whatever the message holds', () => {
    const enc = new EventEncoder();
    const line = enc.line({ type: 'progress', message: 'two\nlines\r\nand a \u2028 separator' }, T0);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\n\r]/);
    expect(JSON.parse(line).message).toBe('two\nlines\r\nand a \u2028 separator');
  });

  it('never carries a secret: secret-looking keys and passwords in URLs are masked', () => {
    const enc = new EventEncoder();
    const e = enc.event(
      {
        type: 'run-end',
        command: 'provision',
        exit_code: 1,
        nodes: { total: 0, ok: 0, failed: 0, skipped: 0 },
        result: { bmc: { username: 'admin', password: 'hunter2' }, token: 'abc' },
        error: { error: 'failure', message: 'fetching https://ci:S3cr3t@images.example/os.qcow2 failed (403); http://mirror/x ok' },
      },
      T0,
    );
    expect(JSON.stringify(e)).not.toContain('hunter2');
    expect(JSON.stringify(e)).not.toContain('S3cr3t');
    expect(e).toMatchObject({
      result: { bmc: { username: 'admin', password: '******' }, token: '******' },
      error: { message: 'fetching https://ci:******@images.example/os.qcow2 failed (403); http://mirror/x ok' },
    });
    expect(scrub('ssh://root@10.0.0.5:22')).toBe('ssh://root@10.0.0.5:22');
  });
});

describe('JUnit XML', () => {
  it('escapes markup, keeps line breaks in attributes, and replaces characters XML 1.0 forbids', () => {
    expect(xmlText('a < b && c > "d"')).toBe('a &lt; b &amp;&amp; c &gt; "d"');
    expect(xmlAttr('say "hi"\n\tthen <go>')).toBe('say &quot;hi&quot;&#10;&#9;then &lt;go&gt;');
    // NUL, ESC, a lone surrogate and U+FFFF are not XML characters; an emoji is
    expect(xmlText('a\u0000b\u001b[0mc\ud800d\uffffe\u{1F600}')).toBe('a\uFFFDb\uFFFD[0mc\uFFFDd\uFFFDe\u{1F600}');
  });

  it('uses the Ant timestamp: UTC, seconds, no zone', () => {
    expect(junitTimestamp(T0)).toBe('2026-12-06T23:00:00');
  });

  it('counts a failure once, an error without a failure, and skipped cases', () => {
    expect(
      counts([
        { name: 'a', classname: 'x', time: 0 },
        { name: 'b', classname: 'x', time: 0, failure: { message: 'm', type: 't' } },
        { name: 'c', classname: 'x', time: 0, error: { message: 'm', type: 't' } },
        { name: 'd', classname: 'x', time: 0, skipped: 'already there' },
      ]),
    ).toEqual({ tests: 4, failures: 1, errors: 1, skipped: 1 });
  });

  it('writes the whole document', () => {
    const xml = junitXml(
      'kseed undeploy',
      [
        {
          name: 'n1',
          start: T0,
          time: 12.3456,
          properties: { state: 'clean failed' },
          cases: [{ name: 'undeploy', classname: 'n1', time: 12.3456, failure: { message: 'wipe: no disk matches the root-device hint', type: 'clean failed' } }],
          systemOut: 'active -> deleting (undeploy)',
        },
        { name: 'n2', start: T0, time: 0, cases: [{ name: 'undeploy', classname: 'n2', time: 0, skipped: 'already available: nothing to undeploy' }] },
      ],
      { time: 12.5, hostname: 'seed1' },
    );
    expect(xml).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="kseed undeploy" time="12.500" tests="2" failures="1" errors="0" skipped="1">',
        '  <testsuite name="n1" id="0" hostname="seed1" timestamp="2026-12-06T23:00:00" time="12.346" tests="1" failures="1" errors="0" skipped="0">',
        '    <properties>',
        '      <property name="state" value="clean failed"/>',
        '    </properties>',
        '    <testcase name="undeploy" classname="n1" time="12.346">',
        '      <failure message="wipe: no disk matches the root-device hint" type="clean failed">wipe: no disk matches the root-device hint</failure>',
        '    </testcase>',
        '    <system-out>active -&gt; deleting (undeploy)</system-out>',
        '  </testsuite>',
        '  <testsuite name="n2" id="1" hostname="seed1" timestamp="2026-12-06T23:00:00" time="0.000" tests="1" failures="0" errors="0" skipped="1">',
        '    <testcase name="undeploy" classname="n2" time="0.000">',
        '      <skipped message="already available: nothing to undeploy"/>',
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });
});

describe('docs/events-v1.schema.json', () => {
  it('names the lifecycle states the engine has', () => {
    expect(EVENTS_SCHEMA.$defs.state.enum).toEqual([...NODE_STATES]);
  });

  it('accepts every event type a run writes, and refuses what breaks it', async () => {
    const lines: string[] = [];
    const run = new CiRun('provision', true, undefined, (l) => lines.push(l));
    run.progress('provisioning 1 node');
    run.node({ node: 'n1', ts: T0, kind: 'transition', from: 'available', to: 'deploying', phase: 'deploy' });
    run.node({ node: 'n1', ts: T0, kind: 'step', message: 'network boot (bootdev pxe, power on)' });
    run.node({ node: 'n1', ts: T0, kind: 'info', phase: 'boot', error: 'first boot timed out after 900 s' });
    run.outcome({ node: 'n1', result: 'failed', state: 'active', verbs: ['deploy'], ms: 12, error: 'first boot timed out after 900 s' });
    run.result({ engine: 'embedded', nodes: [] });
    await run.end(1);
    const evs = lines.map((l) => JSON.parse(l));
    expect(evs.map((e) => e.type)).toEqual(['run-start', 'progress', 'transition', 'step', 'info', 'node-result', 'run-end']);
    for (const e of evs) expect(schemaErrors(e), JSON.stringify(e)).toEqual([]);
    const failed = new CiRun('enroll', true, undefined, (l) => lines.push(l));
    await failed.end(2, new InputError('unknown node x'));
    expect(schemaErrors(JSON.parse(lines.at(-1)!))).toEqual([]);

    const end = evs.at(-1);
    expect(schemaErrors({ ...end, v: 2 })).not.toEqual([]);
    expect(schemaErrors({ ...end, error: { error: 'x', message: 'both' } })).not.toEqual([]);
    expect(schemaErrors({ ...evs[5], result: 'maybe' })).not.toEqual([]);
    expect(schemaErrors({ ...evs[2], to: 'flying' })).not.toEqual([]);
    expect(schemaErrors({ ...evs[0], ts: '2026-12-06 23:00:00' })).not.toEqual([]);
  });
});
