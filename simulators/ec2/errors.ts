/**
 * EC2 API errors as the real service reports them: a stable `Code` (what the SDK surfaces as
 * `error.name`), a human message, and the HTTP status class (4xx for client errors, 5xx for server
 * errors; https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 */
export class Ec2ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
    this.name = 'Ec2ApiError';
  }
}

const quoteList = (ids: readonly string[]): string => ids.join(', ');

/** Constructors for the errors the simulator returns, with the wording the real service uses. */
export const ec2Errors = {
  invalidAction: (action: string) =>
    new Ec2ApiError('InvalidAction', `The action ${action} is not valid for this web service.`),
  missingAction: () => new Ec2ApiError('MissingAction', 'The request must contain the parameter Action'),
  missingParameter: (name: string) =>
    new Ec2ApiError('MissingParameter', `The request must contain the parameter ${name}`),
  invalidParameterValue: (message: string) => new Ec2ApiError('InvalidParameterValue', message),
  invalidParameterCombination: (message: string) => new Ec2ApiError('InvalidParameterCombination', message),
  invalidFilter: (name: string) => new Ec2ApiError('InvalidParameterValue', `The filter '${name}' is invalid`),
  invalidPaginationToken: (token: string) =>
    new Ec2ApiError('InvalidPaginationToken', `The pagination token '${token}' is not valid or is expired.`),
  dryRun: () => new Ec2ApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412),
  unsupported: (message: string) => new Ec2ApiError('UnsupportedOperation', message),

  instanceMalformed: (id: string) =>
    new Ec2ApiError('InvalidInstanceID.Malformed', `Invalid id: "${id}" (expecting "i-...")`),
  instanceNotFound: (ids: readonly string[]) =>
    new Ec2ApiError(
      'InvalidInstanceID.NotFound',
      ids.length === 1
        ? `The instance ID '${ids[0]}' does not exist`
        : `The instance IDs '${quoteList(ids)}' do not exist`,
    ),
  incorrectInstanceState: (id: string, verb: string) =>
    new Ec2ApiError('IncorrectInstanceState', `The instance '${id}' is not in a state from which it can be ${verb}.`),
  imageMalformed: (id: string) => new Ec2ApiError('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`),
  imageNotFound: (ids: readonly string[]) =>
    new Ec2ApiError('InvalidAMIID.NotFound', `The image id '[${quoteList(ids)}]' does not exist`),
  imageUnavailable: (id: string, state: string) =>
    new Ec2ApiError('InvalidAMIID.Unavailable', `The image '${id}' is not available (state: ${state})`),
  invalidResourceId: (id: string) => new Ec2ApiError('InvalidID', `The ID '${id}' is not valid`),
  idempotentParameterMismatch: () =>
    new Ec2ApiError(
      'IdempotentParameterMismatch',
      'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).',
    ),
  tagLimitExceeded: (id: string, limit: number) =>
    new Ec2ApiError('TagLimitExceeded', `The maximum number of tags (${limit}) for resource '${id}' has been reached.`),
  instanceLimitExceeded: (requested: number, limit: number) =>
    new Ec2ApiError(
      'InstanceLimitExceeded',
      `You have requested more instances (${requested}) than your current instance limit of ${limit} allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.`,
    ),

  insufficientCapacity: (instanceType: string, availabilityZone: string, otherZones: readonly string[]) =>
    new Ec2ApiError(
      'InsufficientInstanceCapacity',
      `We currently do not have sufficient ${instanceType} capacity in the Availability Zone you requested (${availabilityZone}). Our system will be working on provisioning additional capacity. You can currently get ${instanceType} capacity by not specifying an Availability Zone in your request or choosing ${otherZones.join(', ')}.`,
      500,
    ),
  requestLimitExceeded: () => new Ec2ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503),
  internalError: () =>
    new Ec2ApiError('InternalError', 'An internal error has occurred. Retry your request, but if the problem persists, contact us.', 500),
};
