/**
 * Smart Licensing of the simulated controller (research/cml-api.md §4). Registration is asynchronous:
 * `POST /licensing/registration` answers 204 at once, `GET /licensing` then shows the registration
 * IN_PROGRESS until it becomes COMPLETED (authorization IN_COMPLIANCE) after `registrationMs`, or
 * FAILED when the fault says so. Deregistration is immediate.
 *
 * Statuses observed on real servers: COMPLETED / IN_COMPLIANCE. UNREGISTERED, IN_PROGRESS, FAILED and
 * EVAL are the Smart Licensing values used for the other phases (unverified for CML, see the spec).
 */
import { randomUUID } from 'node:crypto';
import { badRequest, conflict } from './errors.ts';
import type { CmlFaults } from './faults.ts';

export type RegistrationStatus = 'UNREGISTERED' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
export type AuthorizationStatus = 'EVAL' | 'IN_COMPLIANCE' | 'OUT_OF_COMPLIANCE';
export type ProductLicense = 'CML_Enterprise' | 'CML_Personal';

const TOKEN_PATTERN = /^[a-zA-Z\d+/%=-]{1,256}$/;

/** "2026-08-20 17:25:30", the format CML uses in licensing payloads. */
const stamp = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

interface TimeInfo {
  succeeded: string | null;
  attempted: string | null;
  scheduled: string | null;
  status: string | null;
  failure: string | null;
  success: string | null;
}

const emptyTime = (): TimeInfo => ({ succeeded: null, attempted: null, scheduled: null, status: null, failure: null, success: null });

export interface LicensingOptions {
  product: ProductLicense;
  /** Expansion nodes of an Enterprise licence (on top of the 20 included). */
  expansionNodes: number;
  /** Start already registered (COMPLETED / IN_COMPLIANCE). */
  registered: boolean;
  /** Time from `POST /licensing/registration` to COMPLETED. */
  registrationMs: number;
  hostname: string;
  faults: CmlFaults;
  now?: () => number;
}

export class Licensing {
  private registration: RegistrationStatus;
  private authorization: AuthorizationStatus;
  private registerTime: TimeInfo = emptyTime();
  private registeredAtMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly productUuid = randomUUID();
  private readonly now: () => number;

  constructor(private readonly options: LicensingOptions) {
    this.now = options.now ?? Date.now;
    this.registration = options.registered ? 'COMPLETED' : 'UNREGISTERED';
    this.authorization = options.registered ? 'IN_COMPLIANCE' : 'EVAL';
    if (options.registered) this.registeredAtMs = this.now();
  }

  get registrationStatus(): RegistrationStatus {
    return this.registration;
  }

  get isLicensed(): boolean {
    return this.registration === 'COMPLETED';
  }

  get isEnterprise(): boolean {
    return this.options.product === 'CML_Enterprise';
  }

  /** Licensed nodes that may run at once. */
  nodeLimit(): number {
    return this.isEnterprise ? 20 + this.options.expansionNodes : 20;
  }

  register(token: string, reregister: boolean): void {
    if (!TOKEN_PATTERN.test(token)) throw badRequest('Invalid registration token.');
    if (this.registration === 'IN_PROGRESS') {
      throw conflict('Registration cannot be requested at this time: a registration is in progress.');
    }
    if (this.registration === 'COMPLETED' && !reregister) {
      throw conflict('Registration cannot be requested at this time: the product is already registered (use reregister).');
    }
    const attemptedAt = this.now();
    this.registration = 'IN_PROGRESS';
    this.registerTime = { ...emptyTime(), attempted: stamp(attemptedAt) };
    const complete = () => {
      this.timer = null;
      if (this.options.faults.licenseRegistrationFails) {
        this.registration = 'FAILED';
        this.registerTime = { ...this.registerTime, status: 'FAILED', failure: 'Communication with the Smart Software Manager failed', success: null };
        return;
      }
      this.registration = 'COMPLETED';
      this.authorization = 'IN_COMPLIANCE';
      this.registeredAtMs = this.now();
      this.registerTime = { ...this.registerTime, succeeded: stamp(this.now()), status: 'SUCCEEDED', failure: 'OK', success: 'SUCCESS' };
    };
    if (this.options.registrationMs <= 0) complete();
    else this.timer = setTimeout(complete, this.options.registrationMs);
  }

  /** Returns 204 when deregistered. */
  deregister(): 204 {
    if (this.registration === 'IN_PROGRESS') {
      throw conflict('Deregistration cannot be requested at this time: a registration is in progress.');
    }
    if (this.registration === 'UNREGISTERED') throw badRequest('The product is already deregistered.');
    this.registration = 'UNREGISTERED';
    this.authorization = 'EVAL';
    this.registeredAtMs = null;
    this.registerTime = emptyTime();
    return 204;
  }

  /** `GET /licensing` (LicensingStatus). */
  status(runningLicensedNodes: number): Record<string, unknown> {
    const registered = this.registration === 'COMPLETED';
    const year = 365 * 24 * 3600 * 1000;
    const features = this.isEnterprise
      ? [
          feature('CML_ENT_BASE', 'CML - Enterprise License', 'Cisco Modeling Labs - Enterprise License with 20 nodes capacity included', 1, 1, this.authorization),
          feature('CML_NODE_COUNT', 'CML - Expansion Node License', 'Cisco Modeling Labs - Expansion node capacity for CML Enterprise Servers', this.options.expansionNodes, this.options.expansionNodes, this.authorization),
        ]
      : [feature('CML_PERSONAL', 'CML - Personal License', 'Cisco Modeling Labs - Personal Edition with 20 nodes', Math.min(runningLicensedNodes, 20), 20, this.authorization)];
    return {
      udi: { hostname: this.options.hostname, product_uuid: this.productUuid },
      registration: {
        status: this.registration,
        smart_account: registered ? 'LCM Simulated Smart Account' : null,
        virtual_account: registered ? 'LCM Workers' : null,
        expires: registered && this.registeredAtMs !== null ? stamp(this.registeredAtMs + year) : null,
        register_time: this.registerTime,
        renew_time: registered && this.registeredAtMs !== null
          ? { ...emptyTime(), scheduled: stamp(this.registeredAtMs + year / 2), success: 'SUCCESS' }
          : emptyTime(),
      },
      authorization: {
        status: this.authorization,
        expires: registered && this.registeredAtMs !== null ? stamp(this.registeredAtMs + year / 4) : null,
        renew_time: emptyTime(),
      },
      reservation_mode: false,
      features,
      product_license: { active: this.options.product, is_enterprise: this.isEnterprise },
      transport: {
        ssms: 'https://smartreceiver.cisco.com/licservice/license',
        default_ssms: 'https://smartreceiver.cisco.com/licservice/license',
        proxy: { server: null, port: null },
      },
    };
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function feature(name: string, title: string, description: string, inUse: number, max: number, status: AuthorizationStatus) {
  return {
    id: `regid.2019-10.com.cisco.${name},1.0_2607650b-6ca8-46d5-81e5-e6688b7383c4`,
    name: title,
    description,
    in_use: inUse,
    status,
    version: '1.0',
    min: 0,
    max,
    minEndDate: null,
    maxEndDate: null,
  };
}
