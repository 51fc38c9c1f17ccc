import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logging.ts';
import { ACTIONS, type ActionContext } from './actions/index.ts';
import { Ec2ApiError, ec2Errors } from './errors.ts';
import type { QueryParams } from './query.ts';
import { document, escapeXml } from './xml.ts';

/**
 * The EC2 Query API on top of the simulated account: dispatch by `Action`, injected throttling and
 * internal errors first, then the action, then the XML document the SDK expects — the
 * `<ActionResponse xmlns=…><requestId>…` body on success, the
 * `<Response><Errors><Error><Code>…` body with a 4xx/5xx status on failure.
 */
export const EC2_API_VERSION = '2016-11-15';
export const EC2_XML_NAMESPACE = `http://ec2.amazonaws.com/doc/${EC2_API_VERSION}/`;

export interface ApiResponse {
  status: number;
  body: string;
  requestId: string;
  /** The action, when the request named one. */
  action?: string;
  /** `OK`, or the error code returned. */
  code: string;
}

export type ApiDependencies = Omit<ActionContext, 'params'> & { logger: Logger };

export function errorDocument(code: string, message: string, requestId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors>` +
    `<RequestID>${escapeXml(requestId)}</RequestID></Response>`
  );
}

export class Ec2Api {
  constructor(private readonly deps: ApiDependencies) {}

  /** Handle one request given its Query parameters. Never throws. */
  invoke(params: QueryParams): ApiResponse {
    const requestId = randomUUID();
    const action = params.get('Action');
    try {
      if (!action) throw ec2Errors.missingAction();
      const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
      if (!handler) throw ec2Errors.invalidAction(action);
      if (this.deps.faults.takeThrottle(action)) throw ec2Errors.requestLimitExceeded();
      if (this.deps.faults.takeInternalError(action)) throw ec2Errors.internalError();
      const body = handler({ ...this.deps, params });
      return {
        status: 200,
        body: document(`${action}Response`, EC2_XML_NAMESPACE, { requestId, ...body }),
        requestId,
        action,
        code: 'OK',
      };
    } catch (caught) {
      let error: Ec2ApiError;
      if (caught instanceof Ec2ApiError) {
        error = caught;
      } else {
        this.deps.logger.error({ err: caught, action, requestId }, 'EC2 simulator action failed unexpectedly');
        error = ec2Errors.internalError();
      }
      return { status: error.httpStatus, body: errorDocument(error.code, error.message, requestId), requestId, action, code: error.code };
    }
  }
}
