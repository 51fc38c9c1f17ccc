import type { GradingSession, Session, StatusTransition, UserSession } from './model.ts';

/**
 * A session snapshot from an event back into a `Session`. Over the in-process bus the event data is
 * the object itself; over etcd it arrived as JSON, so its dates are ISO strings. Either way the result
 * has real `Date`s (what the resolvers and `durationSeconds` expect).
 */
export function reviveSession(data: unknown): Session {
  const s = data as Session;
  return {
    ...s,
    timeslotStart: optionalDate(s.timeslotStart),
    timeslotEnd: optionalDate(s.timeslotEnd),
    startedAt: optionalDate(s.startedAt),
    endedAt: optionalDate(s.endedAt),
    createdAt: toDate(s.createdAt),
    updatedAt: toDate(s.updatedAt),
    statusHistory: (s.statusHistory ?? []).map((t): StatusTransition => ({ ...t, at: toDate(t.at) })),
    userSession: s.userSession ? reviveChild<UserSession>(s.userSession) : null,
    gradingSession: s.gradingSession ? reviveChild<GradingSession>(s.gradingSession) : null,
    allocatedPorts: s.allocatedPorts ?? [],
    pipelineProgress: s.pipelineProgress ?? {},
  };
}

function reviveChild<T extends { createdAt: Date; updatedAt: Date }>(child: T): T {
  return { ...child, createdAt: toDate(child.createdAt), updatedAt: toDate(child.updatedAt) };
}

function toDate(v: Date | string | number): Date {
  return v instanceof Date ? v : new Date(v);
}

function optionalDate(v: Date | string | number | null | undefined): Date | null {
  return v === null || v === undefined ? null : toDate(v);
}
