/**
 * JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub Actions
 * reporters, junitparser): <testsuites> of <testsuite> of <testcase>, a
 * case failing with <failure> (the node's error) or erroring with <error>
 * (the run itself broke), or <skipped>. There is no formal standard; this
 * follows the Ant JUnit task's format those readers share: counts and time
 * (seconds) on every suite, timestamp without a time zone.
 *
 * Pure: suites in, one XML document out.
 */

export interface JunitCase {
  name: string;
  classname: string;
  /** Seconds. */
  time: number;
  failure?: { message: string; type: string; text?: string };
  error?: { message: string; type: string; text?: string };
  skipped?: string;
}

export interface JunitSuite {
  name: string;
  /** ms since the epoch, when the suite started. */
  start: number;
  /** Seconds. */
  time: number;
  cases: JunitCase[];
  properties?: Record<string, string>;
  systemOut?: string;
}

// XML 1.0 section 2.2, Char: any Unicode character but the C0 controls other than tab,
// newline and carriage return, lone surrogates, and U+FFFE/U+FFFF
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Character data: the two characters that start markup escaped (XML 1.0 section 2.4). */
export function xmlText(s: string): string {
  return s.replace(NOT_XML_CHAR, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * An attribute value in double quotes. Tab, newline and carriage return
 * are written as character references: a parser normalizes literal ones to
 * spaces (XML 1.0 section 3.3.3), which would lose a multi-line message.
 */
export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

const secs = (t: number) => (Math.max(0, t)).toFixed(3);

/** The Ant format's timestamp: ISO 8601 in UTC, seconds, no zone designator. */
export function junitTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');
}

function caseXml(c: JunitCase): string {
  const head = `    <testcase${attrs({ name: c.name, classname: c.classname, time: secs(c.time) })}`;
  const inner: string[] = [];
  if (c.failure) inner.push(`      <failure${attrs({ message: c.failure.message, type: c.failure.type })}>${xmlText(c.failure.text ?? c.failure.message)}</failure>`);
  if (c.error) inner.push(`      <error${attrs({ message: c.error.message, type: c.error.type })}>${xmlText(c.error.text ?? c.error.message)}</error>`);
  if (c.skipped !== undefined) inner.push(`      <skipped${attrs({ message: c.skipped })}/>`);
  return inner.length ? `${head}>\n${inner.join('\n')}\n    </testcase>` : `${head}/>`;
}

export interface SuiteCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

export function counts(cases: readonly JunitCase[]): SuiteCounts {
  return {
    tests: cases.length,
    failures: cases.filter((c) => c.failure).length,
    errors: cases.filter((c) => c.error && !c.failure).length,
    skipped: cases.filter((c) => c.skipped !== undefined && !c.failure && !c.error).length,
  };
}

function suiteXml(s: JunitSuite, id: number, hostname: string): string {
  const n = counts(s.cases);
  const lines = [`  <testsuite${attrs({ name: s.name, id, hostname, timestamp: junitTimestamp(s.start), time: secs(s.time), ...n })}>`];
  const props = Object.entries(s.properties ?? {});
  if (props.length) {
    lines.push('    <properties>');
    for (const [name, value] of props) lines.push(`      <property${attrs({ name, value })}/>`);
    lines.push('    </properties>');
  }
  for (const c of s.cases) lines.push(caseXml(c));
  if (s.systemOut) lines.push(`    <system-out>${xmlText(s.systemOut)}</system-out>`);
  lines.push('  </testsuite>');
  return lines.join('\n');
}

/** The whole report: one <testsuites> named after the run, totals summed over its suites. */
export function junitXml(name: string, suites: readonly JunitSuite[], opts: { time: number; hostname: string }): string {
  const all = counts(suites.flatMap((s) => s.cases));
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name, time: secs(opts.time), ...all })}>`,
    ...suites.map((s, i) => suiteXml(s, i, opts.hostname)),
    '</testsuites>',
    '',
  ].join('\n');
}
