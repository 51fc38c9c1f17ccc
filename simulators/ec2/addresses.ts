/**
 * Loopback addresses for simulated instances. Each simulator takes its own 127.B.0.0/16 block (B
 * chosen at random, never 0, so 127.0.0.1 is never handed out) and gives every instance distinct
 * addresses in it; on Linux the whole 127/8 is routed to `lo`, so a service can listen on each
 * instance's own address and parallel simulators do not collide. Blocks in use in this process are
 * remembered so two simulators in one process never share a block.
 */
const blocksInUse = new Set<number>();

export class LoopbackAddressPool {
  readonly block: number;
  private next = 1;
  private readonly inUse = new Set<number>();

  /** `block` pins the second octet (1–254); by default a free one is chosen at random. */
  constructor(block?: number) {
    if (block !== undefined) {
      if (!Number.isInteger(block) || block < 1 || block > 254) {
        throw new Error(`address block must be an integer 1..254 (127.B.0.0/16), got ${block}`);
      }
      this.block = block;
    } else {
      this.block = pickFreeBlock();
    }
    blocksInUse.add(this.block);
  }

  /** The base of the block, e.g. `127.42`. */
  get prefix(): string {
    return `127.${this.block}`;
  }

  /** Take an unused address (x.y.z.1 … x.y.255.254, skipping .0 and .255 host parts). */
  allocate(): string {
    for (let tries = 0; tries < 65536; tries++) {
      const n = this.next;
      this.next = n >= 65534 ? 1 : n + 1;
      const low = n & 0xff;
      if (low === 0 || low === 255 || this.inUse.has(n)) continue;
      this.inUse.add(n);
      return `127.${this.block}.${n >> 8}.${low}`;
    }
    throw new Error(`loopback block 127.${this.block}.0.0/16 is exhausted`);
  }

  release(address: string | undefined): void {
    if (!address) return;
    const parts = address.split('.').map(Number);
    if (parts.length !== 4 || parts[1] !== this.block) return;
    this.inUse.delete(((parts[2] as number) << 8) | (parts[3] as number));
  }

  /** Give the block back (the pool must not be used afterwards). */
  close(): void {
    blocksInUse.delete(this.block);
  }
}

function pickFreeBlock(): number {
  const free: number[] = [];
  for (let b = 1; b <= 254; b++) if (!blocksInUse.has(b)) free.push(b);
  if (free.length === 0) throw new Error('every 127.B.0.0/16 block is in use by a simulator in this process');
  return free[Math.floor(Math.random() * free.length)] as number;
}
