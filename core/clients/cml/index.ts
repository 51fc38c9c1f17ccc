/**
 * The CML 2.x REST API client (research/cml-api.md), used by the lablet-controller and the
 * worker-controller against real CML workers and against `simulators/cml`.
 */
export { CmlClient, type CmlClientOptions, type CmlRetryOptions, type WaitOptions } from './client.ts';
export {
  CmlApiError,
  CmlAuthenticationError,
  CmlConnectionError,
  CmlError,
  CmlLicenseError,
  CmlNotConvergedError,
  CmlResponseError,
} from './errors.ts';
export {
  DEFAULT_PATTY_RANGE,
  formatPattyTag,
  nodeExternalAccess,
  nonPattyTags,
  parsePattyTag,
  parsePattyTags,
  type NodeExternalAccess,
  type PattyMapping,
} from './external-access.ts';
export type {
  CmlImageDefinition,
  CmlImportResult,
  CmlLab,
  CmlLabElementState,
  CmlLabState,
  CmlLabTopology,
  CmlLicensingStatus,
  CmlNode,
  CmlNodeDefinition,
  CmlNodeState,
  CmlSystemHealth,
  CmlSystemInformation,
  CmlSystemStats,
} from './schemas.ts';
