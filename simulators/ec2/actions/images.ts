import { matchesFilters, validateFilters, type FilterSpec } from '../filters.ts';
import type { SimImage } from '../images.ts';
import { parseFilters } from '../query.ts';
import { imageXml } from '../render.ts';
import { guardDryRun, maxResults, paginate, unique, type ActionHandler } from './context.ts';

/** DescribeImages over the simulator's AMI catalogue. */

export const IMAGE_FILTERS: FilterSpec<SimImage> = {
  tags: (image) => image.tags,
  fields: {
    name: (i) => i.name,
    'image-id': (i) => i.imageId,
    state: (i) => i.state,
    'owner-id': (i) => i.ownerId,
    'owner-alias': (i) => i.ownerAlias,
    architecture: (i) => i.architecture,
    'is-public': (i) => i.public,
    'image-type': () => 'machine',
    'root-device-type': () => 'ebs',
    'root-device-name': () => '/dev/sda1',
    'virtualization-type': () => 'hvm',
    hypervisor: () => 'xen',
    'platform-details': () => 'Linux/UNIX',
    description: (i) => i.description,
    'creation-date': (i) => i.creationDate,
    'block-device-mapping.snapshot-id': (i) => i.snapshotId,
    'block-device-mapping.volume-size': (i) => i.rootVolumeGb,
  },
};

export const describeImages: ActionHandler = ({ params, images }) => {
  const ids = unique(params.list('ImageId'));
  const owners = params.list('Owner');
  // Accepted and validated; the catalogue has no deprecated or disabled images to include.
  for (const flag of ['IncludeDeprecated', 'IncludeDisabled']) params.bool(flag);
  const filters = parseFilters(params);
  validateFilters(filters, IMAGE_FILTERS);
  const limit = maxResults(params, ids.length > 0, 'ImageIds');
  const token = params.get('NextToken');
  guardDryRun(params);
  // Named images must exist; otherwise the caller sees public images and its own account's.
  const candidates =
    ids.length > 0
      ? images.resolve(ids)
      : images.all().filter((image) => image.public || image.ownerId === images.accountId);
  const all = images.all();
  const matching = candidates
    .filter((image) => owners.length === 0 || images.ownedBy(image, owners))
    .filter((image) => matchesFilters(image, filters, IMAGE_FILTERS));
  const { page, nextToken } = paginate(matching, (image) => all.indexOf(image), limit, token);
  return { imagesSet: page.map(imageXml), nextToken };
};
