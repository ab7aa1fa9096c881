/**
 * The seed's status page: log in with a kseed token, then the nodes (state,
 * power, lease, phase bars) kept current by the service's event stream, and
 * one node's boot trace, events and serial console. No framework: a table
 * and a panel rebuilt from JSON are a few DOM calls, and the page stays a
 * few kilobytes. Everything it shows comes from the API of the service
 * that served it (same origin; the session cookie is HttpOnly, so this
 * script never holds the token after the login request).
 */

interface Lease {
  id: string;
  owner: string;
  expires_at: string;
  /** Set when the lease ended but still holds the node: its wipe failed (`wipe_failed` says why). */
  ended_at: string | null;
  end_reason: string | null;
  wipe_failed: string | null;
}
interface Phase {
  phase: string;
  start: string;
  ms: number;
}
interface NodeView {
  name: string;
  state: string | null;
  power: string | null;
  ip: string | null;
  last_error: string | null;
  updated_at: string | null;
  lease: Lease | null;
  phases?: Phase[];
}
interface EventRec {
  id: number;
  ts: string;
  kind: string;
  from_state: string | null;
  to_state: string | null;
  detail: Record<string, unknown>;
}
interface TraceEntry {
  ts: string;
  source: string;
  what: string;
  bad?: boolean;
}
interface Trace {
  node: NodeView;
  phases: Phase[];
  events: EventRec[];
  boot_trace: TraceEntry[];
  console: { file: string; tail: string } | null;
}

const API = '/api/v1';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

type Child = Node | string | null | undefined | false;
/** A DOM element: h('td', { class: 'x' }, 'text', child). Text goes in as text, never as HTML. */
function h(tag: string, attrs: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

class Unauthorized extends Error {}

async function get<T>(path: string): Promise<T> {
  const r = await fetch(`${API}${path}`, { credentials: 'same-origin' });
  const body = await r.json();
  if (r.status === 401) throw new Unauthorized(body.message);
  if (!r.ok) throw new Error(body.message ?? `HTTP ${r.status}`);
  return body as T;
}

const dur = (ms: number) => (ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);
const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour12: false });
function until(iso: string): string {
  const ms = Date.parse(iso) - Date.now();
  return ms <= 0 ? 'expired' : `${dur(ms)} left`;
}

/** Phase colours by first appearance, the same in the table and the panel. */
const phaseIdx = new Map<string, number>();
const phaseClass = (p: string) => {
  if (!phaseIdx.has(p)) phaseIdx.set(p, phaseIdx.size % 6);
  return `p${phaseIdx.get(p)}`;
};

function bars(phases: Phase[], big = false): HTMLElement {
  const total = phases.reduce((a, p) => a + p.ms, 0);
  const el = h('div', { class: big ? 'bars big' : 'bars', 'data-phases': phases.map((p) => p.phase).join(',') });
  for (const p of phases) {
    const span = h('span', { class: phaseClass(p.phase), title: `${p.phase}: ${dur(p.ms)}` });
    // a phase that took 0 ms is still one pixel: it happened
    span.style.width = total ? `max(2px, ${((100 * p.ms) / total).toFixed(2)}%)` : `${100 / phases.length}%`;
    el.append(span);
  }
  return el;
}

let nodes: NodeView[] = [];
let selected: string | undefined;
/** Each node's newest boot-services line (DHCP, TFTP, HTTP) seen by the stream: where a node without store events is. */
const lastBoot = new Map<string, TraceEntry>();

function bootCell(b: TraceEntry | undefined): HTMLElement {
  return b ? h('td', { class: b.bad ? 'boot bad' : 'boot', 'data-source': b.source }, `${time(b.ts)} ${b.source} ${b.what}`) : h('td', { class: 'boot muted' }, '-');
}

/** A live lease with its time left; an ended one that still holds the node (its wipe failed) says so, in red: nobody can lease the node until a release wipes it. */
function leaseCell(l: Lease | null): HTMLElement {
  if (!l) return h('td', { class: 'lease', 'data-owner': '' }, '-');
  if (l.wipe_failed !== null) return h('td', { class: 'lease held', 'data-owner': l.owner, 'data-held': 'wipe-failed', title: l.wipe_failed }, `${l.owner}: wipe failed, held (${l.id} ${l.end_reason ?? 'ended'})`);
  return h('td', { class: 'lease', 'data-owner': l.owner }, `${l.owner} (${until(l.expires_at)}, ${l.id})`);
}

function leaseLine(l: Lease | null): string {
  if (!l) return 'none';
  if (l.wipe_failed !== null) return `${l.owner}'s ${l.id} ${l.end_reason ?? 'ended'} at ${new Date(l.ended_at!).toLocaleString()}, but its wipe of this node failed (${l.wipe_failed}): held until \`kseed lease release ${l.id}\` wipes it`;
  return `${l.owner}, expires ${new Date(l.expires_at).toLocaleString()}`;
}

function renderRows(): void {
  const rows = nodes.map((n) =>
    h(
      'tr',
      { 'data-node': n.name, class: n.name === selected ? 'sel' : undefined },
      h('td', {}, h('strong', {}, n.name)),
      h('td', {}, h('span', { class: `state ${n.state ?? ''}`, 'data-state': n.state ?? '' }, n.state ?? 'not enrolled')),
      h('td', { class: 'power' }, n.power ?? '-'),
      h('td', { class: 'ip' }, n.ip ?? '-'),
      leaseCell(n.lease),
      h('td', {}, n.phases?.length ? bars(n.phases) : h('span', { class: 'muted' }, '-')),
      bootCell(lastBoot.get(n.name)),
      h('td', { class: 'error' }, n.last_error ?? ''),
    ),
  );
  $('rows').replaceChildren(...rows);
}

function renderDetail(t: Trace): void {
  const n = t.node;
  const last = t.boot_trace.at(-1);
  const busy = n.state !== 'active' && n.state !== 'available' && last;
  const legend = h('div', { class: 'legend' }, ...t.phases.map((p) => h('span', {}, h('i', { class: phaseClass(p.phase) }), `${p.phase} ${dur(p.ms)}`)));
  const traceRows = t.boot_trace.map((e, i) =>
    h('tr', { class: [e.bad ? 'bad' : '', i === t.boot_trace.length - 1 ? 'last' : ''].join(' ').trim() || undefined }, h('td', {}, time(e.ts)), h('td', {}, e.source), h('td', {}, e.what)),
  );
  const eventRows = [...t.events]
    .reverse()
    .map((e) =>
      h(
        'tr',
        {},
        h('td', {}, time(e.ts)),
        h('td', {}, e.kind),
        h('td', {}, e.to_state ? `${e.from_state ?? ''} -> ${e.to_state}` : ''),
        h('td', {}, Object.keys(e.detail).length ? JSON.stringify(e.detail).slice(0, 160) : ''),
      ),
    );
  const parts: Child[] = [
    h('h2', {}, `${n.name} `, h('span', { class: `state ${n.state ?? ''}` }, n.state ?? 'not enrolled')),
    h('p', { class: 'muted' }, `power ${n.power ?? '-'} · address `, h('span', { id: 'detail-ip' }, n.ip ?? '-'), ' · lease ', h('span', { id: 'detail-lease', class: n.lease?.wipe_failed != null ? 'held' : undefined }, leaseLine(n.lease))),
    busy ? h('p', { class: 'stuck', id: 'stopped-at' }, `last boot step: ${last.source} ${last.what} at ${time(last.ts)}`) : null,
    h('h3', {}, 'phases'),
    t.phases.length ? bars(t.phases, true) : h('p', { class: 'muted' }, 'no phase yet'),
    legend,
    h(
      'div',
      { class: 'cols' },
      h(
        'div',
        {},
        h('h3', {}, `boot trace (${t.boot_trace.length})`),
        traceRows.length ? h('div', { class: 'scroll' }, h('table', { id: 'boot-trace' }, h('tbody', {}, ...traceRows))) : h('p', { class: 'muted' }, 'nothing seen from this node yet (no DHCP, TFTP, HTTP or agent step)'),
      ),
      h('div', {}, h('h3', {}, `events (${t.events.length})`), h('div', { class: 'scroll' }, h('table', { id: 'events' }, h('tbody', {}, ...eventRows)))),
    ),
    h('h3', {}, 'serial console'),
    t.console ? h('pre', { class: 'console', id: 'console', title: t.console.file }, t.console.tail || '(empty)') : h('p', { class: 'muted', id: 'console' }, 'no serial log for this node (a lab VM has one; `kseed console` shows real hardware over SOL)'),
  ];
  $('detail').replaceChildren(...parts.filter((c): c is Node | string => Boolean(c)));
  $('detail').hidden = false;
  const pre = document.querySelector<HTMLElement>('pre.console');
  if (pre) pre.scrollTop = pre.scrollHeight;
}

async function refresh(): Promise<void> {
  try {
    nodes = (await get<{ nodes: NodeView[] }>('/nodes?phases=true')).nodes;
    renderRows();
    if (selected) renderDetail(await get<Trace>(`/nodes/${encodeURIComponent(selected)}/trace`));
  } catch (e) {
    if (e instanceof Unauthorized) return loggedOut(e.message);
    throw e;
  }
}

/** Many events in a burst (a fleet deploying) make one refresh. */
let pending: number | undefined;
function soon(): void {
  if (pending === undefined) pending = window.setTimeout(() => ((pending = undefined), void refresh()), 150);
}

let stream: EventSource | undefined;
function live(on: boolean, text: string): void {
  $('live').className = `live ${on ? 'on' : 'off'}`;
  $('live').textContent = text;
}

function connect(): void {
  stream?.close();
  stream = new EventSource(`${API}/stream`);
  stream.addEventListener('hello', () => live(true, 'live'));
  stream.addEventListener('events', () => soon());
  stream.addEventListener('boot', (ev) => {
    const lines = (JSON.parse((ev as MessageEvent<string>).data) as { lines: (TraceEntry & { node: string })[] }).lines;
    for (const { node, ...t } of lines) lastBoot.set(node, t);
    for (const n of new Set(lines.map((l) => l.node))) {
      const cell = document.querySelector(`tr[data-node="${CSS.escape(n)}"] td.boot`);
      cell?.replaceWith(bootCell(lastBoot.get(n)));
    }
    // the open node's trace gains the line with its next refresh
    if (selected && lines.some((l) => l.node === selected)) soon();
  });
  stream.addEventListener('end', () => {
    stream?.close();
    loggedOut('the token was revoked');
  });
  // EventSource reconnects by itself (retry: 2000); the refresh on hello catches up
  stream.addEventListener('error', () => live(false, 'reconnecting'));
  stream.addEventListener('open', () => soon());
}

function loggedOut(why?: string): void {
  stream?.close();
  stream = undefined;
  live(false, 'offline');
  $('who').textContent = '';
  $('logout').hidden = true;
  $('nodes').hidden = true;
  $('detail').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = why ?? '';
  $<HTMLInputElement>('token').focus();
}

async function loggedIn(user: string): Promise<void> {
  $('who').textContent = `logged in as ${user}`;
  $('logout').hidden = false;
  $('login').hidden = true;
  $('nodes').hidden = false;
  await refresh();
  connect();
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $<HTMLInputElement>('token');
  const r = await fetch(`${API}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }), credentials: 'same-origin' });
  const body = await r.json();
  // the token leaves the page once it is exchanged for the session cookie
  input.value = '';
  if (!r.ok) {
    $('login-error').textContent = `refused: ${body.message}`;
    return;
  }
  $('login-error').textContent = '';
  await loggedIn(body.user);
});

$('logout').addEventListener('click', async () => {
  await fetch(`${API}/session`, { method: 'DELETE', credentials: 'same-origin' });
  loggedOut();
});

$('rows').addEventListener('click', (ev) => {
  const tr = (ev.target as HTMLElement).closest('tr');
  if (!tr?.dataset.node) return;
  selected = tr.dataset.node;
  void refresh();
});

// lease expiry counts down between events
setInterval(() => nodes.length && renderRows(), 30_000);

void (async () => {
  try {
    await loggedIn((await get<{ user: string }>('/session')).user);
  } catch (e) {
    loggedOut(e instanceof Unauthorized ? '' : String(e));
  }
})();
