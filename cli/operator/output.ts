/** Output of the operator CLI: aligned tables for people, JSON / CSV for scripts, written with backpressure. */

export interface Output {
  /** Write text to stdout, waiting when the pipe is full. */
  write(text: string): Promise<void>;
  line(text?: string): Promise<void>;
  /** A note for the person at the terminal (stderr), never mixed into data. */
  note(text: string): void;
}

export function stdout(): Output {
  const write = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      if (process.stdout.write(text)) return resolve();
      const onDrain = () => {
        process.stdout.off('error', onError);
        resolve();
      };
      const onError = (e: Error) => {
        process.stdout.off('drain', onDrain);
        reject(e);
      };
      process.stdout.once('drain', onDrain);
      process.stdout.once('error', onError);
    });
  return {
    write,
    line: (text = '') => write(`${text}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
  };
}

export type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell; an empty table prints `empty` instead of only a header. */
export function table(headers: string[], rows: Cell[][], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), ...cells.map(fmt)].join('\n');
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; quotes doubled. */
export function csvField(value: Cell): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const csvRow = (values: Cell[]): string => `${values.map(csvField).join(',')}\r\n`;

/** `2026-11-22T10:00:00.000Z` → `2026-11-22 10:00:00Z` for tables. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export const json = (value: unknown): string => JSON.stringify(value, null, 2);
