import { z } from 'zod';
import { badInput } from '../errors.ts';
import type { CloudEvent } from './cloudevent.ts';

/**
 * The CloudEvents that external systems send to LCM (seed 004 §3.9, FR-2.2.6): LDS tells when the
 * student starts and finishes, the grading engine when a grading is done or failed. The simulators in
 * `simulators/lds` and `simulators/grading` emit exactly these; the lablet-controller validates what
 * it receives with `parseExternalEvent`. Field names are camelCase; times are ISO-8601 strings.
 */

export const ExternalEventType = {
  LDS_SESSION_STARTED: 'lds.session.started',
  LDS_SESSION_ENDED: 'lds.session.ended',
  GRADING_SESSION_COMPLETED: 'grading.session.completed',
  GRADING_SESSION_FAILED: 'grading.session.failed',
} as const;
export type ExternalEventType = (typeof ExternalEventType)[keyof typeof ExternalEventType];

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 timestamp');

/** Why an LDS session ended: the student finished, the LDS timer ran out, or it was finalized (released). */
export const LdsEndReason = z.enum(['user_finished', 'timeout', 'finalized']);
export type LdsEndReason = z.infer<typeof LdsEndReason>;

export const LdsSessionStartedData = z.object({
  ldsSessionId: z.string().min(1),
  /** The LCM lablet session the LDS session was created for; null when LDS was not told. */
  labletSessionId: z.string().min(1).nullable(),
  partId: z.number().int().positive(),
  /** LDS native state after the change, e.g. SESSION_RUNNING. */
  state: z.string().min(1),
  startedAt: isoTime,
});
export type LdsSessionStartedData = z.infer<typeof LdsSessionStartedData>;

export const LdsSessionEndedData = z.object({
  ldsSessionId: z.string().min(1),
  labletSessionId: z.string().min(1).nullable(),
  partId: z.number().int().positive(),
  state: z.string().min(1),
  reason: LdsEndReason,
  /** Null when the session ended before the student ever started. */
  startedAt: isoTime.nullable(),
  endedAt: isoTime,
});
export type LdsSessionEndedData = z.infer<typeof LdsSessionEndedData>;

export const ScoreSectionData = z.object({
  name: z.string().min(1),
  score: z.number().min(0),
  maxScore: z.number().min(0),
  weight: z.number().min(0),
});
export type ScoreSectionData = z.infer<typeof ScoreSectionData>;

export const ScoreReportData = z.object({
  score: z.number().min(0),
  maxScore: z.number().min(0),
  cutScore: z.number().min(0).nullable(),
  passed: z.boolean().nullable(),
  sections: z.array(ScoreSectionData),
  gradedAt: isoTime,
  submittedAt: isoTime,
});
export type ScoreReportData = z.infer<typeof ScoreReportData>;

export const GradingSessionCompletedData = z.object({
  gradingSessionId: z.string().min(1),
  /** The graded session part (the form qualified name / ruleset name). */
  partId: z.string().min(1),
  labletSessionId: z.string().min(1).nullable(),
  podId: z.string().min(1).nullable(),
  /** Grading-engine native part status when the report became final: "locked". */
  status: z.string().min(1),
  scoreReport: ScoreReportData,
});
export type GradingSessionCompletedData = z.infer<typeof GradingSessionCompletedData>;

export const GradingSessionFailedData = z.object({
  gradingSessionId: z.string().min(1),
  partId: z.string().min(1),
  labletSessionId: z.string().min(1).nullable(),
  reason: z.string().min(1),
  failedAt: isoTime,
});
export type GradingSessionFailedData = z.infer<typeof GradingSessionFailedData>;

export type ExternalEvent =
  | { type: typeof ExternalEventType.LDS_SESSION_STARTED; event: CloudEvent; data: LdsSessionStartedData }
  | { type: typeof ExternalEventType.LDS_SESSION_ENDED; event: CloudEvent; data: LdsSessionEndedData }
  | { type: typeof ExternalEventType.GRADING_SESSION_COMPLETED; event: CloudEvent; data: GradingSessionCompletedData }
  | { type: typeof ExternalEventType.GRADING_SESSION_FAILED; event: CloudEvent; data: GradingSessionFailedData };

const SCHEMAS = {
  [ExternalEventType.LDS_SESSION_STARTED]: LdsSessionStartedData,
  [ExternalEventType.LDS_SESSION_ENDED]: LdsSessionEndedData,
  [ExternalEventType.GRADING_SESSION_COMPLETED]: GradingSessionCompletedData,
  [ExternalEventType.GRADING_SESSION_FAILED]: GradingSessionFailedData,
} as const;

export const isExternalEventType = (type: string): type is ExternalEventType => type in SCHEMAS;

/**
 * Check an incoming CloudEvent's type and data. Throws `LcmError` BAD_USER_INPUT naming the problem
 * (an unknown type, or each invalid data field).
 */
export function parseExternalEvent(event: CloudEvent): ExternalEvent {
  if (!isExternalEventType(event.type)) {
    throw badInput('type', `unknown event type "${event.type}"; expected one of ${Object.keys(SCHEMAS).join(', ')}`);
  }
  const result = SCHEMAS[event.type].safeParse(event.data);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `data.${i.path.join('.')}: ${i.message}`).join('; ');
    throw badInput('data', `invalid ${event.type} event: ${problems}`);
  }
  return { type: event.type, event, data: result.data } as ExternalEvent;
}
