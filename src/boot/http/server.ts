/**
 * The seed's HTTP server (node:http):
 *   GET  /boot.ipxe                      generic chain script (no secrets)
 *   GET  /boot/<mac-dashes>.ipxe         per-MAC script by the node's boot action
 *   GET|HEAD /artifacts/<file>           kernel, initramfs, images (Range, ETag)
 *   GET  /v1/nocloud/<node>/<file>       cloud-init NoCloud data        (token)
 *   GET  /v1/agent/<node>/task           docs/AGENT-API.md              (token)
 *   POST /v1/agent/<node>/inventory|progress|result                      (token)
 *   POST /v1/callback/<node>             first boot of the installed OS (token)
 *   GET|HEAD /v1/images/<node>/<file>    images the seed converted for the node (token)
 *
 * Every API under /v1 needs `Authorization: Bearer <token>` of the node named
 * in the path: none -> 401, any other token -> 403, and nothing changes.
 * Tokens are never logged (the log carries method, path, status only).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chainScript, chainToScript, localBootScript, noBootScript, ramdiskScript } from '../ipxe.js';
import { ArtifactStore, send } from './artifacts.js';
import { FormError, formatTask, InventoryError, parseInventory, parseProgress, parseResult, ResultRefused, type AgentTask, type BootBackend, type NodeCallback } from './types.js';

export interface HttpBootServerOptions {
  backend: BootBackend;
  /** Directory served under /artifacts/. */
  artifactsDir?: string;
  /**
   * iPXE first stages served under /ipxe/: UEFI HTTP-boot firmware (RFC 4578
   * arch 16, vendor class "HTTPClient") is handed `<publicUrl>/ipxe/<file>` by DHCP.
   */
  ipxeDir?: string;
  /** Images the seed converted (images/convert.ts), served under /v1/images/<node>/. */
  imagesDir?: string;
  /** URL the nodes reach this server at, e.g. http://10.77.0.1:8080 (used in iPXE scripts). */
  publicUrl: string;
  /** Deploy ramdisk: file names under /artifacts/, or absolute http(s) URLs. */
  ramdisk: { kernel: string; initrd: string; args?: string[] };
  address?: string;
  /** Default 80; 0 picks a free port. */
  port?: number;
  /**
   * Listening on loopback behind the Ironic stack's nginx, which sets
   * X-Forwarded-For to the node's address ($remote_addr, one value): a
   * request from a loopback peer is then taken as from that address, and
   * GET /v1/boot-auth answers nginx's auth_request for Ironic's per-node
   * iPXE configs (docs/AGENT-API.md "Agent token", Ironic engine).
   */
  behindProxy?: boolean;
  /** Largest accepted request body (inventory JSON, forms). Default 1 MiB. */
  maxBodyBytes?: number;
  log?: (event: HttpEvent) => void;
}

export interface HttpEvent {
  method: string;
  /** Path only: query strings are dropped so nothing secret can reach the log. */
  path: string;
  status: number;
  ms: number;
  client: string;
  node?: string;
  error?: string;
  /** Bytes sent: the body's declared length (sendfile bypasses the socket's count), else what the socket sent, headers included. */
  bytes?: number;
}

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MAC_DASHES = /^([0-9a-fA-F]{2})(-[0-9a-fA-F]{2}){5}$/;
const WORD = /^[A-Za-z0-9_.-]{1,64}$/;
const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** A form the agent posted, parsed, or 400 naming the field. */
function formOrBad<T>(parse: (f: URLSearchParams) => T, f: URLSearchParams): T {
  try {
    return parse(f);
  } catch (e) {
    if (e instanceof FormError) throw new HttpError(400, e.message);
    throw e;
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class HttpBootServer {
  private server: http.Server | undefined;
  private readonly artifacts: ArtifactStore | undefined;
  private readonly ipxe: ArtifactStore | undefined;
  private readonly images: ArtifactStore | undefined;
  private readonly maxBody: number;

  constructor(private readonly o: HttpBootServerOptions) {
    this.o = { ...o, publicUrl: o.publicUrl.replace(/\/+$/, '') };
    this.artifacts = o.artifactsDir !== undefined ? new ArtifactStore(o.artifactsDir) : undefined;
    this.ipxe = o.ipxeDir !== undefined ? new ArtifactStore(o.ipxeDir) : undefined;
    this.images = o.imagesDir !== undefined ? new ArtifactStore(o.imagesDir) : undefined;
    this.maxBody = o.maxBodyBytes ?? 1024 * 1024;
  }

  async listen(): Promise<{ address: string; port: number; url: string }> {
    const server = http.createServer({ keepAliveTimeout: 5000, requestTimeout: 60_000 }, (req, res) => this.handle(req, res));
    // A client that stops reading or sending is dropped after 2 minutes of silence, never held forever.
    server.setTimeout(120_000, (sock) => sock.destroy());
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.o.port ?? 80, host: this.o.address ?? '0.0.0.0', exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { address: a.address, port: a.port, url: `http://${host}:${a.port}` };
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const t0 = Date.now();
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const ev: HttpEvent = { method: req.method ?? '?', path: rawPath.slice(0, 256), status: 0, ms: 0, client: this.clientOf(req) };
    const written0 = req.socket.bytesWritten;
    res.on('finish', () => {
      ev.status = res.statusCode;
      ev.ms = Date.now() - t0;
      const declared = Number(res.getHeader('content-length'));
      ev.bytes = req.method !== 'HEAD' && Number.isSafeInteger(declared) && declared > 0 ? declared : req.socket.bytesWritten - written0;
      try {
        this.o.log?.(ev);
      } catch {
        /* a failing logger must not break the server */
      }
    });
    this.route(req, res, rawPath, ev).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      ev.error = e instanceof HttpError ? e.message : 'internal error';
      if (!(e instanceof HttpError)) ev.error = `internal error: ${(e as Error)?.message ?? String(e)}`;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="kseed"');
      // Drain nothing more: a refused upload is not read to the end.
      res.setHeader('Connection', 'close');
      send(res, status, `${e instanceof HttpError ? e.message : 'internal error'}\n`);
    });
  }

  /** The requesting node's address: the TCP peer, or behind nginx (a loopback peer) the address nginx forwards. */
  private clientOf(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '?';
    if (!this.o.behindProxy || !LOOPBACK.test(peer)) return peer;
    const fwd = req.headers['x-forwarded-for'];
    const v = (Array.isArray(fwd) ? fwd.at(-1) : fwd)?.split(',').at(-1)?.trim();
    return v && v.length <= 64 ? v : peer;
  }

  /**
   * nginx's auth_request for Ironic's per-node iPXE config
   * (/pxelinux.cfg/<mac-dashes>, which holds the ramdisk's kernel arguments
   * and so its agent token): 204 only when the asking address is that
   * node's, else 403. nginx answers 404 for this path from outside.
   */
  private async bootAuth(req: IncomingMessage, res: ServerResponse, ev: HttpEvent): Promise<void> {
    if (!this.o.behindProxy || !LOOPBACK.test(req.socket.remoteAddress ?? '')) throw new HttpError(404, 'not found');
    const uri = String(req.headers['x-original-uri'] ?? '').split('?')[0]!;
    const m = /^\/pxelinux\.cfg\/(?:01-)?([0-9a-fA-F]{2}(?:-[0-9a-fA-F]{2}){5})$/.exec(uri);
    if (!m) throw new HttpError(403, 'forbidden');
    const mac = m[1]!.toLowerCase().replace(/-/g, ':');
    const node = await this.o.backend.nodeByMac(mac);
    if (!node || !this.o.backend.admitsBoot || !(await this.o.backend.admitsBoot(node.name, { address: ev.client }))) throw new HttpError(403, 'forbidden');
    ev.node = node.name;
    send(res, 204);
  }

  private async route(req: IncomingMessage, res: ServerResponse, rawPath: string, ev: HttpEvent): Promise<void> {
    let p: string;
    try {
      p = decodeURIComponent(rawPath);
    } catch {
      throw new HttpError(400, 'bad path encoding');
    }
    const method = req.method ?? 'GET';
    const seg = p.split('/').slice(1);

    if (seg[0] === 'artifacts' || seg[0] === 'ipxe') {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      const store = seg[0] === 'artifacts' ? this.artifacts : this.ipxe;
      if (!store) throw new HttpError(404, 'not found');
      const rel = seg.slice(1).join('/');
      const file = await store.resolve(rel);
      if (!file) throw new HttpError(404, 'not found');
      const status = await store.serve(req, res, file);
      if (seg[0] === 'artifacts' && (status === 200 || status === 206)) await this.o.backend.onArtifact?.(rel, status);
      return;
    }
    if (p === '/boot.ipxe' && method === 'GET') {
      send(res, 200, chainScript(this.o.publicUrl));
      return;
    }
    if (seg[0] === 'boot' && seg.length === 2 && method === 'GET') {
      const m = /^(.*)\.ipxe$/.exec(seg[1]!);
      if (!m || !MAC_DASHES.test(m[1]!)) throw new HttpError(404, 'not found');
      res.setHeader('Cache-Control', 'no-store');
      send(res, 200, await this.bootScript(m[1]!.toLowerCase().replace(/-/g, ':'), ev));
      return;
    }
    if (p === '/v1/boot-auth' && method === 'GET') {
      await this.bootAuth(req, res, ev);
      return;
    }
    if (seg[0] === 'v1') {
      await this.api(req, res, seg.slice(1), method, ev);
      return;
    }
    throw new HttpError(404, 'not found');
  }

  private artifactUrl(f: string): string {
    return /^https?:\/\//.test(f) ? f : `${this.o.publicUrl}/artifacts/${f.split('/').map(encodeURIComponent).join('/')}`;
  }

  /** A deploy task's image the seed itself serves (a path) becomes a URL the node reaches. */
  private absolute(t: AgentTask): AgentTask {
    return t.task === 'deploy' && t.imageUrl.startsWith('/') ? { ...t, imageUrl: `${this.o.publicUrl}${t.imageUrl}` } : t;
  }

  /** Unknown MACs and nodes with nothing to do get a script that only exits: never a deploy. */
  private async bootScript(mac: string, ev: HttpEvent): Promise<string> {
    const b = this.o.backend;
    const node = await b.nodeByMac(mac);
    if (!node) return noBootScript(`unknown machine ${mac}, not booting from the network`);
    ev.node = node.name;
    switch (node.action) {
      case 'deploy':
      case 'inspect':
        return ramdiskScript({
          seedUrl: this.o.publicUrl,
          node: node.name,
          token: await this.tokenFor(node.name, ev),
          mac,
          kernelUrl: this.artifactUrl(this.o.ramdisk.kernel),
          initrdUrl: this.artifactUrl(this.o.ramdisk.initrd),
          args: this.o.ramdisk.args,
          purpose: node.action,
        });
      case 'local':
        return localBootScript(node.name);
      case 'chain':
        return node.chainUrl ? chainToScript(node.name, node.chainUrl) : noBootScript(`${node.name}: nothing to chain to`);
      default:
        return noBootScript(`${node.name}: nothing to do`);
    }
  }

  /**
   * The agent token goes only to the node itself (docs/AGENT-API.md "Agent
   * token"): anyone else asking for its boot script gets 403 and changes nothing.
   */
  private async tokenFor(node: string, ev: HttpEvent): Promise<string> {
    const token = await this.o.backend.agentToken(node, { address: ev.client });
    if (token === undefined) throw new HttpError(403, `${ev.client} does not hold ${node}'s address: no boot script`);
    return token;
  }

  private async authorize(req: IncomingMessage, node: string): Promise<void> {
    const h = req.headers.authorization;
    if (h === undefined) throw new HttpError(401, 'authorization required');
    const m = /^Bearer\s+([^\s]+)\s*$/i.exec(h);
    if (!m) throw new HttpError(401, 'authorization required');
    // An unknown node and a wrong token answer the same, so names cannot be probed.
    if (!NODE_NAME.test(node) || !(await this.o.backend.nodeByName(node))) throw new HttpError(403, 'forbidden');
    if (!(await this.o.backend.verifyToken(node, m[1]!))) throw new HttpError(403, 'forbidden');
  }

  private async api(req: IncomingMessage, res: ServerResponse, seg: string[], method: string, ev: HttpEvent): Promise<void> {
    const b = this.o.backend;
    const [area, node, what, ...rest] = seg;
    if (area === 'images' && node !== undefined && what !== undefined && rest.length === 0) {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method not allowed');
      await this.authorize(req, node);
      ev.node = node;
      const file = this.images ? await this.images.resolve(what) : undefined;
      if (!file) throw new HttpError(404, 'not found');
      // a node writing the zeros of a large disk may read nothing for minutes
      await this.images!.serve(req, res, file, { stallMs: 900_000 });
      return;
    }
    if (node === undefined || rest.length > 0) throw new HttpError(404, 'not found');
    const route = `${method} ${area}/${what ?? ''}`;
    const known = new Set([
      'GET agent/task',
      'POST agent/inventory',
      'POST agent/progress',
      'POST agent/result',
      'GET nocloud/meta-data',
      'GET nocloud/user-data',
      'GET nocloud/network-config',
      'POST callback/',
    ]);
    if (!known.has(route)) {
      const anyMethod = [...known].some((k) => k.endsWith(` ${area}/${what ?? ''}`));
      throw new HttpError(anyMethod ? 405 : 404, anyMethod ? 'method not allowed' : 'not found');
    }
    await this.authorize(req, node);
    ev.node = node;
    switch (route) {
      case 'GET agent/task':
        res.setHeader('Cache-Control', 'no-store');
        send(res, 200, formatTask(this.absolute(await b.taskFor(node))));
        return;
      case 'POST agent/inventory': {
        let json: unknown;
        try {
          json = JSON.parse((await this.body(req)).toString('utf8'));
        } catch (e) {
          if (e instanceof HttpError) throw e;
          throw new HttpError(400, 'inventory: not valid JSON');
        }
        try {
          await b.onInventory(node, parseInventory(json));
        } catch (e) {
          if (e instanceof InventoryError) throw new HttpError(400, e.message);
          throw e;
        }
        send(res, 200, 'ok\n');
        return;
      }
      case 'POST agent/progress': {
        const p = formOrBad(parseProgress, await this.form(req));
        await b.onProgress(node, p);
        send(res, 204);
        return;
      }
      case 'POST agent/result': {
        const r = formOrBad(parseResult, await this.form(req));
        try {
          await b.onResult(node, r);
        } catch (e) {
          if (e instanceof ResultRefused) throw new HttpError(409, e.message);
          throw e;
        }
        send(res, 204);
        return;
      }
      case 'POST callback/': {
        const f = await this.form(req);
        const fields: Record<string, string> = {};
        let n = 0;
        for (const [k, v] of f) {
          if (++n > 64) throw new HttpError(400, 'callback: too many fields');
          fields[k.slice(0, 64)] = v.slice(0, 1024);
        }
        const stage = fields.stage ?? '';
        if (!WORD.test(stage)) throw new HttpError(400, 'callback: stage must be a word');
        const cb: NodeCallback = { stage, fields, ...(fields.hostname !== undefined ? { hostname: fields.hostname } : {}) };
        await b.onCallback(node, cb);
        send(res, 204);
        return;
      }
      default: {
        const data = await b.nocloud(node);
        const body = what === 'meta-data' ? data?.metaData : what === 'user-data' ? data?.userData : data?.networkConfig;
        if (body === undefined) throw new HttpError(404, 'not found');
        res.setHeader('Cache-Control', 'no-store');
        send(res, 200, body);
      }
    }
  }

  private body(req: IncomingMessage): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.maxBody) return Promise.reject(new HttpError(413, 'request body too large'));
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let len = 0;
      req.on('data', (c: Buffer) => {
        len += c.length;
        if (len > this.maxBody) {
          reject(new HttpError(413, 'request body too large'));
          req.destroy();
          return;
        }
        parts.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(parts)));
      req.on('error', reject);
    });
  }

  private async form(req: IncomingMessage): Promise<URLSearchParams> {
    return new URLSearchParams((await this.body(req)).toString('utf8'));
  }
}
