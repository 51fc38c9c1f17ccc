/** CloudEvent types the score-reports subgraph publishes on the `score-report` topic (data: the report). */
export const ScoreReportEventType = {
  published: 'lcm.score-report.published.v1',
} as const;
export type ScoreReportEventType = (typeof ScoreReportEventType)[keyof typeof ScoreReportEventType];
