import type { FormattedExecutionResult, GraphQLFormattedError } from 'graphql';
import type { Logger } from '../../core/logging.ts';
import type { PreparedOperation } from '../executor/executor.ts';
import type { SubgraphResponse } from '../executor/subgraph-client.ts';
import { currentForwardHeaders, sharingKeyOf, type Endpoint } from '../endpoint.ts';
import type { GatewayContext } from '../types.ts';
import { GatewayErrorCode } from '../executor/errors.ts';
import { PushIterator } from './push-iterator.ts';
import { resumableFetch } from './resume.ts';
import type { UpstreamHub } from './upstream.ts';

/**
 * Federated subscriptions (DESIGN.md §5): the plan's `primary` fetch runs as a graphql-ws
 * subscription to the owning subgraph; for every event the `rest` of the plan runs through the
 * executor seeded with the event, and the shaped result goes to every client of that subscription.
 *
 * Clients subscribing to the same operation with the same variables and forwarded headers share one
 * `SharedSubscription`: one upstream subscription, one execution of `rest` per event, one formatted
 * result pushed to all. Events of one subscription are processed in order. An error of one event
 * (e.g. an entity fetch failing) is reported in that event's `errors`; the stream goes on.
 *
 * Resuming (ADR 0003): when the primary field takes `after: String`, the upstream subscription is
 * re-subscribed after the last cursor it received whenever its socket reconnects, and each result
 * carries the event's cursor in `extensions.cursor`, which a client passes back as `after` after its
 * own reconnection. A client's `after` is part of its variables, so it never shares with live ones.
 */
export interface SubscriptionManagerOptions {
  hub: UpstreamHub;
  logger: Logger;
  /** Events buffered per client before it is ended as too slow. */
  maxBufferedEvents: number;
  /** Called for every event delivered to one client. */
  onDelivered?: (endpoint: Endpoint) => void;
}

export interface OpenSubscription {
  endpoint: Endpoint;
  operation: PreparedOperation;
  variables: Record<string, unknown> | undefined;
  /** The subscriber's context: who it is (sharing) and what to forward (now and later). */
  context: GatewayContext;
  /** Runs once when this client's subscription ends (either side). */
  onClose?: () => void;
}

export class SubscriptionManager {
  private readonly shared = new Map<string, SharedSubscription>();

  constructor(private readonly options: SubscriptionManagerOptions) {}

  /** Number of distinct shared subscriptions (tests). */
  get sharedCount(): number {
    return this.shared.size;
  }

  /** Starts a client subscription: an async iterator of formatted results. */
  open(request: OpenSubscription): PushIterator<FormattedExecutionResult> {
    const key = [
      request.endpoint.path,
      request.operation.operationName ?? '',
      request.operation.key,
      JSON.stringify(request.variables ?? {}),
      sharingKeyOf(request.context),
    ].join('\u0000');
    let shared = this.shared.get(key);
    if (!shared) {
      shared = new SharedSubscription(request, this.options, () => {
        if (this.shared.get(key) === shared) this.shared.delete(key);
      });
      this.shared.set(key, shared);
      shared.start();
    }
    return shared.add(request.onClose);
  }

  close(): void {
    for (const shared of [...this.shared.values()]) shared.stop();
    this.shared.clear();
  }
}

class SharedSubscription {
  /** Client iterators, each with the function reporting its end (once). */
  private readonly sinks = new Map<PushIterator<FormattedExecutionResult>, () => void>();
  private unsubscribe: (() => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(
    private readonly request: OpenSubscription,
    private readonly options: SubscriptionManagerOptions,
    private readonly onEmpty: () => void,
  ) {}

  start(): void {
    const { endpoint, operation, variables, context } = this.request;
    const primary = operation.plan.primary;
    if (!primary) throw new Error('not a subscription plan');
    const url = endpoint.executor.supergraph.subgraphUrls.get(primary.serviceName);
    if (!url) throw new Error(`no routing URL for subgraph "${primary.serviceName}"`);
    const primaryVariables: Record<string, unknown> = {};
    for (const { name } of primary.variableUsages) {
      if (variables && Object.prototype.hasOwnProperty.call(variables, name) && variables[name] !== undefined) {
        primaryVariables[name] = variables[name];
      }
    }
    const resumable = resumableFetch(endpoint.executor.supergraph.supergraphGraphQLSchema, primary.node.operation, primaryVariables);
    this.unsubscribe = this.options.hub.subscribe(
      {
        serviceName: primary.serviceName,
        wsUrl: url.replace(/^http/i, 'ws'),
        query: resumable?.query ?? primary.node.operation,
        ...(primary.node.operationName ? { operationName: primary.node.operationName } : {}),
        variables: resumable?.variables ?? primaryVariables,
        ...(resumable ? { resumeVariable: resumable.variable } : {}),
        headers: context.forwardHeaders,
        sharingKey: sharingKeyOf(context),
        currentHeaders: () => currentForwardHeaders(context),
      },
      {
        next: (event) => this.enqueue(() => this.deliver(event)),
        end: (errors) => this.enqueue(() => this.finish(errors)),
      },
    );
  }

  add(onClose: (() => void) | undefined): PushIterator<FormattedExecutionResult> {
    let closed = false;
    const reportClosed = () => {
      if (closed) return;
      closed = true;
      onClose?.();
    };
    const sink: PushIterator<FormattedExecutionResult> = new PushIterator<FormattedExecutionResult>(
      () => {
        this.remove(sink);
        reportClosed();
      },
      this.options.maxBufferedEvents,
      () => ({
        errors: [
          {
            message: 'The subscription was ended: the client did not keep up with its events.',
            extensions: { code: GatewayErrorCode.SUBSCRIPTION_UPSTREAM_CLOSED },
          },
        ],
      }),
    );
    if (this.ended) {
      sink.end();
      reportClosed();
    } else {
      this.sinks.set(sink, reportClosed);
    }
    return sink;
  }

  private remove(sink: PushIterator<FormattedExecutionResult>): void {
    const reportClosed = this.sinks.get(sink);
    if (!reportClosed) return;
    this.sinks.delete(sink);
    reportClosed();
    if (this.sinks.size === 0) this.stop();
  }

  /** Ends the shared subscription: upstream disposed, every client ended. */
  stop(): void {
    if (this.ended) return;
    this.ended = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.onEmpty();
    for (const [sink, reportClosed] of this.sinks) {
      sink.end();
      reportClosed();
    }
    this.sinks.clear();
  }

  private enqueue(task: () => Promise<void> | void): void {
    this.queue = this.queue.then(task).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'subscription event processing failed');
    });
  }

  private async deliver(event: SubgraphResponse): Promise<void> {
    if (this.ended || this.sinks.size === 0) return;
    const { endpoint, operation, variables, context } = this.request;
    let result: FormattedExecutionResult;
    try {
      const raw = await endpoint.executor.executeSubscriptionEvent(operation, event, variables, {
        headers: await currentForwardHeaders(context),
        onFetch: endpoint.observesFetches ? endpoint.onFetch : undefined,
      });
      result = {};
      if (raw.errors) result.errors = endpoint.format(raw.errors).formatted;
      if (raw.data !== undefined) result.data = raw.data;
      if (raw.extensions) result.extensions = raw.extensions;
      const cursor = event.extensions?.['cursor'];
      if (typeof cursor === 'string') result.extensions = { ...result.extensions, cursor };
    } catch (error) {
      result = { errors: endpoint.format([error]).formatted };
    }
    for (const sink of [...this.sinks.keys()]) {
      if (sink.push(result)) this.options.onDelivered?.(endpoint);
      else this.remove(sink); // ended as too slow
    }
  }

  private finish(errors: GraphQLFormattedError[] | undefined): void {
    if (this.ended) return;
    if (errors) for (const sink of this.sinks.keys()) sink.push({ errors });
    this.unsubscribe = undefined;
    this.stop();
  }
}
