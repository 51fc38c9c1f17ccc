import { describe, expect, it } from 'vitest';
import { isLcmError } from '../errors.ts';
import { cloudEvent } from './cloudevent.ts';
import { parseExternalEvent } from './external-events.ts';

const completed = {
  gradingSessionId: 'g-1',
  partId: 'Exam CCNA LAB 1.0',
  labletSessionId: 'ls-1',
  podId: 'ls-1',
  status: 'locked',
  scoreReport: {
    score: 72,
    maxScore: 100,
    cutScore: 70,
    passed: true,
    sections: [
      { name: 'Configuration', score: 40, maxScore: 50, weight: 1 },
      { name: 'Verification', score: 32, maxScore: 50, weight: 1 },
    ],
    gradedAt: '2026-01-15T12:01:00.000Z',
    submittedAt: '2026-01-15T12:02:00.000Z',
  },
};

describe('parseExternalEvent', () => {
  it('returns the typed data of a known event', () => {
    const parsed = parseExternalEvent(cloudEvent({ source: 'grading-engine', type: 'grading.session.completed', data: completed }));
    expect(parsed.type).toBe('grading.session.completed');
    expect(parsed.data).toEqual(completed);
  });

  it('refuses an unknown type with BAD_USER_INPUT naming the known ones', () => {
    try {
      parseExternalEvent(cloudEvent({ source: 'lds', type: 'lds.session.paused', data: {} }));
      expect.unreachable();
    } catch (e) {
      expect(isLcmError(e) && e.code).toBe('BAD_USER_INPUT');
      expect((e as Error).message).toContain('unknown event type "lds.session.paused"');
      expect((e as Error).message).toContain('lds.session.started');
    }
  });

  it('lists every invalid data field', () => {
    const data = { ldsSessionId: '', labletSessionId: null, partId: 0, state: 'SESSION_USER_FINISHED', reason: 'bored', startedAt: null, endedAt: 'never' };
    try {
      parseExternalEvent(cloudEvent({ source: 'lds', type: 'lds.session.ended', data }));
      expect.unreachable();
    } catch (e) {
      const message = (e as Error).message;
      for (const field of ['data.ldsSessionId', 'data.partId', 'data.reason', 'data.endedAt']) expect(message).toContain(field);
    }
  });
});
