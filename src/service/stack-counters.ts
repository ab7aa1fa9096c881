/**
 * The Ironic engine's DHCP/TFTP/HTTP counters for /metrics, counted in the
 * seed service from the logs of the Compose stack's dnsmasq and http
 * (nginx) containers (stack-log.ts parses them). The service follows each
 * container's log with `docker logs --follow` from its first line, so the
 * counts are a function of the container's whole log: a restart of the
 * service counts to the same totals again, nothing is lost while it was
 * down, and the counters reset only when Compose recreates a container
 * (its log starts anew), which /metrics shows as a new start time, the
 * later creation time of the two containers.
 *
 * Every CHECK_MS the containers are looked up again by their Compose
 * labels: a new container id starts a new count; a follower that ended
 * (the container stopped, then `restart: unless-stopped` ran it again) is
 * started again and skips the lines it already counted, stream by stream
 * (Docker's json-file log replays them in the same order). A docker CLI
 * that fails (no engine, no permission) leaves the last counts and
 * `up` 0; it is logged once per kind of failure, never thrown at a scrape.
 */
import { startLineReader } from '../util/spawn.js';
import { runQuiet } from '../util/tools.js';
import { countDnsmasqLine, countNginxLine, emptyStackSnapshot, type StackCounterSnapshot } from './stack-log.js';

const CHECK_MS = 5000;
/** The stack's services whose logs are counted, and how (compose/docker-compose.yml.hbs names them). */
const COUNTED: Readonly<Record<string, (c: StackCounterSnapshot, line: string) => void>> = { dnsmasq: countDnsmasqLine, http: countNginxLine };

export interface StackCountersView {
  /** Both containers run. */
  up: boolean;
  /** The later of the two containers' creation: the counters count from there. */
  started_at: string;
  counts: StackCounterSnapshot;
}

type Stream = 'stdout' | 'stderr';
type Reader = ReturnType<typeof startLineReader>;

interface Followed {
  id: string;
  created: string;
  running: boolean;
  counts: StackCounterSnapshot;
  /** Lines counted per stream: a follower started again skips them. */
  lines: Record<Stream, number>;
  child: Reader | undefined;
  /** The whole log was read once (a stopped container is not read again until it runs). */
  readOnce: boolean;
}

interface Container {
  id: string;
  service: string;
  created: string;
  running: boolean;
}

export class StackCounters {
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;
  private lastProblem = '';

  constructor(
    /** The Compose project (its containers carry it as the label com.docker.compose.project). */
    readonly project: string,
    private readonly o: { docker?: string; checkEveryMs?: number; log?: (e: Record<string, unknown>) => void } = {},
  ) {}

  /** Looks the containers up now and every CHECK_MS. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.check(), this.o.checkEveryMs ?? CHECK_MS);
    this.timer.unref();
    await this.check();
  }

  /** The counts of both services now; undefined before either container was ever found. */
  view(): StackCountersView | undefined {
    const fs = [...this.followed.values()];
    if (!fs.length) return undefined;
    const counts = emptyStackSnapshot();
    for (const f of fs) add(counts, f.counts);
    const up = Object.keys(COUNTED).every((s) => this.followed.get(s)?.running);
    const started = fs.map((f) => f.created).sort((a, b) => Date.parse(a) - Date.parse(b)).at(-1)!;
    return { up, started_at: started, counts };
  }

  /** One look at the containers (a look still running is waited for, not doubled). */
  check(): Promise<void> {
    this.checking ??= this.lookUp().finally(() => (this.checking = undefined));
    return this.checking;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const f of this.followed.values()) f.child?.kill();
  }

  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.o.log?.({ service: 'api', type: 'stack-counters', message });
  }

  private async containers(): Promise<Container[] | undefined> {
    const docker = this.o.docker ?? 'docker';
    const ps = await runQuiet(docker, ['ps', '-a', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${this.project}`], { timeoutMs: 15_000 });
    if (ps.exitCode !== 0) return void this.problem(`docker ps failed: ${ps.stderr.trim().split('\n').at(-1) ?? `exit ${ps.exitCode}`}`);
    const ids = ps.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    if (!ids.length) return [];
    const fmt = '{{.Id}}|{{index .Config.Labels "com.docker.compose.service"}}|{{.Created}}|{{.State.Running}}';
    const inspect = await runQuiet(docker, ['inspect', '--format', fmt, ...ids], { timeoutMs: 15_000 });
    // a container removed between the two calls fails the inspect: the next look sees the new set
    if (inspect.exitCode !== 0) return void this.problem(`docker inspect failed: ${inspect.stderr.trim().split('\n').at(-1) ?? `exit ${inspect.exitCode}`}`);
    return inspect.stdout
      .split('\n')
      .map((l) => l.trim().split('|'))
      .filter((p) => p.length === 4)
      .map(([id, service, created, running]) => ({ id: id!, service: service!, created: created!, running: running === 'true' }));
  }

  private async lookUp(): Promise<void> {
    let all: Container[] | undefined;
    try {
      all = await this.containers();
    } catch (err) {
      // no docker CLI at all
      all = undefined;
      this.problem(`docker: ${(err as Error).message}`);
    }
    if (this.closed) return;
    for (const service of Object.keys(COUNTED)) {
      const f = this.followed.get(service);
      if (!all) {
        if (f) f.running = false;
        continue;
      }
      // scaled or being recreated: the newest container is the service's
      const c = all.filter((x) => x.service === service).sort((a, b) => Date.parse(a.created) - Date.parse(b.created)).at(-1);
      if (!c) {
        if (f) f.running = false;
        continue;
      }
      let cur = f;
      if (!cur || cur.id !== c.id) {
        cur?.child?.kill();
        cur = { id: c.id, created: c.created, running: c.running, counts: emptyStackSnapshot(), lines: { stdout: 0, stderr: 0 }, child: undefined, readOnce: false };
        this.followed.set(service, cur);
      }
      cur.running = c.running;
      if (!cur.child && (c.running || !cur.readOnce)) this.follow(service, cur);
    }
  }

  private follow(service: string, f: Followed): void {
    const count = COUNTED[service]!;
    const skip: Record<Stream, number> = { ...f.lines };
    const seen: Record<Stream, number> = { stdout: 0, stderr: 0 };
    let child: Reader;
    try {
      child = startLineReader([this.o.docker ?? 'docker', 'logs', '--follow', f.id], (line, from) => {
        // a line counted by an earlier follower of this container
        if (seen[from]++ < skip[from]) return;
        f.lines[from]++;
        count(f.counts, line);
      });
    } catch (err) {
      return this.problem(`docker logs ${service}: ${(err as Error).message}`);
    }
    f.child = child;
    child.on('error', (err) => this.problem(`docker logs ${service}: ${err.message}`));
    // docker logs --follow ends when the container stops (or is removed): the next look starts it again if it runs
    child.on('close', () => {
      if (f.child === child) f.child = undefined;
      f.readOnce = true;
    });
  }
}

function add(into: StackCounterSnapshot, c: StackCounterSnapshot): void {
  const sum = (a: Record<string, number>, b: Record<string, number>) => {
    for (const [k, n] of Object.entries(b)) a[k] = (a[k] ?? 0) + n;
  };
  sum(into.dhcp.received, c.dhcp.received);
  sum(into.dhcp.sent, c.dhcp.sent);
  sum(into.dhcp.ignored, c.dhcp.ignored);
  into.tftp.started += c.tftp.started;
  into.tftp.completed += c.tftp.completed;
  into.tftp.refused += c.tftp.refused;
  sum(into.tftp.failed, c.tftp.failed);
  into.http.bytes += c.http.bytes;
  sum(into.http.requests, c.http.requests);
}
