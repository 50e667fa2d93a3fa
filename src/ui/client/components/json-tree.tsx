/**
 * A collapsible JSON tree. Values are rendered as text nodes (Preact escapes them), never as HTML.
 * A PayloadRef (`{ $ref, bytes, preview }`, a large value stored outside the history) is shown as
 * its digest, size and preview. Long arrays and objects show their first entries and a "more" button.
 */
import { useState } from 'preact/hooks';
import type { JsonValue, PayloadRef } from '../../api-types';
import { fmtBytes } from '../format';

const CHUNK = 50;

export function isPayloadRef(v: unknown): v is PayloadRef {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as PayloadRef).$ref === 'string' && typeof (v as PayloadRef).bytes === 'number';
}

export function RefView(props: { value: PayloadRef }): preact.JSX.Element {
  const r = props.value;
  return (
    <span class="payload-ref" title={r.$ref}>
      <span class="ref-tag">large value</span> <span class="muted">{fmtBytes(r.bytes)}</span>
      {r.preview ? <code class="ref-preview">{r.preview}</code> : null}
      <a href={r.$ref} target="_blank" rel="noopener noreferrer" data-external="" class="small">
        open whole ↗
      </a>
    </span>
  );
}

function Scalar(props: { value: JsonValue }): preact.JSX.Element {
  const v = props.value;
  if (v === null) return <span class="j-null">null</span>;
  switch (typeof v) {
    case 'string':
      return <span class="j-str">{JSON.stringify(v)}</span>;
    case 'number':
      return <span class="j-num">{String(v)}</span>;
    case 'boolean':
      return <span class="j-bool">{String(v)}</span>;
    default:
      return <span>{String(v)}</span>;
  }
}

function Node(props: { name?: string; value: JsonValue | PayloadRef; depth: number; open: number }): preact.JSX.Element {
  const { name, value, depth } = props;
  const [expanded, setExpanded] = useState(depth < props.open);
  const [shown, setShown] = useState(CHUNK);
  const label = name !== undefined ? <span class="j-key">{name}: </span> : null;
  if (isPayloadRef(value)) {
    return (
      <div class="j-row">
        {label}
        <RefView value={value} />
      </div>
    );
  }
  if (value === null || typeof value !== 'object') {
    return (
      <div class="j-row">
        {label}
        <Scalar value={value} />
      </div>
    );
  }
  const entries: [string, JsonValue][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  const [l, r] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) {
    return (
      <div class="j-row">
        {label}
        <span class="j-punct">{l + r}</span>
      </div>
    );
  }
  return (
    <div class="j-node">
      <button type="button" class="j-toggle" aria-expanded={expanded} onClick={() => setExpanded(!expanded)}>
        <span class="j-caret">{expanded ? '▾' : '▸'}</span>
        {label}
        <span class="j-punct">{l}</span>
        {expanded ? null : <span class="muted"> {entries.length} {Array.isArray(value) ? 'items' : 'keys'} </span>}
        {expanded ? null : <span class="j-punct">{r}</span>}
      </button>
      {expanded ? (
        <div class="j-children">
          {entries.slice(0, shown).map(([k, v]) => (
            <Node key={k} name={Array.isArray(value) ? undefined : k} value={v} depth={depth + 1} open={props.open} />
          ))}
          {entries.length > shown ? (
            <button type="button" class="link-button small" onClick={() => setShown(shown + CHUNK * 4)}>
              {entries.length - shown} more…
            </button>
          ) : null}
          <span class="j-punct">{r}</span>
        </div>
      ) : null}
    </div>
  );
}

/** `open`: how many levels start expanded (default 2). */
export function JsonTree(props: { value: JsonValue | PayloadRef | undefined; open?: number }): preact.JSX.Element {
  if (props.value === undefined) return <span class="muted">—</span>;
  return (
    <div class="json-tree">
      <Node value={props.value} depth={0} open={props.open ?? 2} />
    </div>
  );
}

/** A short value on one line (`args: [4] · kwargs: {}`), a longer one as a JSON tree. */
export function Compact(props: { value: JsonValue | PayloadRef }): preact.JSX.Element {
  const v = props.value;
  if (!isPayloadRef(v)) {
    const text = JSON.stringify(v);
    if (text.length <= 140) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
        return (
          <div class="compact mono">
            {Object.entries(v).map(([k, x]) => (
              <span key={k} class="compact-item">
                <span class="j-key">{k}:</span> <span>{JSON.stringify(x)}</span>
              </span>
            ))}
          </div>
        );
      }
      return <div class="compact mono">{text}</div>;
    }
  }
  return <JsonTree value={v} />;
}
