import { randomBytes } from 'node:crypto';

/**
 * Time-ordered ids: `<prefix>_<12 chars of ms timestamp in base36><10 chars of randomness>`. Sorting
 * ids sorts by creation time (to the millisecond), which is what cursor pages rely on. Within one
 * millisecond a per-process counter keeps ids of this process increasing.
 */
let lastMs = 0;
let counter = 0;

export function newId(prefix: string, now = Date.now()): string {
  if (now <= lastMs) {
    counter += 1;
    now = lastMs;
  } else {
    lastMs = now;
    counter = 0;
  }
  const time = now.toString(36).padStart(9, '0') + counter.toString(36).padStart(3, '0');
  const rand = randomBytes(8).toString('base64url').replace(/[-_]/g, 'x').slice(0, 10).toLowerCase();
  return `${prefix}_${time}${rand}`;
}

export const ID_PATTERN = /^[a-z]{2,4}_[0-9a-z]{22}$/;
