import { ec2Errors } from './errors.ts';
import { isImageId, stableResourceId } from './ids.ts';

/**
 * The AMI catalogue DescribeImages serves and RunInstances launches from. Seeded from a list (by
 * default CML controller images named like the ones LCM's worker templates look up with `CML-*`, plus
 * two public Amazon/Canonical images); ids are derived from the names so they are stable across runs.
 */
export type ImageState = 'available' | 'pending' | 'invalid' | 'deregistered' | 'transient' | 'failed' | 'error' | 'disabled';

/** One image of the seed catalogue. Only `name` is required. */
export interface SimImageSeed {
  name: string;
  /** Default: derived from the name (`ami-` + 17 hex digits). */
  imageId?: string;
  /** Default: the simulator's own account (so `Owners: ['self']` finds it). */
  ownerId?: string;
  /** `amazon`, `aws-marketplace`, … for public images owned by AWS. */
  ownerAlias?: string;
  state?: ImageState;
  /** ISO-8601; default 2024-01-01. */
  creationDate?: string;
  description?: string;
  architecture?: 'x86_64' | 'arm64';
  public?: boolean;
  rootVolumeGb?: number;
  tags?: Record<string, string>;
}

export interface SimImage {
  readonly imageId: string;
  readonly name: string;
  readonly ownerId: string;
  readonly ownerAlias?: string;
  readonly state: ImageState;
  readonly creationDate: string;
  readonly description?: string;
  readonly architecture: string;
  readonly public: boolean;
  readonly rootVolumeGb: number;
  readonly snapshotId: string;
  readonly tags: Map<string, string>;
}

function cml(version: string, build: string, created: string, rootVolumeGb = 64): SimImageSeed {
  return {
    name: `CML-${version}-${build}-x86_64-${created.slice(0, 10).replaceAll('-', '')}`,
    description: `Cisco Modeling Labs ${version} controller (${build})`,
    creationDate: created,
    rootVolumeGb,
    tags: { 'cml:version': version },
  };
}

/**
 * The default catalogue: five CML releases in one private account, plus two public OS images. Listed
 * oldest first; like EC2, DescribeImages does not sort by date, so clients must pick the newest
 * themselves.
 */
export const DEFAULT_IMAGES: readonly SimImageSeed[] = [
  cml('2.6.1', 'b11', '2023-10-19T14:02:11.000Z'),
  cml('2.7.0', 'b14', '2024-04-23T09:31:45.000Z'),
  cml('2.7.2', 'b4', '2024-08-20T16:12:03.000Z'),
  cml('2.8.0', 'b1', '2024-11-26T11:45:27.000Z', 80),
  cml('2.8.1', 'b7', '2025-02-15T08:20:59.000Z', 80),
  {
    name: 'al2023-ami-2023.6.20250115.0-kernel-6.1-x86_64',
    description: 'Amazon Linux 2023 AMI 2023.6.20250115.0 x86_64 HVM kernel-6.1',
    ownerId: '137112412989',
    ownerAlias: 'amazon',
    public: true,
    creationDate: '2025-01-15T20:10:41.000Z',
    rootVolumeGb: 8,
  },
  {
    name: 'ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250115',
    description: 'Canonical, Ubuntu, 24.04, amd64 noble image',
    ownerId: '099720109477',
    public: true,
    creationDate: '2025-01-15T06:30:22.000Z',
    rootVolumeGb: 8,
  },
];

export class ImageCatalogue {
  private readonly images = new Map<string, SimImage>();

  constructor(
    seeds: readonly SimImageSeed[],
    readonly accountId: string,
  ) {
    for (const seed of seeds) {
      const imageId = seed.imageId ?? stableResourceId('ami', `${seed.ownerId ?? accountId}/${seed.name}`);
      if (!isImageId(imageId)) throw new Error(`image seed "${seed.name}": malformed imageId ${imageId}`);
      if (this.images.has(imageId)) throw new Error(`image seed "${seed.name}": duplicate imageId ${imageId}`);
      this.images.set(imageId, {
        imageId,
        name: seed.name,
        ownerId: seed.ownerId ?? accountId,
        ownerAlias: seed.ownerAlias,
        state: seed.state ?? 'available',
        creationDate: seed.creationDate ?? '2024-01-01T00:00:00.000Z',
        description: seed.description,
        architecture: seed.architecture ?? 'x86_64',
        public: seed.public ?? false,
        rootVolumeGb: seed.rootVolumeGb ?? 64,
        snapshotId: stableResourceId('snap', imageId),
        tags: new Map(Object.entries(seed.tags ?? {})),
      });
    }
  }

  all(): SimImage[] {
    return [...this.images.values()];
  }

  get(imageId: string): SimImage | undefined {
    return this.images.get(imageId);
  }

  /** The images named by id, in request order; malformed or unknown ids fail as on EC2. */
  resolve(imageIds: readonly string[]): SimImage[] {
    const malformed = imageIds.find((id) => !isImageId(id));
    if (malformed !== undefined) throw ec2Errors.imageMalformed(malformed);
    const missing = imageIds.filter((id) => !this.images.has(id));
    if (missing.length > 0) throw ec2Errors.imageNotFound(missing);
    return imageIds.map((id) => this.images.get(id) as SimImage);
  }

  /** Whether `image` is owned by one of `owners` (`self`, an account id, or an owner alias). */
  ownedBy(image: SimImage, owners: readonly string[]): boolean {
    return owners.some(
      (owner) =>
        (owner === 'self' && image.ownerId === this.accountId) || owner === image.ownerId || owner === image.ownerAlias,
    );
  }
}
