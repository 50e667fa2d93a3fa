/**
 * The README and the docs are read on npmjs.com and in node_modules, where only the published files
 * exist: every relative link in a published Markdown file must point at a published file (what
 * `npm pack --dry-run` lists) or at a heading of one. Absolute http(s) URLs and in-page anchors
 * (to a heading that exists) are allowed; the repository's other folders (examples/, tests/, bench/)
 * are named as code text, not linked.
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packedFiles, repoRoot } from './consumer.js';
import { headingAnchors, links } from './markdown.js';

let packed: Set<string>;

beforeAll(() => {
  packed = new Set(packedFiles());
}, 60_000);

/** What is wrong with `target`, linked from published file `from`, or undefined if nothing. */
function problem(from: string, target: string): string | undefined {
  if (/^https?:\/\//i.test(target)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return 'only http(s) URLs may be absolute';
  const hash = target.indexOf('#');
  const path = decodeURI(hash < 0 ? target : target.slice(0, hash));
  const anchor = hash < 0 ? undefined : target.slice(hash + 1);
  const file = path === '' ? from : posix.normalize(posix.join(posix.dirname(from), path)).replace(/\/$/, '');
  if (path.startsWith('/')) return 'a site-absolute path means nothing on npm';
  if (!packed.has(file)) {
    const isFolder = [...packed].some((f) => f.startsWith(`${file}/`));
    if (!isFolder) return `${file} is not in the package (files: ${JSON.stringify(readPackageFiles())})`;
    if (anchor !== undefined) return `${file} is a folder: it has no anchors`;
    return undefined;
  }
  if (anchor !== undefined && anchor !== '' && file.endsWith('.md')) {
    const anchors = headingAnchors(readFileSync(`${repoRoot}/${file}`, 'utf8'));
    if (!anchors.has(anchor)) return `no heading of ${file} has the anchor #${anchor}`;
  }
  return undefined;
}

function readPackageFiles(): unknown {
  return (JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as { files?: unknown }).files;
}

describe('links in the published Markdown files', () => {
  it('publishes the README', () => {
    expect(packed.has('README.md')).toBe(true);
  });

  it('link only to published files, their headings, or http(s) URLs', () => {
    const markdown = [...packed].filter((f) => f.endsWith('.md') && !f.startsWith('dist/')).sort();
    expect(markdown).toContain('README.md');
    const bad: string[] = [];
    let checked = 0;
    for (const file of markdown) {
      for (const link of links(readFileSync(`${repoRoot}/${file}`, 'utf8'))) {
        checked++;
        const why = problem(file, link.target);
        if (why) bad.push(`${file}:${link.line}: ${link.target}: ${why}`);
      }
    }
    expect(bad).toEqual([]);
    expect(checked).toBeGreaterThan(0);
  });

  it('finds links outside code, and the anchors of headings (the parser this test relies on)', () => {
    const md = [
      '# Top',
      'See [a](docs/a.md#part), ![img](pic.png "title") and `[not](code.md)`.',
      '```md',
      '[not](fenced.md)',
      '## Not a heading',
      '```',
      '## Task functions: context, `larkflow/testing`',
      '[ref]: <https://example.com/x>',
      '<a href="other.md">x</a> and a span ``[not](x.md)`` over',
      '`two',
      'lines [not](y.md)`',
      '## Top',
    ].join('\n');
    expect(links(md)).toEqual([
      { target: 'docs/a.md#part', line: 2 },
      { target: 'pic.png', line: 2 },
      { target: 'https://example.com/x', line: 8 },
      { target: 'other.md', line: 9 },
    ]);
    expect([...headingAnchors(md)]).toEqual(['top', 'task-functions-context-larkflowtesting', 'top-1']);
  });
});
