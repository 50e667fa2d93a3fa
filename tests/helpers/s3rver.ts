/**
 * Test helpers for a real S3-compatible server on 127.0.0.1: s3rver in a child process of its own
 * (its truncated listings need Node's `--openssl-legacy-provider`; it accepts only its default
 * credentials, S3RVER/S3RVER), which can be stopped and started again on the same port and
 * directory (a server going down and coming back), and a small HTTP proxy in front of it that
 * answers chosen requests with an error (s3rver itself never returns 5xx).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The pinned SDK runs on Node 20 but warns (once per process) that releases after January 2027
// will need Node 22; the warning is not what the tests are about.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The only credentials s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Run with `node --openssl-legacy-provider -e`: prints {"port": n} once listening, exits when stdin closes. */
const S3RVER_MAIN = `
const S3rver = require('s3rver');
const [directory, bucket, port] = process.argv.slice(1);
const server = new S3rver({ port: Number(port), address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
server.run().then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'), (e) => { console.error(String(e && e.stack || e)); process.exit(1); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export interface S3rverOptions {
  /** Where s3rver keeps its objects (kept across restarts). */
  readonly directory: string;
  /** A bucket it creates. */
  readonly bucket: string;
  /** @default a free port, kept across restarts */
  readonly port?: number;
}

/** A running (or stopped) s3rver child process. */
export class S3rver {
  private child: ChildProcess | undefined;
  private constructor(
    private readonly options: S3rverOptions,
    /** The port, the same after a restart. */
    public port: number,
  ) {}

  /** Starts s3rver and waits until it listens. */
  static async start(options: S3rverOptions): Promise<S3rver> {
    const s = new S3rver(options, options.port ?? 0);
    await s.start();
    return s;
  }

  /** `http://127.0.0.1:PORT`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts it (again, on the same port and directory); a no-op if it runs. */
  async start(): Promise<void> {
    if (this.running) return;
    // Right after a stop the port may still be held for a moment: try a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.spawnOnce();
        return;
      } catch (e) {
        if (attempt >= 20 || !/EADDRINUSE/.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private spawnOnce(): Promise<void> {
    const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', S3RVER_MAIN, this.options.directory, this.options.bucket, String(this.port)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`s3rver did not start in 15 s: ${err}`));
      }, 15_000);
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n') && line) {
          clearTimeout(timer);
          this.port = (JSON.parse(line) as { port: number }).port;
          this.child = child;
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with ${code}: ${err}`));
      });
    });
  }

  /** Stops it and waits until it has exited (its port no longer accepts connections). */
  stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.stdin!.end();
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    });
  }
}

/** Decides, per request, whether the proxy fails it: return a status (e.g. 503) or undefined to forward it. */
export type FaultRule = (req: IncomingMessage, count: { readonly requests: number; readonly puts: number }) => number | undefined;

/** An HTTP proxy on 127.0.0.1 in front of an S3 endpoint that fails the requests a rule picks. */
export class FaultProxy {
  requests = 0;
  puts = 0;
  /** Requests it failed, as "METHOD status". */
  readonly failed: string[] = [];

  private constructor(
    private readonly server: Server,
    private readonly upstream: () => string,
    public rule: FaultRule,
  ) {}

  /** `upstream` is read per request, so the server behind it may move. */
  static async start(upstream: () => string, rule: FaultRule): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((req, res) => proxy.handle(req, res));
    proxy = new FaultProxy(server, upstream, rule);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    if (req.method === 'PUT') this.puts++;
    const status = this.rule(req, { requests: this.requests, puts: this.puts });
    if (status !== undefined) {
      this.failed.push(`${req.method} ${status}`);
      req.resume();
      const code = status === 503 ? 'ServiceUnavailable' : status === 500 ? 'InternalError' : 'SlowDown';
      res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the test proxy</Message></Error>`);
      return;
    }
    // Forward as is: the Host header the client signed stays the proxy's, which is what s3rver checks.
    const up = new URL(req.url ?? '/', this.upstream());
    const fwd = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    fwd.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(fwd);
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}
