import { describe, expect, it } from 'vitest';
import { MemoryEventBus } from '../../../core/adapters/memory/memory-event-bus.ts';
import { Scope, type Identity } from '../../../core/auth/identity.ts';
import { EventTopic, type CloudEvent } from '../../../core/events/cloudevent.ts';
import { silentLogger } from '../../../core/logging.ts';
import { MemoryStorage } from '../../../core/persistence/memory-document-store.ts';
import { ChangePublisher } from '../../../core/subgraph/change-publisher.ts';
import { ScoreReportRepository } from '../infrastructure/score-report-repository.ts';
import { ScoreReportService } from './score-report-service.ts';

const controller: Identity = { subject: 'lablet-controller', kind: 'service', scopes: [Scope.INTERNAL] };
const report = (score: number) => ({
  sessionId: 'ses_1',
  definitionId: 'def_1',
  owner: 'alice',
  score,
  maxScore: 10,
  sections: [{ name: 'all', score, maxScore: 10 }],
});

describe('ScoreReportService.publish', () => {
  it('lets the first of two concurrent publications for a session win; the other returns its report, one event in all', async () => {
    const storage = new MemoryStorage();
    const bus = new MemoryEventBus();
    const events: CloudEvent[] = [];
    bus.subscribe(EventTopic.scoreReport, (e) => events.push(e));
    const service = new ScoreReportService(
      new ScoreReportRepository(storage),
      { get: (sessionId) => Promise.resolve(sessionId === report(0).sessionId ? { status: 'GRADING', definitionId: report(0).definitionId } : undefined) },
      new ChangePublisher('/test', bus, undefined, silentLogger),
      bus,
      () => new Date('2026-01-01T00:00:00Z'),
    );
    // Both look for an existing report before either inserts: the second insert hits the unique index.
    const [a, b] = await Promise.all([service.publish(controller, report(3)), service.publish(controller, report(7))]);
    expect(b).toEqual(a);
    expect(a.score).toBe(3);
    expect(events).toHaveLength(1);
    expect((await service.page(controller, {}, { first: 10 })).totalCount).toBe(1);
  });
});
