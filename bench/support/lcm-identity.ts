import { IDENTITY_HEADER, IdentitySigner, Scope, forwardedIdentityHeaders, type Identity } from '../../core/auth/identity.ts';

/**
 * The identity the peer gateways (stock @apollo/gateway, Hive Gateway) forward to LCM's subgraphs in
 * the benchmarks. LCM's subgraphs refuse calls without the gateway-signed `x-lcm-identity` header
 * (ADR 0008); our gateway signs it from the caller's token, the peers have no such hook, so their
 * adapters call `subgraphHeaders` for every subgraph request they send. It is the one place that
 * knows how the header is produced: when core/auth/identity.ts changes how (e.g. short-lived and
 * bound to the request body), only this function changes.
 */
export const BENCH_IDENTITY: Identity = { subject: 'bench-peer-gateway', kind: 'service', scopes: [Scope.READ] };

/** The secret every process of a benchmark shares (subgraphs, gateways); passed in the environment. */
export const SECRET_ENV = 'LCM_BENCH_INTERNAL_SECRET';

export function benchSecret(): string {
  const secret = process.env[SECRET_ENV];
  if (!secret || secret.length < 16) throw new Error(`${SECRET_ENV} must hold the benchmark's internal secret`);
  return secret;
}

let signer: IdentitySigner | undefined;
const sharedSigner = (): IdentitySigner => (signer ??= new IdentitySigner(benchSecret()));

/**
 * Headers for one HTTP request to a subgraph whose body is exactly `body`: the signed identity and its
 * binding to this body (core/auth/identity.ts `forwardedIdentityHeaders`; accepted once, for 30 s).
 */
export function subgraphHeaders(body: string, identity: Identity = BENCH_IDENTITY): Promise<Record<string, string>> {
  return forwardedIdentityHeaders(sharedSigner(), identity, body);
}

/**
 * `connectionParams` for a graphql-ws connection to a subgraph (subgraphs verify the token there, at
 * `connection_init` and for each operation). A peer configured once (Hive Gateway's static
 * `connectionParams`) gets a token that outlives the run (`ttlSeconds`); our gateway re-signs instead.
 */
export async function subgraphConnectionParams(identity: Identity = BENCH_IDENTITY, ttlSeconds?: number): Promise<Record<string, string>> {
  const signer = ttlSeconds === undefined ? sharedSigner() : new IdentitySigner(benchSecret(), ttlSeconds);
  return { [IDENTITY_HEADER]: await signer.sign(identity) };
}
