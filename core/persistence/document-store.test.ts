import { inject } from 'vitest';
import { documentStoreContract } from './document-store.contract.ts';
import { MemoryStorage } from './memory-document-store.ts';
import { MongoStorage } from './mongo-document-store.ts';

documentStoreContract('memory', () => Promise.resolve(new MemoryStorage()));
documentStoreContract('mongodb (FerretDB)', () => MongoStorage.connect(inject('mongoUri'), `contract_${process.pid}_${Date.now()}`));
