import { GradingSessionStatus } from '../../core/domain/enums.ts';
import type { ScoredSection } from './scoring.ts';

/**
 * The grading engine's model as its API v1 shows it ("Cisco Mozart - Grading Engine" OpenAPI
 * document): a session for a candidate, with parts (one per form / ruleset), each part graded against
 * the pod (devices) assigned to it. Part statuses: created → grading → reviewing → locked, or faulted.
 */

export const PartStatus = {
  CREATED: 'created',
  GRADING: 'grading',
  REVIEWING: 'reviewing',
  LOCKED: 'locked',
  FAULTED: 'faulted',
} as const;
export type PartStatus = (typeof PartStatus)[keyof typeof PartStatus];

/** Grading-engine part status → LCM GradingSessionStatus (created→PENDING, locked→SUBMITTED, ...). */
export function toGradingSessionStatus(status: PartStatus): GradingSessionStatus {
  switch (status) {
    case PartStatus.CREATED:
      return GradingSessionStatus.PENDING;
    case PartStatus.GRADING:
      return GradingSessionStatus.GRADING;
    case PartStatus.REVIEWING:
      return GradingSessionStatus.REVIEWING;
    case PartStatus.LOCKED:
      return GradingSessionStatus.SUBMITTED;
    case PartStatus.FAULTED:
      return GradingSessionStatus.FAULTED;
  }
}

export interface DeviceInterface {
  name: string;
  protocol: string;
  host: string;
  port?: number | undefined;
  authentication?: { scheme: string; properties?: Record<string, string> | null | undefined } | undefined;
  configuration?: Record<string, unknown> | null | undefined;
}

export interface PodDevice {
  label: string;
  hostname: string;
  collector: string;
  interfaces: DeviceInterface[];
}

export interface Pod {
  id: string;
  devices: PodDevice[] | null;
}

export interface AuditEntry {
  action: string;
  actor: { id: string; name: string; email: string };
  actionable: string;
  timestamp: string;
}

/** The grading engine's per-part score report (SessionPartScoreReport, simplified sections). */
export interface PartScoreReport {
  createdAt: string;
  lastModified: string | null;
  gradingRulesetVersion: string;
  scoringRulesetVersion: number;
  /** How many times the part was graded. */
  generation: number;
  revision: number;
  score: number;
  maxScore: number;
  cutScore: number | null;
  passed: boolean | null;
  sections: Array<ScoredSection & { id: string; createdAt: string }>;
}

export interface GradingPart {
  id: string;
  createdAt: string;
  lastModified: string | null;
  firstGraded: string | null;
  lastSubmitted: string | null;
  status: PartStatus;
  statusReason: string | null;
  pod: Pod | null;
  scoreReport: PartScoreReport | null;
  auditTrail: AuditEntry[];
}

export interface GradingSession {
  id: string;
  createdAt: string;
  lastModified: string | null;
  candidateId: string;
  lds: { id: string; environment: string } | null;
  /** Simulator extension: the LCM lablet session graded (carried in the events). */
  labletSessionId: string | null;
  parts: GradingPart[];
}

const PROGRESS: Record<PartStatus, number> = { created: 0, grading: 1, reviewing: 2, locked: 3, faulted: -1 };

/** A session's status: faulted if a part is, else the least advanced part's ("created" without parts). */
export function sessionStatus(session: GradingSession): PartStatus {
  if (session.parts.some((p) => p.status === PartStatus.FAULTED)) return PartStatus.FAULTED;
  let least: PartStatus = PartStatus.CREATED;
  let first = true;
  for (const part of session.parts) {
    if (first || PROGRESS[part.status] < PROGRESS[least]) least = part.status;
    first = false;
  }
  return least;
}
