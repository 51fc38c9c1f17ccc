import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRuleset, computeScore, DEFAULT_RULESET, type GradingOutcome, type Ruleset } from './scoring.ts';

const rulesetArb: fc.Arbitrary<Ruleset> = fc
  .array(fc.record({ name: fc.string({ minLength: 1, maxLength: 8 }), maxScore: fc.integer({ min: 0, max: 200 }), weight: fc.double({ min: 0, max: 3, noNaN: true }) }), {
    minLength: 1,
    maxLength: 8,
  })
  .chain((sections) => {
    const max = sections.reduce((s, x) => s + x.maxScore, 0);
    return fc.option(fc.integer({ min: 0, max }), { nil: null }).map((cutScore) => ({ name: 'r', version: '1', sections, cutScore }));
  });
const outcomeArb = fc.constantFrom<GradingOutcome>('seeded', 'pass', 'fail', 'perfect', 'zero');

describe('computeScore', () => {
  it('section scores are integers within their maximum and add up to the score', () => {
    fc.assert(
      fc.property(rulesetArb, outcomeArb, fc.string(), (ruleset, outcome, seed) => {
        const result = computeScore(ruleset, outcome, seed);
        expect(result.sections.reduce((sum, s) => sum + s.score, 0)).toBe(result.score);
        expect(result.maxScore).toBe(ruleset.sections.reduce((sum, s) => sum + s.maxScore, 0));
        for (const [i, s] of result.sections.entries()) {
          expect(Number.isInteger(s.score)).toBe(true);
          expect(s.score).toBeGreaterThanOrEqual(0);
          expect(s.score).toBeLessThanOrEqual(ruleset.sections[i]?.maxScore as number);
          expect(s.weight).toBe(ruleset.sections[i]?.weight);
        }
        expect(result.passed).toBe(ruleset.cutScore === null ? null : result.score >= ruleset.cutScore);
      }),
    );
  });

  it('honours the outcome: pass is at or above the cut, fail below it (when a cut above 0 exists)', () => {
    fc.assert(
      fc.property(rulesetArb, fc.string(), (ruleset, seed) => {
        const pass = computeScore(ruleset, 'pass', seed);
        expect(pass.score).toBeGreaterThanOrEqual(ruleset.cutScore ?? 0);
        const fail = computeScore(ruleset, 'fail', seed);
        if (ruleset.cutScore !== null && ruleset.cutScore > 0) expect(fail.passed).toBe(false);
        expect(computeScore(ruleset, 'perfect', seed).score).toBe(pass.maxScore);
        expect(computeScore(ruleset, 'zero', seed).score).toBe(0);
      }),
    );
  });

  it('is deterministic for a seed key and varies across keys', () => {
    const a = computeScore(DEFAULT_RULESET, 'seeded', 'lcm:ls-1:default');
    expect(computeScore(DEFAULT_RULESET, 'seeded', 'lcm:ls-1:default')).toEqual(a);
    const scores = new Set(Array.from({ length: 20 }, (_, i) => computeScore(DEFAULT_RULESET, 'seeded', `lcm:ls-${i}:default`).score));
    expect(scores.size).toBeGreaterThan(5);
  });

  it('checkRuleset refuses empty rulesets and cut scores above the total', () => {
    expect(() => checkRuleset({ ...DEFAULT_RULESET, sections: [] })).toThrow(/1 to 50 sections/);
    expect(() => checkRuleset({ ...DEFAULT_RULESET, cutScore: 101 })).toThrow(/cutScore must be between 0 and the total of the sections \(100\)/);
  });
});
