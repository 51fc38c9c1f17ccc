import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoopbackAddressPool } from './addresses.ts';
import { matchesWildcard } from './filters.ts';
import { startEc2Simulator, type Ec2Simulator } from './index.ts';
import { QueryParams, parseFilters } from './query.ts';
import { document, escapeXml } from './xml.ts';

/** The wire format seen without the SDK: Query parsing, XML documents and error bodies, addresses. */

const parser = new XMLParser({ ignoreAttributes: false });

describe('EC2 Query protocol building blocks', () => {
  it('reads lists and structure lists in index order (InstanceId.10 after InstanceId.2)', () => {
    const params = QueryParams.parse(
      'Action=DescribeInstances&InstanceId.10=i-c&InstanceId.2=i-b&InstanceId.1=i-a&Filter.2.Name=tag%3Ateam&Filter.2.Value.1=a%20b&Filter.1.Name=instance-state-name&Filter.1.Value.2=stopped&Filter.1.Value.1=running',
    );
    expect(params.list('InstanceId')).toEqual(['i-a', 'i-b', 'i-c']);
    expect(parseFilters(params)).toEqual([
      { name: 'instance-state-name', values: ['running', 'stopped'] },
      { name: 'tag:team', values: ['a b'] },
    ]);
    // The idempotency fingerprint ignores parameter order and the excluded keys.
    const reordered = QueryParams.parse('InstanceId.2=i-b&Action=Other&InstanceId.1=i-a');
    expect(reordered.fingerprint(['Action'])).toBe(QueryParams.parse('InstanceId.1=i-a&InstanceId.2=i-b').fingerprint([]));
    expect(reordered.fingerprint(['Action'])).not.toBe(QueryParams.parse('InstanceId.1=i-b&InstanceId.2=i-a').fingerprint([]));
  });

  it('matches EC2 filter wildcards: * any run, ? one character, backslash escapes', () => {
    expect(matchesWildcard('CML-2.7*', 'CML-2.7.2-b4')).toBe(true);
    expect(matchesWildcard('CML-2.7*', 'CML-2.8.0')).toBe(false);
    expect(matchesWildcard('t3.?arge', 't3.large')).toBe(true);
    expect(matchesWildcard('t3.?arge', 't3.xlarge')).toBe(false);
    expect(matchesWildcard('a.b', 'axb')).toBe(false); // dots are literal
    expect(matchesWildcard('literal\\*', 'literal*')).toBe(true);
    expect(matchesWildcard('literal\\*', 'literally')).toBe(false);
    expect(matchesWildcard('*', '')).toBe(true);
  });

  it('writes namespaced XML with escaped text, <item> lists and omitted absent members', () => {
    const xml = document('DescribeThingsResponse', 'http://ec2.amazonaws.com/doc/2016-11-15/', {
      requestId: 'r-1',
      thingSet: [{ name: 'a<b>&"c"', flag: true, count: 0, missing: undefined }],
      emptySet: [],
    });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeThingsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
        '<requestId>r-1</requestId><thingSet><item><name>a&lt;b&gt;&amp;&quot;c&quot;</name><flag>true</flag><count>0</count></item></thingSet>' +
        '<emptySet/></DescribeThingsResponse>',
    );
    expect(escapeXml("'")).toBe('&apos;');
  });

  it('gives each simulator its own 127.B.0.0/16 block, never 127.0.x.x, and distinct addresses', () => {
    const pools = [new LoopbackAddressPool(), new LoopbackAddressPool(), new LoopbackAddressPool()];
    try {
      expect(new Set(pools.map((p) => p.block)).size).toBe(3);
      const addresses = new Set<string>();
      for (const pool of pools) {
        expect(pool.block).toBeGreaterThanOrEqual(1);
        for (let i = 0; i < 300; i++) {
          const address = pool.allocate();
          expect(address).toMatch(new RegExp(`^127\\.${pool.block}\\.\\d+\\.(\\d+)$`));
          expect(address.endsWith('.0') || address.endsWith('.255')).toBe(false);
          addresses.add(address);
        }
      }
      expect(addresses.size).toBe(900);
      expect(() => new LoopbackAddressPool(0)).toThrow(/1\.\.254/);
    } finally {
      for (const pool of pools) pool.close();
    }
  });
});

describe('EC2 simulator on the wire', () => {
  let sim: Ec2Simulator;
  beforeAll(async () => {
    sim = await startEc2Simulator({ bootMs: 0 });
  });
  afterAll(() => sim.close());

  const post = (body: string) =>
    fetch(`${sim.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });

  it('answers an unknown action with InvalidAction in the EC2 error envelope, and the request id in header and body', async () => {
    const response = await post('Action=LaunchRocket&Version=2016-11-15');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('text/xml;charset=UTF-8');
    const body = parser.parse(await response.text()) as {
      Response: { Errors: { Error: { Code: string; Message: string } }; RequestID: string };
    };
    expect(body.Response.Errors.Error).toEqual({ Code: 'InvalidAction', Message: 'The action LaunchRocket is not valid for this web service.' });
    expect(body.Response.RequestID).toBe(response.headers.get('x-amzn-requestid'));
  });

  it('answers MissingAction without an Action and MissingParameter without a required parameter', async () => {
    const noAction = parser.parse(await (await post('Version=2016-11-15')).text()) as { Response: { Errors: { Error: { Code: string } } } };
    expect(noAction.Response.Errors.Error.Code).toBe('MissingAction');
    const response = await post('Action=RunInstances&Version=2016-11-15&ImageId=ami-0123456789abcdef0&MinCount=1');
    expect(response.status).toBe(400);
    const noMax = parser.parse(await response.text()) as { Response: { Errors: { Error: { Code: string; Message: string } } } };
    expect(noMax.Response.Errors.Error).toEqual({ Code: 'MissingParameter', Message: 'The request must contain the parameter MaxCount' });
  });

  it('serves GET /?Action=… too, with the namespaced <ActionResponse> root', async () => {
    const response = await fetch(`${sim.url}/?Action=DescribeImages&Version=2016-11-15&Owner.1=amazon`);
    expect(response.status).toBe(200);
    const body = parser.parse(await response.text()) as {
      DescribeImagesResponse: { '@_xmlns': string; requestId: string; imagesSet: { item: { name: string } } };
    };
    expect(body.DescribeImagesResponse['@_xmlns']).toBe('http://ec2.amazonaws.com/doc/2016-11-15/');
    expect(body.DescribeImagesResponse.requestId).toBe(response.headers.get('x-amzn-requestid'));
    expect(body.DescribeImagesResponse.imagesSet.item.name).toMatch(/^al2023-ami-/);
  });

  it('answers 404 for other paths and methods, and /healthz', async () => {
    expect((await fetch(`${sim.url}/`)).status).toBe(404);
    expect((await fetch(`${sim.url}/_sim/nothing`)).status).toBe(404);
    expect((await fetch(`${sim.url}/healthz`)).status).toBe(200);
  });
});
