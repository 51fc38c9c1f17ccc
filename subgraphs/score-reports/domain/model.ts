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
