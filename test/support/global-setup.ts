/**
 * Vitest global setup: one etcd and one FerretDB for the whole run, shared by the tests that need
 * them (each test uses its own key prefix or database name, so tests stay independent). Tests get the
 * addresses through `inject('etcdEndpoint')` / `inject('mongoUri')`. Tests that must restart or cut a
 * server start their own with `test/support/services.ts`.
 */
import type { TestProject } from 'vitest/node';
import { startEtcd, startFerretDb, type TestService } from './services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoint: string;
    mongoUri: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: TestService[] = [];
  const [etcd, mongo] = await Promise.all([startEtcd(), startFerretDb()]);
  started.push(etcd, mongo);
  project.provide('etcdEndpoint', etcd.url);
  project.provide('mongoUri', mongo.url);
  return async () => {
    await Promise.all(started.map((s) => s.stop()));
  };
}
