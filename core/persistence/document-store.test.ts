import { documentStoreContract } from '../../test/support/contracts/document-store.contract.ts';
import { MemoryStorage } from './memory-document-store.ts';

documentStoreContract('memory', () => Promise.resolve(new MemoryStorage()));
