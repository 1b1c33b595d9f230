// Content negotiation for GET /logits and conditional requests. Arrow is the product;
// JSON is for debugging, so Arrow wins every tie (the Python client sends both types).

export const ARROW_STREAM = 'application/vnd.apache.arrow.stream';
export const JSON_TYPE = 'application/json';

export type BatchFormat = 'arrow' | 'json';

interface Range { type: string; subtype: string; q: number }

function parseAccept(header: string): Range[] {
  const out: Range[] = [];
  for (const part of header.split(',')) {
    const [media, ...params] = part.trim().split(';');
    const [type, subtype] = media.trim().toLowerCase().split('/');
    if (!type || !subtype) continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.trim().split('=');
      if (k?.trim().toLowerCase() === 'q') {
        const n = Number(v);
        q = Number.isFinite(n) ? Math.min(Math.max(n, 0), 1) : 0;
      }
    }
    out.push({ type, subtype, q });
  }
  return out;
}

/** Quality of `mime` under `ranges`: the most specific matching range decides. */
function quality(ranges: Range[], mime: string): number {
  const [type, subtype] = mime.split('/');
  let best = -1, q = 0;
  for (const r of ranges) {
    const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' && r.subtype === '*' ? 0 : -1;
    if (specificity > best) { best = specificity; q = r.q; }
  }
  return q;
}

/** The format to answer in, or null when the client accepts neither (406). */
export function chooseFormat(format: BatchFormat | undefined, accept: string | undefined): BatchFormat | null {
  if (format) return format;
  if (!accept || !accept.trim()) return 'arrow';
  const ranges = parseAccept(accept);
  const arrow = quality(ranges, ARROW_STREAM);
  const json = quality(ranges, JSON_TYPE);
  if (arrow <= 0 && json <= 0) return null;
  return json > arrow ? 'json' : 'arrow';
}

/** If-None-Match uses weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const want = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === want);
}
