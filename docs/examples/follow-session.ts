/**
 * Follow one lab session live over a GraphQL subscription (graphql-ws) until it is READY for its
 * student (printing its login URL) or has ended. Prints one line per status.
 *
 *   LCM_URL=http://127.0.0.1:4000 LCM_TOKEN=… npx tsx docs/examples/follow-session.ts <session-id>
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.env.LCM_URL ?? 'http://127.0.0.1:4000';
const token = process.env.LCM_TOKEN;
const id = process.argv[2];
if (!id) throw new Error('usage: follow-session.ts <session-id>');

interface Session {
  status: string;
  worker: { name: string } | null;
  userSession: { loginUrl: string | null } | null;
}
const FIELDS = 'status worker { name } userSession { loginUrl }';
const ENDED = ['STOPPED', 'ARCHIVED', 'EXPIRED', 'TERMINATED'];

const client = createClient({
  url: `${url.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket, // Node.js 20 has no global WebSocket
  connectionParams: { authorization: `Bearer ${token}` },
});

await new Promise<void>((resolve, reject) => {
  let last: string | undefined;
  const show = (session: Session) => {
    if (session.status === last) return;
    last = session.status;
    const where = session.worker ? ` on ${session.worker.name}` : '';
    const login = session.status === 'READY' && session.userSession?.loginUrl ? ` ${session.userSession.loginUrl}` : '';
    console.log(`${session.status}${where}${login}`);
    if (session.status === 'READY' || ENDED.includes(session.status)) resolve();
  };
  // Every change from now on…
  client.subscribe<{ sessionUpdated: Session }>(
    { query: `subscription Follow($id: ID!) { sessionUpdated(ids: [$id]) { ${FIELDS} } }`, variables: { id } },
    { next: ({ data, errors }) => (data ? show(data.sessionUpdated) : reject(new Error(errors?.[0]?.message))), error: reject, complete: resolve },
  );
  // …and where it stands already (it may be READY before the first change comes).
  client.subscribe<{ session: Session | null }>(
    { query: `query Now($id: ID!) { session(id: $id) { ${FIELDS} } }`, variables: { id } },
    { next: ({ data, errors }) => (data?.session ? show(data.session) : reject(new Error(errors?.[0]?.message ?? `no session ${id}`))), error: reject, complete: () => {} },
  );
});
await client.dispose();
