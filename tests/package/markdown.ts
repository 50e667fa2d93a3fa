/**
 * Just enough Markdown for the package tests: fenced code blocks (with the heading they sit under),
 * link targets outside code, and the anchors GitHub gives headings. Not a CommonMark parser: it
 * knows fences, code spans, inline links and images, reference definitions and `href="..."`.
 */

/** A fenced code block. */
export interface CodeBlock {
  /** The info string's first word (`ts`, `python`...), or ''. */
  readonly lang: string;
  readonly text: string;
  /** The text of the last heading before the block ('' before the first). */
  readonly heading: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
}

/** A link target and the 1-based line it is on. */
export interface Link {
  readonly target: string;
  readonly line: number;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)?.*$/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;

/** Splits a document into its fenced code blocks and the rest (fence lines blanked, line numbers kept). */
function splitFences(md: string): { prose: string; blocks: CodeBlock[] } {
  const lines = md.split('\n');
  const prose: string[] = [];
  const blocks: CodeBlock[] = [];
  let heading = '';
  let open: { fence: string; lang: string; line: number; body: string[] } | undefined;
  lines.forEach((line, i) => {
    if (open) {
      const close = line.match(/^ {0,3}(`{3,}|~{3,})\s*$/);
      if (close && close[1]![0] === open.fence[0] && close[1]!.length >= open.fence.length) {
        blocks.push({ lang: open.lang, text: open.body.join('\n') + '\n', heading, line: open.line });
        open = undefined;
      } else {
        open.body.push(line);
      }
      prose.push('');
      return;
    }
    const fence = line.match(FENCE);
    if (fence) {
      open = { fence: fence[1]!, lang: fence[2] ?? '', line: i + 1, body: [] };
      prose.push('');
      return;
    }
    const h = line.match(HEADING);
    if (h) heading = h[2]!;
    prose.push(line);
  });
  return { prose: prose.join('\n'), blocks };
}

/** The document's fenced code blocks, in order. */
export function codeBlocks(md: string): CodeBlock[] {
  return splitFences(md).blocks;
}

/** `text` with its code spans blanked (newlines kept, so line numbers stay). */
function blankCodeSpans(text: string): string {
  return text.replace(/(`+)(?!`)([\s\S]*?[^`])\1(?!`)/g, (span) => span.replace(/[^\n]/g, ' '));
}

/** Every link target outside code: inline links and images, reference definitions, href attributes. */
export function links(md: string): Link[] {
  const text = blankCodeSpans(splitFences(md).prose);
  const out: Link[] = [];
  const lineAt = (index: number): number => text.slice(0, index).split('\n').length;
  const patterns = [
    /!?\[(?:[^\]\\]|\\.)*\]\(\s*<([^>]*)>(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
    /!?\[(?:[^\]\\]|\\.)*\]\(\s*([^\s)<]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
    /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/gm,
    /\bhref\s*=\s*["']([^"']+)["']/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) out.push({ target: m[1]!, line: lineAt(m.index) });
  return out.sort((a, b) => a.line - b.line);
}

/** The anchors GitHub gives the document's headings (`## Task options` is `#task-options`). */
export function headingAnchors(md: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const line of splitFences(md).prose.split('\n')) {
    const h = line.match(HEADING);
    if (!h) continue;
    const base = h[2]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}
