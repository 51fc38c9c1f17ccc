import { inject } from 'vitest';
import { documentStoreContract } from '../../test/support/contracts/document-store.contract.ts';
import { MongoStorage } from './mongo-document-store.ts';

documentStoreContract('mongodb (FerretDB)', () => MongoStorage.connect(inject('mongoUri'), `contract_${process.pid}_${Date.now()}`));
