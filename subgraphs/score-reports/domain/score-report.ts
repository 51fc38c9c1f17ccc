import { badInput } from '../../../core/errors.ts';
import type { ScoreReport, ScoreSection } from './model.ts';

/**
 * The ScoreReport aggregate: a report is created once, validated whole, and never changes. Pure
 * functions: they take input and return state, or throw an LcmError naming the field at fault.
 */
export interface NewScoreReport {
  sessionId: string;
  definitionId: string;
  owner: string;
  gradingSessionId?: string | null;
  score: number;
  maxScore: number;
  cutScore?: number | null;
  sections: ReadonlyArray<{ name: string; score: number; maxScore: number; weight?: number | null }>;
  submittedAt?: Date | null;
}

const MAX_SECTIONS = 500;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkId(field: string, value: string): string {
  const v = value.trim();
  if (v.length < 1 || v.length > 128) throw badInput(field, 'must be 1–128 characters');
  return v;
}

function checkName(field: string, value: string, max: number): string {
  const v = value.trim();
  if (v.length < 1 || v.length > max || CONTROL.test(v)) throw badInput(field, `must be 1–${max} printable characters`);
  return v;
}

function checkScore(field: string, score: number, maxScore: number): void {
  if (!Number.isFinite(score) || score < 0 || score > maxScore) {
    throw badInput(field, `must be between 0 and ${maxScore}; got ${score}`);
  }
}

function checkMaxScore(field: string, maxScore: number): void {
  if (!Number.isFinite(maxScore) || maxScore <= 0) throw badInput(field, `must be greater than 0; got ${maxScore}`);
}

function checkSections(sections: NewScoreReport['sections']): ScoreSection[] {
  if (sections.length === 0) throw badInput('input.sections', 'must have at least one section');
  if (sections.length > MAX_SECTIONS) throw badInput('input.sections', `must have at most ${MAX_SECTIONS} sections`);
  const names = new Set<string>();
  return sections.map((s, i) => {
    const name = checkName(`input.sections[${i}].name`, s.name, 256);
    if (names.has(name)) throw badInput(`input.sections[${i}].name`, `duplicates section "${name}"`);
    names.add(name);
    checkMaxScore(`input.sections[${i}].maxScore`, s.maxScore);
    checkScore(`input.sections[${i}].score`, s.score, s.maxScore);
    const weight = s.weight ?? 1;
    if (!Number.isFinite(weight) || weight < 0) throw badInput(`input.sections[${i}].weight`, `must be at least 0; got ${weight}`);
    return { name, score: s.score, maxScore: s.maxScore, weight };
  });
}

/** A validated report; `passed` is derived from the cut score. */
export function createScoreReport(input: NewScoreReport, id: string, now: Date): ScoreReport {
  const sessionId = checkId('input.sessionId', input.sessionId);
  const definitionId = checkId('input.definitionId', input.definitionId);
  const owner = checkName('input.owner', input.owner, 256);
  const gradingSessionId = input.gradingSessionId ? checkId('input.gradingSessionId', input.gradingSessionId) : null;
  checkMaxScore('input.maxScore', input.maxScore);
  checkScore('input.score', input.score, input.maxScore);
  const cutScore = input.cutScore ?? null;
  if (cutScore !== null) checkScore('input.cutScore', cutScore, input.maxScore);
  const sections = checkSections(input.sections);
  return {
    id,
    revision: 1,
    sessionId,
    gradingSessionId,
    definitionId,
    owner,
    score: input.score,
    maxScore: input.maxScore,
    cutScore,
    passed: cutScore === null ? null : input.score >= cutScore,
    sections,
    submittedAt: input.submittedAt ?? now,
    createdAt: now,
  };
}
