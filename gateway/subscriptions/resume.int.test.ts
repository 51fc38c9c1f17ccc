import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { EtcdCoordinationStore } from '../../core/adapters/etcd/etcd-coordination.ts';
import { EtcdEventBus } from '../../core/adapters/etcd/etcd-event-bus.ts';
import { subscriptionResumeContract } from '../../test/support/contracts/subscription-resume.contract.ts';

// No event lost across reconnections (ADR 0003, "Resuming") on a real etcd.
subscriptionResumeContract('etcd bus on etcd', async (options) => {
  const store = new EtcdCoordinationStore({ endpoints: [inject('etcdEndpoint')], namespace: `/test-${randomUUID()}` });
  const bus = await EtcdEventBus.start(store, options);
  return {
    bus,
    close: async () => {
      await bus.close();
      await store.deletePrefix('/');
      await store.close();
    },
  };
});
