import type { CloudEvent, EventTopic } from '../../events/cloudevent.ts';
import type { EventBus } from '../../ports/event-bus.ts';

/** The event bus of one process: synchronous fan-out, order preserved. */
export class MemoryEventBus implements EventBus {
  private readonly listeners = new Map<EventTopic, Set<(event: CloudEvent) => void>>();

  publish(topic: EventTopic, event: CloudEvent): Promise<void> {
    const set = this.listeners.get(topic);
    if (set) {
      for (const listener of [...set]) {
        try {
          listener(event);
        } catch {
          // A listener's failure is its own; the bus keeps delivering to the others.
        }
      }
    }
    return Promise.resolve();
  }

  subscribe(topic: EventTopic, listener: (event: CloudEvent) => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }
}
