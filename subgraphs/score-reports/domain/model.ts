/** Domain types of the score-reports subgraph; the resolvers map from them (codegen `mappers`). */

/** One graded section of a report. */
export interface ScoreSection {
  name: string;
  score: number;
  maxScore: number;
  /** Weight of the section in the total (>= 0, default 1). */
  weight: number;
}

/** The ScoreReport aggregate as stored: the graded result of one session (one report per session). */
export interface ScoreReport {
  id: string;
  revision: number;
  sessionId: string;
  /** The grading engine's session id, when known. */
  gradingSessionId: string | null;
  /** Definition and owner of the session, copied for reporting filters. */
  definitionId: string;
  owner: string;
  score: number;
  maxScore: number;
  cutScore: number | null;
  /** Whether `score >= cutScore`; null without a cut score. */
  passed: boolean | null;
  sections: ScoreSection[];
  /** When the grading engine submitted the report. */
  submittedAt: Date;
  /** When the report was published here. */
  createdAt: Date;
}

/** A reference to a LabletSession (an entity of the sessions subgraph, extended here). */
export interface SessionRef {
  id: string;
}

/**
 * A report snapshot from an event back into a `ScoreReport`: over etcd the event data arrived as JSON,
 * so its dates are ISO strings.
 */
export function reviveScoreReport(data: unknown): ScoreReport {
  const r = data as ScoreReport;
  return { ...r, submittedAt: new Date(r.submittedAt), createdAt: new Date(r.createdAt) };
}
