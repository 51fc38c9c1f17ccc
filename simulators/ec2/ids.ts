import { createHash, randomBytes } from 'node:crypto';

/**
 * Resource identifiers in EC2's format: a type prefix and 17 lowercase hex digits, the first a 0 as
 * in today's ids (`i-0abc…`); the older 8-digit form is still accepted as input.
 */
export function newResourceId(prefix: string): string {
  return `${prefix}-0${randomBytes(8).toString('hex')}`;
}

/** A stable identifier derived from `seed`, so a seeded catalogue keeps its ids across runs. */
export function stableResourceId(prefix: string, seed: string): string {
  return `${prefix}-${createHash('sha256').update(seed).digest('hex').slice(0, 17)}`;
}

const idPattern = (prefix: string) => new RegExp(`^${prefix}-(?:[0-9a-f]{8}|[0-9a-f]{17})$`);

const INSTANCE_ID = idPattern('i');
const IMAGE_ID = idPattern('ami');

export const isInstanceId = (id: string): boolean => INSTANCE_ID.test(id);
export const isImageId = (id: string): boolean => IMAGE_ID.test(id);

/** A spot request id (`sir-` and 8 characters). */
export function newSpotRequestId(): string {
  return `sir-${randomBytes(4).toString('hex')}`;
}
