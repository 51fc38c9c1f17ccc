import type { OperatorClient } from './client.ts';
import { usage } from './errors.ts';
import { json, table, when, type Output } from './output.ts';

/**
 * `lcm keys create|list|revoke`: API keys through the gateway's `/admin/api-keys` routes (the `admin`
 * scope). The key itself is printed once, at creation; LCM keeps only a hash of it.
 */
interface ApiKeyView {
  id: string;
  name: string;
  scopes: string[];
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export async function createKey(client: OperatorClient, name: string, scopes: string, out: Output, asJson: boolean): Promise<void> {
  const list = scopes
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw usage('--scopes: at least one scope, e.g. --scopes read,sessions:write');
  const r = await client.rest<{ key: string; apiKey: ApiKeyView }>('POST', '/admin/api-keys', { name, scopes: list });
  if (asJson) return out.line(json(r));
  await out.line(r.key);
  out.note(`API key ${r.apiKey.id} "${r.apiKey.name}" (${r.apiKey.scopes.join(', ')}): the key above is shown only this once`);
}

export async function listKeys(client: OperatorClient, out: Output, asJson: boolean): Promise<void> {
  const { apiKeys } = await client.rest<{ apiKeys: ApiKeyView[] }>('GET', '/admin/api-keys');
  if (asJson) return out.line(json(apiKeys));
  await out.line(
    table(
      ['ID', 'NAME', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED'],
      apiKeys.map((k) => [k.id, k.name, k.scopes.join(','), when(k.createdAt), when(k.lastUsedAt), when(k.revokedAt)]),
      'no API keys',
    ),
  );
}

export async function revokeKey(client: OperatorClient, id: string, out: Output, asJson: boolean): Promise<void> {
  const { apiKey } = await client.rest<{ apiKey: ApiKeyView }>('DELETE', `/admin/api-keys/${encodeURIComponent(id)}`);
  await out.line(asJson ? json(apiKey) : `revoked ${apiKey.id} (${apiKey.name})`);
}
