/**
 * Helpers for the package tests: what `npm pack` puts in the tarball, and a scratch consumer
 * project that sees larkflow as npm would install it, with nothing of our development setup.
 *
 * The consumer's `node_modules` holds the extracted tarball and symlinks to the repo's copies of
 * the packages npm would install with larkflow: its `dependencies` and required
 * `peerDependencies` (npm 7+ installs those), with their own dependencies, found by Node's
 * resolution from each package's real directory. devDependencies are not linked unless something
 * on that list needs them. The scratch directory lives under the OS temp directory, outside the
 * repository, so that no `node_modules` of the repo is an ancestor of it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root directory. */
export const repoRoot = realpathSync(fileURLToPath(new URL('../..', import.meta.url)));

/** The fields of a package.json these tests read. */
export interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly files?: readonly string[];
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
}

export function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** The names npm installs with a package: its dependencies and its required peer dependencies. */
export function installedWith(pkg: PackageJson): string[] {
  const peers = Object.keys(pkg.peerDependencies ?? {}).filter((n) => pkg.peerDependenciesMeta?.[n]?.optional !== true);
  return [...new Set([...Object.keys(pkg.dependencies ?? {}), ...peers])];
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Runs npm in the repository without lifecycle scripts (no rebuild) and without the network. */
function npmPack(args: readonly string[]): string {
  return execFileSync(npm, ['pack', '--ignore-scripts', '--offline', '--json', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
}

/** The paths (relative, `/`-separated) of the files `npm pack` would publish. */
export function packedFiles(): string[] {
  const out = JSON.parse(npmPack(['--dry-run'])) as { files: { path: string }[] }[];
  return out[0]!.files.map((f) => f.path);
}

/** Packs the repository (as it is built now) into `dest`; returns the tarball's path. */
export function packTarball(dest: string): string {
  const out = JSON.parse(npmPack(['--pack-destination', dest])) as { filename: string }[];
  return join(dest, out[0]!.filename);
}

/** A scratch consumer project. */
export interface Consumer {
  readonly dir: string;
  /** Packages linked into its node_modules so far (names). */
  readonly linked: Set<string>;
  /** Links `names` (resolved from the repo root) and everything they depend on. */
  link(names: readonly string[]): void;
}

/**
 * Makes a consumer project in a new temp directory: `node_modules/larkflow` is `tarball`
 * extracted, and the packages npm installs with larkflow are linked.
 * @throws Error if an ancestor of the temp directory has a node_modules (the test would not be isolated)
 */
export function makeConsumer(tarball: string): Consumer {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'larkflow-consumer-')));
  for (let d = dirname(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) throw new Error(`${d}/node_modules is visible from ${dir}: the consumer would not be isolated`);
    if (d === parse(d).root) break;
  }
  const own = join(dir, 'node_modules', 'larkflow');
  mkdirSync(own, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', own, '--strip-components=1']);
  const linked = new Set<string>();
  const seen = new Set<string>();
  // Real paths throughout (the repo's node_modules may itself be a link).
  const modules = realpathSync(join(repoRoot, 'node_modules'));
  const top = dirname(modules);

  /** Node's resolution of package `name` from directory `from`: its directory, or undefined. */
  const resolve = (name: string, from: string): string | undefined => {
    for (let d = from; ; d = dirname(d)) {
      if (!d.endsWith(`${sep}node_modules`)) {
        const candidate = join(d, 'node_modules', name);
        if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
      }
      if (d === top || d === parse(d).root) return undefined;
    }
  };

  const visit = (name: string, from: string, required: boolean): void => {
    const at = resolve(name, from);
    if (at === undefined) {
      if (required) throw new Error(`${name} (needed from ${from}) is not installed in ${repoRoot}/node_modules`);
      return;
    }
    if (seen.has(at)) return;
    seen.add(at);
    // A package hoisted to the repo's node_modules is linked at the same place in the consumer; a
    // nested one comes along inside the package that holds it.
    const hoisted = join(modules, name);
    if (at === hoisted && !linked.has(name)) {
      const link = join(dir, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(at, link, 'dir');
      linked.add(name);
    } else if (!at.startsWith(modules + sep)) {
      throw new Error(`${name} resolves outside ${modules}: ${at}`);
    }
    const pkg = readPackageJson(at);
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, at, true);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, at, false);
    // npm 7+ installs required peers; optional ones only if the consumer asks for them.
    for (const dep of installedWith({ ...pkg, dependencies: {} })) visit(dep, at, true);
  };

  return {
    dir,
    linked,
    link(names) {
      for (const n of names) visit(n, top, true);
    },
  };
}
