/** Enumerations of the domain (DESIGN.md §3, CONTRACT.md). Values equal the GraphQL enum names. */

export const LabletSessionStatus = {
  PENDING: 'PENDING',
  SCHEDULED: 'SCHEDULED',
  INSTANTIATING: 'INSTANTIATING',
  READY: 'READY',
  RUNNING: 'RUNNING',
  COLLECTING: 'COLLECTING',
  GRADING: 'GRADING',
  STOPPING: 'STOPPING',
  STOPPED: 'STOPPED',
  ARCHIVED: 'ARCHIVED',
  EXPIRED: 'EXPIRED',
  TERMINATED: 'TERMINATED',
} as const;
export type LabletSessionStatus = (typeof LabletSessionStatus)[keyof typeof LabletSessionStatus];

export const WorkerStatus = {
  PENDING: 'PENDING',
  PROVISIONING: 'PROVISIONING',
  STARTING: 'STARTING',
  RUNNING: 'RUNNING',
  DRAINING: 'DRAINING',
  STOPPING: 'STOPPING',
  STOPPED: 'STOPPED',
  TERMINATING: 'TERMINATING',
  TERMINATED: 'TERMINATED',
  FAILED: 'FAILED',
  UNKNOWN: 'UNKNOWN',
} as const;
export type WorkerStatus = (typeof WorkerStatus)[keyof typeof WorkerStatus];

export const LicenseType = {
  PERSONAL: 'PERSONAL',
  ENTERPRISE: 'ENTERPRISE',
  EVALUATION: 'EVALUATION',
} as const;
export type LicenseType = (typeof LicenseType)[keyof typeof LicenseType];

export const DefinitionStatus = {
  ACTIVE: 'ACTIVE',
  DEPRECATED: 'DEPRECATED',
} as const;
export type DefinitionStatus = (typeof DefinitionStatus)[keyof typeof DefinitionStatus];

export const UserSessionStatus = {
  PROVISIONING: 'PROVISIONING',
  PROVISIONED: 'PROVISIONED',
  ACTIVE: 'ACTIVE',
  PAUSED: 'PAUSED',
  ENDED: 'ENDED',
  EXPIRED: 'EXPIRED',
  FAULTED: 'FAULTED',
} as const;
export type UserSessionStatus = (typeof UserSessionStatus)[keyof typeof UserSessionStatus];

export const GradingSessionStatus = {
  PENDING: 'PENDING',
  COLLECTING: 'COLLECTING',
  GRADING: 'GRADING',
  REVIEWING: 'REVIEWING',
  SUBMITTED: 'SUBMITTED',
  FAULTED: 'FAULTED',
} as const;
export type GradingSessionStatus = (typeof GradingSessionStatus)[keyof typeof GradingSessionStatus];

export const values = <T extends Record<string, string>>(e: T): Array<T[keyof T]> =>
  Object.values(e) as Array<T[keyof T]>;
