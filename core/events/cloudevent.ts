import { randomUUID } from 'node:crypto';

/**
 * A CloudEvents 1.0 envelope (https://github.com/cloudevents/spec, structured JSON mode). Domain events
 * of every subgraph and the simulators' external events use it.
 */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
  /** Extension: the aggregate version after the change, so consumers can order and de-duplicate. */
  entityversion?: number;
  /** Extension: the actor that caused the change (user, controller, system). */
  actor?: string;
  /**
   * Extension (CloudEvents distributed tracing): the W3C trace context of the change, present when
   * tracing is on, so that what an event triggers continues the trace that caused it.
   */
  traceparent?: string;
}

export interface NewCloudEvent<T> {
  source: string;
  type: string;
  subject?: string;
  data: T;
  entityversion?: number;
  actor?: string;
  traceparent?: string;
  time?: Date;
}

export function cloudEvent<T>(e: NewCloudEvent<T>): CloudEvent<T> {
  const ev: CloudEvent<T> = {
    specversion: '1.0',
    id: randomUUID(),
    source: e.source,
    type: e.type,
    time: (e.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    data: e.data,
  };
  if (e.subject !== undefined) ev.subject = e.subject;
  if (e.entityversion !== undefined) ev.entityversion = e.entityversion;
  if (e.actor !== undefined) ev.actor = e.actor;
  if (e.traceparent !== undefined) ev.traceparent = e.traceparent;
  return ev;
}

/** Event types published on the bus. Topics group them for subscribers. */
export const EventTopic = {
  session: 'session',
  worker: 'worker',
  definition: 'definition',
  scoreReport: 'score-report',
} as const;
export type EventTopic = (typeof EventTopic)[keyof typeof EventTopic];
