/**
 * How the grading simulator scores: a ruleset names the sections (points and weight) and the cut
 * score; an outcome policy says what kind of result to produce; a seed makes it deterministic, so the
 * same lablet session graded twice with the same seed gets the same report.
 */

export interface RulesetSection {
  name: string;
  /** Points of the section (integer). */
  maxScore: number;
  /** Weight reported with the section (LCM ScoreSection.weight, default 1). */
  weight: number;
}

export interface Ruleset {
  name: string;
  version: string;
  sections: RulesetSection[];
  /** Score needed to pass; null = no pass/fail decision (`passed` is then null). */
  cutScore: number | null;
}

/** `seeded`: any score; `pass` / `fail`: a score on that side of the cut; `perfect`: all points; `zero`: none. */
export type GradingOutcome = 'seeded' | 'pass' | 'fail' | 'perfect' | 'zero';

export const DEFAULT_RULESET: Ruleset = Object.freeze({
  name: 'default',
  version: '1.0',
  sections: [
    { name: 'Configuration', maxScore: 40, weight: 1 },
    { name: 'Verification', maxScore: 30, weight: 1 },
    { name: 'Troubleshooting', maxScore: 30, weight: 1 },
  ],
  cutScore: 70,
}) as Ruleset;

export interface ScoredSection {
  name: string;
  score: number;
  maxScore: number;
  weight: number;
}

export interface Score {
  score: number;
  maxScore: number;
  cutScore: number | null;
  passed: boolean | null;
  sections: ScoredSection[];
}

/** 32-bit FNV-1a hash of a string. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Check a ruleset: at least one section, integer points 0..1000, at most 50 sections, a sane cut. */
export function checkRuleset(r: Ruleset): Ruleset {
  if (r.sections.length === 0 || r.sections.length > 50) throw new TypeError(`ruleset ${r.name}: 1 to 50 sections`);
  for (const s of r.sections) {
    if (!Number.isInteger(s.maxScore) || s.maxScore < 0 || s.maxScore > 1000) {
      throw new TypeError(`ruleset ${r.name}: section ${s.name} maxScore must be an integer 0..1000`);
    }
    if (!(s.weight >= 0)) throw new TypeError(`ruleset ${r.name}: section ${s.name} weight must be ≥ 0`);
  }
  const max = r.sections.reduce((sum, s) => sum + s.maxScore, 0);
  if (r.cutScore !== null && (!(r.cutScore >= 0) || r.cutScore > max)) {
    throw new TypeError(`ruleset ${r.name}: cutScore must be between 0 and the total of the sections (${max})`);
  }
  return r;
}

/**
 * Score a grading deterministically from `seedKey`. The total is drawn for the outcome, then spread
 * point by point over the sections, each point going to a section with room left, chosen with
 * probability proportional to that room. Section scores are integers and always add up to the total.
 */
export function computeScore(ruleset: Ruleset, outcome: GradingOutcome, seedKey: string, cutScore: number | null = ruleset.cutScore): Score {
  const random = mulberry32(fnv1a(seedKey));
  const maxScore = ruleset.sections.reduce((sum, s) => sum + s.maxScore, 0);
  const cut = cutScore === null ? null : Math.ceil(cutScore);
  let low = 0;
  let high = maxScore;
  switch (outcome) {
    case 'perfect':
      low = maxScore;
      break;
    case 'zero':
      high = 0;
      break;
    case 'pass':
      low = Math.min(cut ?? 0, maxScore);
      break;
    case 'fail':
      // Below the cut; with no cut (or a cut of 0) nothing fails, so the lowest score is given.
      high = cut !== null && cut > 0 ? cut - 1 : 0;
      break;
    case 'seeded':
      break;
  }
  const total = low + Math.floor(random() * (high - low + 1));

  const scores = ruleset.sections.map(() => 0);
  let room = maxScore;
  for (let point = 0; point < total; point++) {
    let pick = random() * room;
    let i = 0;
    for (; i < scores.length - 1; i++) {
      const left = (ruleset.sections[i] as RulesetSection).maxScore - (scores[i] as number);
      if (pick < left) break;
      pick -= left;
    }
    // Floating-point edge: never give a point to a full section.
    while ((scores[i] as number) >= (ruleset.sections[i] as RulesetSection).maxScore) i = (i + 1) % scores.length;
    scores[i] = (scores[i] as number) + 1;
    room--;
  }

  return {
    score: total,
    maxScore,
    cutScore,
    passed: cutScore === null ? null : total >= cutScore,
    sections: ruleset.sections.map((s, i) => ({ name: s.name, score: scores[i] as number, maxScore: s.maxScore, weight: s.weight })),
  };
}
