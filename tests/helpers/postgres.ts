/**
 * A real PostgreSQL server for tests: Debian's `initdb` + `pg_ctl` in a temp directory, listening
 * on 127.0.0.1 only, on a free port, with synchronous commit on (the defaults). Stopped by its
 * postmaster pid. As root (CI), the server runs as the `postgres` user, because initdb refuses root.
 *
 *   const pg = await startPostgres();
 *   // pg.url = postgres://postgres@127.0.0.1:PORT/postgres
 *   await pg.stop();
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** The postmaster's pid (changes after a restart). */
  pid(): number;
  /** A URL of a new, empty database on this server. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server fast (SIGINT to the postmaster), as a crash-free restart would. */
  stop(): Promise<void>;
  /** Stops it immediately (SIGQUIT: no checkpoint; recovery runs at the next start). */
  crash(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/** Where Debian's server binaries are, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0]!, 'bin');
  }
  try {
    const out = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(out, 'initdb'))) return out;
  } catch {
    // no pg_config
  }
  return undefined;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function asServerUser(bin: string, args: string[]): { cmd: string; args: string[] } {
  return isRoot ? { cmd: 'runuser', args: ['-u', 'postgres', '--', bin, ...args] } : { cmd: bin, args };
}

function run(bin: string, args: string[]): Promise<void> {
  const c = asServerUser(bin, args);
  return new Promise((resolve, reject) => {
    const p = spawn(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
}

/** Starts a fresh server. Throws with the reason if PostgreSQL is not installed. */
export async function startPostgres(options: { readonly settings?: Readonly<Record<string, string>> } = {}): Promise<PgServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found: install Debian\'s "postgresql" package (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'larkflow-pg-'));
  const dataDir = join(dir, 'data');
  if (isRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    max_connections: '200',
    shared_buffers: '64MB',
    ...options.settings,
  };
  const opts = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  let pid = 0;
  const start = async (): Promise<void> => {
    await run(join(bin, 'pg_ctl'), ['-D', dataDir, '-o', opts, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  };
  const stopWith = async (sig: NodeJS.Signals): Promise<void> => {
    if (pid > 0 && alive(pid)) {
      process.kill(pid, sig);
      await waitGone(pid, 30_000);
    }
  };
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dataDir,
    pid: () => pid,
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      await run(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q', '-c', `CREATE DATABASE ${name}`]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop: () => stopWith('SIGINT'),
    crash: () => stopWith('SIGQUIT'),
    start,
    async destroy() {
      await stopWith('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
