import { CliScoreReportsDocument, type CliScoreReportsQuery, type ScoreReportFilter } from '../__generated__/operations.ts';
import type { OperatorClient } from './client.ts';
import { usage } from './errors.ts';
import { definitionIdsByName } from './definitions.ts';
import { csvRow, type Output } from './output.ts';
import { allPages, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './pages.ts';
import { parseInstant } from './sessions.ts';

/**
 * `lcm reports export`: every matching score report, all pages, streamed to stdout page by page: CSV
 * (a header row, RFC 4180 quoting, CRLF line ends) or one JSON array. `--definition NAME` means every
 * version of that definition.
 */
export type Report = CliScoreReportsQuery['scoreReports']['edges'][number]['node'];

export const CSV_COLUMNS = [
  'id',
  'sessionId',
  'definitionId',
  'definitionName',
  'definitionVersion',
  'owner',
  'score',
  'maxScore',
  'cutScore',
  'passed',
  'submittedAt',
  'sections',
] as const;

export function csvLine(r: Report): string {
  return csvRow([
    r.id,
    r.session.id,
    r.definitionId,
    r.session.definition.name,
    r.session.definition.version,
    r.owner,
    r.score,
    r.maxScore,
    r.cutScore,
    r.passed,
    r.submittedAt,
    JSON.stringify(r.sections),
  ]);
}

export interface ExportOptions {
  format?: string;
  definition?: string;
  owner?: string;
  passed?: string;
  since?: string;
  until?: string;
  pageSize?: string;
}

export async function exportReports(client: OperatorClient, opts: ExportOptions, out: Output): Promise<number> {
  const format = (opts.format ?? 'csv').toLowerCase();
  if (format !== 'csv' && format !== 'json') throw usage(`--format: csv or json, got "${opts.format}"`);
  let passed: boolean | undefined;
  if (opts.passed !== undefined) {
    if (!['true', 'false'].includes(opts.passed.toLowerCase())) throw usage(`--passed: true or false, got "${opts.passed}"`);
    passed = opts.passed.toLowerCase() === 'true';
  }
  const pageSize = opts.pageSize === undefined ? DEFAULT_PAGE_SIZE : Number(opts.pageSize);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw usage(`--page-size: an integer 1..${MAX_PAGE_SIZE}, got "${opts.pageSize}"`);
  const base: ScoreReportFilter = {
    ...(opts.owner !== undefined ? { owner: opts.owner } : {}),
    ...(passed !== undefined ? { passed } : {}),
    ...(opts.since !== undefined ? { submittedAfter: parseInstant(opts.since, '--since') } : {}),
    ...(opts.until !== undefined ? { submittedBefore: parseInstant(opts.until, '--until') } : {}),
  };
  const filters: ScoreReportFilter[] =
    opts.definition !== undefined ? (await definitionIdsByName(client, opts.definition)).map((definitionId) => ({ ...base, definitionId })) : [base];

  let count = 0;
  if (format === 'csv') await out.write(csvRow([...CSV_COLUMNS]));
  else await out.write('[');
  for (const filter of filters) {
    const pages = allPages((first, after) => client.request(CliScoreReportsDocument, { first, after, filter }).then((r) => r.scoreReports), pageSize);
    for await (const r of pages) {
      if (format === 'csv') await out.write(csvLine(r));
      else await out.write(`${count === 0 ? '\n' : ',\n'}${JSON.stringify(r)}`);
      count++;
    }
  }
  if (format === 'json') await out.write(count === 0 ? ']\n' : '\n]\n');
  return count;
}
