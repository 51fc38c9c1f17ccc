/**
 * Book a lab session with typed operations: graphql-codegen turns book-session.graphql into
 * TypedDocumentNodes (__generated__/operations.ts), sent with plain fetch. Prints the session's id.
 *
 *   LCM_URL=http://127.0.0.1:4000 LCM_TOKEN=… npx tsx docs/examples/book-session.ts alice
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { CreateDefinitionDocument, CreateSessionDocument, FindDefinitionDocument } from './__generated__/operations.ts';

const url = process.env.LCM_URL ?? 'http://127.0.0.1:4000';
const token = process.env.LCM_TOKEN;

/** One GraphQL request; the document's types give the variables' and the result's. */
async function request<Result, Variables>(document: TypedDocumentNode<Result, Variables>, variables: Variables): Promise<Result> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: Result; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length || !body.data) {
    throw new Error(body.errors?.map((e) => `${e.message} (${e.extensions?.code})`).join('; ') ?? `HTTP ${response.status}`);
  }
  return body.data;
}

const owner = process.argv[2] ?? 'alice';

// The lab blueprint: found by name, or created (one router, one console port).
const found = await request(FindDefinitionDocument, { name: 'hello-router' });
const definition =
  found.definitions.edges[0]?.node ??
  (
    await request(CreateDefinitionDocument, {
      input: {
        name: 'hello-router',
        version: '1.0.0',
        labYaml: 'lab: {title: hello-router, version: 0.2.2}\nnodes:\n  - {id: n0, label: r1, node_definition: iosv, x: 0, y: 0}\nlinks: []\n',
        resourceRequirements: { cpuCores: 1, memoryGb: 1, storageGb: 4, nodeCount: 1 },
        portTemplate: [{ name: 'r1-console', protocol: 'serial' }],
      },
    })
  ).createDefinition;

const { createSession } = await request(CreateSessionDocument, { definitionId: definition.id, owner });
console.log(createSession.id);
