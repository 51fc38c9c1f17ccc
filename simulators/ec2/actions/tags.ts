import { ec2Errors } from '../errors.ts';
import { isImageId, isInstanceId } from '../ids.ts';
import { MAX_TAGS_PER_RESOURCE, parseTags, type QueryParams } from '../query.ts';
import { guardDryRun, unique, type ActionContext, type ActionHandler } from './context.ts';

/** CreateTags and DeleteTags on instances and images. */

interface Taggable {
  id: string;
  tags: Map<string, string>;
}

/**
 * The resources named by `ResourceId.N`. Instances inside the eventual-consistency window after
 * launch are not found yet, as on EC2. Ids of kinds the simulator does not model are invalid.
 */
function resources(context: ActionContext, params: QueryParams): Taggable[] {
  const ids = unique(params.list('ResourceId'));
  if (ids.length === 0) throw ec2Errors.missingParameter('ResourceId');
  for (const id of ids) {
    if (id.startsWith('i-')) {
      if (!isInstanceId(id)) throw ec2Errors.instanceMalformed(id);
    } else if (!isImageId(id)) {
      throw ec2Errors.invalidResourceId(id);
    }
  }
  const instanceIds = ids.filter((id) => id.startsWith('i-'));
  const imageIds = ids.filter((id) => !id.startsWith('i-'));
  const instances = context.fleet.resolve(instanceIds, true).map((r) => ({ id: r.instanceId, tags: r.tags }));
  const images = context.images.resolve(imageIds).map((i) => ({ id: i.imageId, tags: i.tags }));
  const byId = new Map([...instances, ...images].map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id) as Taggable);
}

export const createTags: ActionHandler = (context) => {
  const { params } = context;
  const targets = resources(context, params);
  const tags = parseTags(params, 'Tag');
  if (tags.length === 0) throw ec2Errors.missingParameter('Tag');
  for (const target of targets) {
    const keys = new Set([...target.tags.keys(), ...tags.map((t) => t.key)]);
    if (keys.size > MAX_TAGS_PER_RESOURCE) throw ec2Errors.tagLimitExceeded(target.id, MAX_TAGS_PER_RESOURCE);
  }
  guardDryRun(params);
  for (const target of targets) for (const { key, value } of tags) target.tags.set(key, value);
  return { return: true };
};

export const deleteTags: ActionHandler = (context) => {
  const { params } = context;
  const targets = resources(context, params);
  // No Tag.N: delete every tag. Tag.N.Key alone: delete that key. With Tag.N.Value: only if it matches.
  const selectors = params.structs('Tag').map((tag) => ({ key: tag.require('Key'), value: tag.get('Value') }));
  guardDryRun(params);
  for (const target of targets) {
    if (selectors.length === 0) {
      target.tags.clear();
      continue;
    }
    for (const { key, value } of selectors) {
      if (value === undefined || target.tags.get(key) === value) target.tags.delete(key);
    }
  }
  return { return: true };
};
