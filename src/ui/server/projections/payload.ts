/**
 * This file decides how a value from a history travels to the browser: inline as JSON when it is
 * small, or as a `PayloadRef` (a URL to fetch it whole, its size and the start of its JSON) when it
 * is large or lives in blob storage, so a step card with a 50 MB result does not freeze the page.
 */
import { isBlobMarker } from '../../../engine/cache/index.js';
import type { Json } from '../../../engine/index.js';
import type { JsonValue, PayloadRef } from '../../api-types.js';

/** Values whose JSON is longer than this many characters travel as references. */
export const INLINE_LIMIT = 16 * 1024;
/** Characters of JSON a reference shows. */
export const PREVIEW_CHARS = 200;

/** Which value of an event a reference names: `result`, `args.I` or `kwargs.NAME`. */
export type PayloadPart = string;

/** The relative URL of a value of event `seq` (resolved against the page's `<base href>`). */
export function payloadUrl(runId: string, seq: number, part: PayloadPart): string {
  return `api/runs/${encodeURIComponent(runId)}/payload?seq=${seq}&part=${encodeURIComponent(part)}`;
}

/** `v` inline, or a reference to it when it is large or a blob marker. */
export function inlineOrRef(v: Json, ref: () => string, limit = INLINE_LIMIT): JsonValue | PayloadRef {
  if (isBlobMarker(v)) return { $ref: ref(), bytes: v.size, preview: `(stored as blob ${v.$blob.slice(0, 12)}: ${v.uri})` };
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'string' && v.length > limit) return { $ref: ref(), bytes: Buffer.byteLength(JSON.stringify(v)), preview: JSON.stringify(v.slice(0, PREVIEW_CHARS)).slice(0, PREVIEW_CHARS) };
    return v as JsonValue;
  }
  const text = JSON.stringify(v);
  if (text.length <= limit) return v as JsonValue;
  return { $ref: ref(), bytes: Buffer.byteLength(text), preview: text.slice(0, PREVIEW_CHARS) };
}

/** The value `part` names in an event, or undefined. */
export function partOf(event: { readonly [k: string]: unknown }, part: PayloadPart): Json | undefined {
  if (part === 'result') return event.result as Json | undefined;
  if (part === 'value') return event.value as Json | undefined;
  if (part === 'payload') return event.payload as Json | undefined;
  const m = /^(args|kwargs)\.(.+)$/.exec(part);
  if (!m) return undefined;
  const holder = event[m[1]!];
  if (m[1] === 'args') {
    if (!Array.isArray(holder) || !/^\d+$/.test(m[2]!)) return undefined;
    return holder[Number(m[2])] as Json | undefined;
  }
  if (holder === null || typeof holder !== 'object' || !Object.prototype.hasOwnProperty.call(holder, m[2]!)) return undefined;
  return (holder as Record<string, Json>)[m[2]!];
}
