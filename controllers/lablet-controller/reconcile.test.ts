import { describe, expect, it } from 'vitest';
import type { DocumentNode } from 'graphql';
import { GraphQLRequestError } from '../../core/graphql/client.ts';
import { silentLogger } from '../../core/logging.ts';
import type { ControllerDeps } from '../kit/role.ts';
import type { LabletClients } from './clients.ts';
import { DEFAULT_SETTINGS } from './index.ts';
import { LcPublishReportDocument, LcSessionDocument, type LcSessionFragment } from './__generated__/operations.ts';
import { LabletReconciler } from './reconcile.ts';

const now = new Date('2026-11-29T13:25:00Z');

/** A GRADING session whose grading is done, as the gateway answers it. */
const grading = {
  id: 'ses_1',
  status: 'GRADING',
  revision: 12,
  owner: 'student',
  timeslotStart: null,
  timeslotEnd: null,
  cmlLabId: 'lab_1',
  pipelineProgress: { grading: { requestedAt: now.toISOString(), attempts: 1 } },
  allocatedPorts: [],
  definition: { id: 'def_1', name: 'lab', version: '1.0.0', labYaml: '', bootLeadTimeMinutes: 5, portTemplate: [] },
  worker: { id: 'wkr_1', status: 'RUNNING', ipAddress: '127.0.0.1' },
  userSession: null,
  gradingSession: { id: 'grd_1', status: 'GRADING', externalId: 'ext_1', faultReason: null },
  scoreReport: null,
} as unknown as LcSessionFragment;

describe('lablet reconcile', () => {
  it('a conflict that does not go away (every publish refused) is thrown after a few looks, not spun on', async () => {
    const calls: string[] = [];
    const client = {
      request: (document: DocumentNode) => {
        if (document === LcSessionDocument) {
          calls.push('read');
          return Promise.resolve({ session: grading });
        }
        if (document === LcPublishReportDocument) {
          calls.push('publish');
          // What the score-reports subgraph answers while the session's status projection is behind.
          return Promise.reject(new GraphQLRequestError([{ message: 'LabletSession ses_1 is COLLECTING', extensions: { code: 'CONFLICT' } }]));
        }
        return Promise.reject(new Error(`unexpected request ${calls.length}`));
      },
    };
    const clients = {
      grading: { get: () => Promise.resolve({ id: 'ext_1', status: 'SUBMITTED', scoreReport: { score: 8, maxScore: 10, sections: [] } }) },
    } as unknown as LabletClients;
    const outcomes: string[] = [];
    const reconciler = new LabletReconciler(
      { client, clock: () => now, logger: silentLogger } as unknown as ControllerDeps,
      clients,
      { settings: { ...DEFAULT_SETTINGS, bootTimeoutMs: 60_000, gradingTimeoutMs: 600_000 }, labActionTimeoutMs: 1000 },
      (action, outcome) => outcomes.push(`${action}:${outcome}`),
    );

    const result = reconciler.reconcile('ses_1', { signal: new AbortController().signal, retries: 0, logger: undefined });
    await expect(result).rejects.toMatchObject({ code: 'CONFLICT' });
    // Before: 40 steps of read + publish, then `requeueAfterMs: 0` — a silent hot loop, for good.
    expect(calls.filter((c) => c === 'publish')).toHaveLength(4);
    expect(outcomes.filter((o) => o === 'pollGrading:conflict')).toHaveLength(4);
  });
});
