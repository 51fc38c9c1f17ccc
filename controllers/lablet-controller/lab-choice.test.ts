import { describe, expect, it } from 'vitest';
import { CmlApiError, type CmlClient } from '../../core/clients/cml/index.ts';
import { formatLabMarkers } from './lab.ts';
import { LabDirectory, type LabChoiceRequest } from './lab-choice.ts';

/** A worker's CML labs (id → description and state), counting the calls the choice makes. */
function fakeCml(labs: Map<string, { description: string; state: string }>) {
  const calls = { list: 0, get: [] as string[] };
  const cml = {
    listLabs: async () => (calls.list++, [...labs.keys()]),
    getLab: async (id: string) => {
      calls.get.push(id);
      const lab = labs.get(id);
      if (!lab) throw new CmlApiError(404, 404, 'no such lab', 'GET', `/labs/${id}`);
      return { id, lab_title: id, lab_description: lab.description, state: lab.state };
    },
  } as unknown as CmlClient;
  return { cml, calls };
}

const lab = (definitionId: string, sessionId: string, state = 'DEFINED_ON_CORE') => ({ description: formatLabMarkers({ definitionId, sessionId }), state });
const request = (over: Partial<LabChoiceRequest> = {}): LabChoiceRequest => ({ sessionId: 'new', definitionId: 'd1', held: new Set(), importing: new Set(), ...over });

describe('LabDirectory (which lab a session takes)', () => {
  it('reuses a wiped lab of the definition that nobody holds; never a held one, one of another definition, one not wiped, or one still being imported', async () => {
    const labs = new Map([
      ['held', lab('d1', 'a')],
      ['other-def', lab('d2', 'b')],
      ['running', lab('d1', 'c', 'STARTED')],
      ['importing', lab('d1', 'd')],
      ['foreign', { description: 'a lab someone made by hand', state: 'DEFINED_ON_CORE' }],
    ]);
    const { cml } = fakeCml(labs);
    const dir = new LabDirectory();
    const req = request({ held: new Set(['held']), importing: new Set(['d']) });
    expect(await dir.choose('w1', cml, req)).toBeUndefined();
    labs.set('wiped', lab('d1', 'e'));
    expect(await dir.choose('w1', cml, req)).toEqual({ labId: 'wiped', how: 'reused' });
  });

  it('finds the lab this session imported before (its marker) first', async () => {
    const labs = new Map([
      ['reusable', lab('d1', 'old')],
      ['mine', lab('d1', 'new', 'STARTED')],
    ]);
    const { cml } = fakeCml(labs);
    expect(await new LabDirectory().choose('w1', cml, request())).toEqual({ labId: 'mine', how: 'mine' });
  });

  it('fetches a lab in full once; after that only labs that could be taken, whose state is read fresh', async () => {
    const labs = new Map([
      ['x1', lab('d2', 'a')],
      ['x2', lab('d2', 'b')],
      ['c1', lab('d1', 'c', 'STARTED')],
      ['h1', lab('d1', 'h')],
    ]);
    const { cml, calls } = fakeCml(labs);
    const dir = new LabDirectory();
    const req = request({ held: new Set(['h1']) });
    expect(await dir.choose('w1', cml, req)).toBeUndefined();
    expect(calls.get.sort()).toEqual(['c1', 'x1', 'x2']);
    calls.get.length = 0;
    // c1 was wiped meanwhile: only it is read again, and now it is taken.
    labs.set('c1', lab('d1', 'c'));
    expect(await dir.choose('w1', cml, req)).toEqual({ labId: 'c1', how: 'reused' });
    expect(calls.get).toEqual(['c1']);
    // Another worker's labs are its own.
    calls.get.length = 0;
    await dir.choose('w2', cml, req);
    expect(calls.get.sort()).toEqual(['c1', 'x1', 'x2']);
  });

  it('a lab deleted between the list and its fetch is skipped', async () => {
    const labs = new Map([['gone', lab('d1', 'a')]]);
    const { cml } = fakeCml(labs);
    const deleting = { ...cml, listLabs: async () => ['gone', 'ok'] } as unknown as CmlClient;
    labs.delete('gone');
    labs.set('ok', lab('d1', 'b'));
    expect(await new LabDirectory().choose('w1', deleting, request())).toEqual({ labId: 'ok', how: 'reused' });
  });
});

describe('LabDirectory.remember', () => {
  it('a lab this process imported is never fetched to learn its markers', async () => {
    const labs = new Map([['imported', lab('d1', 'a', 'STARTED')]]);
    const { cml, calls } = fakeCml(labs);
    const dir = new LabDirectory();
    dir.remember('w1', 'imported', { definitionId: 'd1', sessionId: 'a' });
    expect(await dir.choose('w1', cml, request({ importing: new Set(['a']) }))).toBeUndefined();
    expect(calls.get).toEqual([]);
  });
});
