/**
 * A small XML writer for EC2 Query responses. EC2 renders lists as a wrapper element holding one
 * `<item>` per entry (`<tagSet><item><key>…</key></item></tagSet>`), which is what this writer does
 * with arrays; `undefined` and `null` members are left out, exactly like absent optional fields.
 */
export type XmlValue = string | number | boolean | Date | null | undefined | XmlObject | readonly XmlValue[];
export interface XmlObject {
  readonly [element: string]: XmlValue;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escape text for use in element content or attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function scalarText(value: string | number | boolean | Date): string {
  if (value instanceof Date) return value.toISOString();
  return escapeXml(String(value));
}

/** Render one element named `name` holding `value` (nothing at all when the value is absent). */
export function element(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) {
    const items = (value as readonly XmlValue[]).map((v) => element('item', v)).join('');
    return items ? `<${name}>${items}</${name}>` : `<${name}/>`;
  }
  if (typeof value === 'object' && !(value instanceof Date)) {
    return `<${name}>${children(value as XmlObject)}</${name}>`;
  }
  return `<${name}>${scalarText(value as string | number | boolean | Date)}</${name}>`;
}

/** Render the members of an object as a sequence of sibling elements, in insertion order. */
export function children(value: XmlObject): string {
  let out = '';
  for (const [name, member] of Object.entries(value)) out += element(name, member);
  return out;
}

/** A complete document with an XML declaration and a namespaced root element. */
export function document(root: string, namespace: string, body: XmlObject): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${escapeXml(namespace)}">${children(body)}</${root}>`;
}
