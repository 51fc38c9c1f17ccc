/**
 * The LCM live dashboard (served by the gateway at `GET /`; docs/adr/0013-dashboard.md).
 * Plain TypeScript + DOM. Everything live comes from three graphql-ws subscriptions (sessionUpdated,
 * workerUpdated, scoreReportPublished); after every (re)connection the lists are queried again, so a
 * gateway restart loses nothing and nothing polls.
 */
import './style.css';
import {
  DashCreateDefinitionDocument,
  DashCreateSessionDocument,
  DashDefinitionsDocument,
  DashScoreReportPublishedDocument,
  DashScoreReportsDocument,
  DashSessionsDocument,
  DashSessionUpdatedDocument,
  DashTerminateSessionDocument,
  DashTransitionSessionDocument,
  DashWorkersDocument,
  DashWorkerUpdatedDocument,
  InternalDrainWorkerDocument,
  InternalSetWorkerDesiredStatusDocument,
  type DashCapacityFragment,
  type DashDefinitionFragment,
  type DashScoreReportFragment,
  type DashSessionFragment,
  type DashWorkerFragment,
  type LabletSessionStatus,
  type WorkerStatus,
} from '../__generated__/operations.ts';
import { Api, ApiError, whoAmI, type ResumableSubscription, type WhoAmI } from './api.ts';
import { parseDefinitionFile, DefinitionFileError } from './definition-file.ts';
import { h, mount, short, time } from './dom.ts';

const TOKEN_KEY = 'lcm.token';
const PAGE = 500;
const MAX_ITEMS = 5000;

type Session = DashSessionFragment;
type Worker = DashWorkerFragment;
type Report = DashScoreReportFragment;
type Definition = DashDefinitionFragment;
type View = 'sessions' | 'workers' | 'reports' | 'definitions';
const VIEWS: Array<{ id: View; label: string }> = [
  { id: 'sessions', label: 'Sessions' },
  { id: 'workers', label: 'Workers' },
  { id: 'reports', label: 'Score reports' },
  { id: 'definitions', label: 'Definitions' },
];

/** The moves a person makes through `transitionSession` (the sessions subgraph's MANUAL_TRANSITIONS). */
const MANUAL: Partial<Record<LabletSessionStatus, Array<{ to: LabletSessionStatus; label: string }>>> = {
  READY: [{ to: 'RUNNING', label: 'Student starts' }],
  RUNNING: [
    { to: 'COLLECTING', label: 'Student finishes' },
    { to: 'STOPPING', label: 'Stop' },
  ],
  COLLECTING: [{ to: 'STOPPING', label: 'Stop' }],
  GRADING: [{ to: 'STOPPING', label: 'Stop' }],
  EXPIRED: [{ to: 'STOPPING', label: 'Stop' }],
};
const FINISHED: ReadonlySet<LabletSessionStatus> = new Set(['STOPPED', 'ARCHIVED', 'TERMINATED']);
/** Statuses in which a session holds capacity on its worker (core/domain/session-state-machine.ts). */
const HOLDS_CAPACITY: ReadonlySet<LabletSessionStatus> = new Set(['SCHEDULED', 'INSTANTIATING', 'READY', 'RUNNING', 'COLLECTING', 'GRADING', 'STOPPING', 'EXPIRED']);

const state = {
  api: undefined as Api | undefined,
  who: undefined as WhoAmI | undefined,
  internal: false,
  connection: 'connecting' as 'connecting' | 'live' | 'reconnecting',
  loaded: false,
  view: 'sessions' as View,
  sessions: new Map<string, Session>(),
  workers: new Map<string, Worker>(),
  reports: new Map<string, Report>(),
  definitions: new Map<string, Definition>(),
  /** Entities changed by events while a reload runs (kept when newer than the reload's answer). */
  touched: new Set<string>(),
  expanded: new Set<string>(),
  hideFinished: false,
  subscriptions: {} as Partial<Record<'sessions' | 'workers' | 'reports', ResumableSubscription>>,
};

const app = document.getElementById('app')!;

// ---------------------------------------------------------------------------------------------
// Sign-in

function showSignIn(message?: string): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: false, 'aria-describedby': 'token-help' });
  const error = h('p', { id: 'signin-error', class: 'error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    {
      class: 'signin card',
      'aria-labelledby': 'signin-title',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void signIn(input.value.trim(), error);
      },
    },
    h('h1', { id: 'signin-title' }, 'LCM dashboard'),
    h('label', { for: 'token' }, 'Admin token or API key'),
    input,
    h('p', { id: 'token-help', class: 'help' }, 'The admin token is printed by ', h('code', null, 'lcm up'), ' and kept in ', h('code', null, '.lcm/admin-token'), '. It stays in this browser tab only (session storage).'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error,
  );
  mount(app, h('main', { class: 'signin-page' }, form));
  input.focus();
}

async function signIn(token: string, error?: HTMLElement): Promise<void> {
  const say = (text: string) => {
    if (error) error.textContent = text;
    else showSignIn(text);
  };
  if (!token) return say('Paste a token first.');
  let who: WhoAmI;
  try {
    who = await whoAmI(token);
  } catch (e) {
    return say(`The gateway cannot be reached (${e instanceof Error ? e.message : String(e)}).`);
  }
  if (!who.active) {
    sessionStorage.removeItem(TOKEN_KEY);
    return say(`The gateway did not accept this token (${who.code ?? 'UNAUTHENTICATED'}: ${who.message ?? 'invalid token'}). Paste the admin token or an API key.`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.who = who;
  state.internal = who.scopes?.includes('internal') ?? false;
  state.api = new Api(token);
  startApp();
}

function signOut(): void {
  for (const sub of Object.values(state.subscriptions)) sub.stop();
  state.subscriptions = {};
  state.api?.close();
  state.api = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const m of [state.sessions, state.workers, state.reports, state.definitions]) m.clear();
  state.loaded = false;
  showSignIn();
}

// ---------------------------------------------------------------------------------------------
// Data: queries after every (re)connection, events in between

async function all<N>(fetchPage: (after: string | null) => Promise<{ pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: Array<{ node: N }> }>): Promise<N[]> {
  const out: N[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await fetchPage(after);
    out.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor || out.length >= MAX_ITEMS) return out;
    after = page.pageInfo.endCursor;
  }
}

/** The query's answer, but an entity an event changed meanwhile stays as the event left it. */
function replace<T extends { id: string; revision?: number }>(map: Map<string, T>, items: T[]): Map<string, T> {
  const next = new Map(items.map((i) => [i.id, i]));
  for (const [id, current] of map) {
    if (!state.touched.has(id)) continue;
    const fresh = next.get(id);
    if (!fresh || (current.revision ?? 0) > (fresh.revision ?? 0)) next.set(id, current);
  }
  return next;
}

type List = 'sessions' | 'workers' | 'reports' | 'definitions';
const LISTS: readonly List[] = ['sessions', 'workers', 'reports', 'definitions'];

let loadRun = 0;
/** Query the lists (all of them by default) and show the answers. */
async function loadAll(lists: readonly List[] = LISTS): Promise<void> {
  const api = state.api;
  if (!api) return;
  const run = ++loadRun;
  state.touched.clear();
  const want = new Set(lists);
  const load = <N>(list: List, fetchPage: Parameters<typeof all<N>>[0]): Promise<N[] | undefined> =>
    want.has(list) ? all(fetchPage) : Promise.resolve(undefined);
  try {
    const [sessions, workers, reports, definitions] = await Promise.all([
      load('sessions', (after) => api.request(DashSessionsDocument, { first: PAGE, after }).then((d) => d.sessions)),
      load('workers', (after) => api.request(DashWorkersDocument, { first: PAGE, after }).then((d) => d.workers)),
      load('reports', (after) => api.request(DashScoreReportsDocument, { first: PAGE, after }).then((d) => d.scoreReports)),
      load('definitions', (after) => api.request(DashDefinitionsDocument, { first: PAGE, after }).then((d) => d.definitions)),
    ]);
    if (run !== loadRun || api !== state.api) return;
    if (sessions) state.sessions = replace(state.sessions, sessions);
    if (workers) state.workers = replace(state.workers, workers);
    if (reports) state.reports = replace(state.reports, reports);
    if (definitions) state.definitions = replace(state.definitions, definitions);
    state.loaded = true;
    render();
  } catch (e) {
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') {
      signOut();
      showSignIn(`The gateway no longer accepts this token (${e.message}). Sign in again.`);
      return;
    }
    notify(`Could not load the lists: ${describe(e)}`, true);
  }
}

function upsert<T extends { id: string; revision?: number }>(map: Map<string, T>, item: T): void {
  const current = map.get(item.id);
  if (current && (current.revision ?? 0) > (item.revision ?? 0)) return;
  map.set(item.id, item);
  state.touched.add(item.id);
  render();
}

function startApp(): void {
  const api = state.api!;
  renderShell();
  api.connect({
    onConnected: (again) => {
      state.connection = 'live';
      renderConnection();
      // After a reconnection a subscription with a cursor resumes (the gateway replays what happened
      // meanwhile): only the lists without one (no event seen yet), and the definitions (no
      // subscription), are read again.
      const subs = state.subscriptions;
      void loadAll(again ? LISTS.filter((l) => l === 'definitions' || !subs[l]?.resumable) : LISTS);
    },
    onClosed: () => {
      if (state.api !== api) return;
      state.connection = 'reconnecting';
      renderConnection();
    },
  });
  const failed = (what: string) => (e: ApiError) => notify(`The ${what} subscription stopped: ${e.message}. Reload the page to resubscribe.`, true);
  // The events missed are no longer held by the gateway: re-read everything (the subscription goes on afresh).
  const expired = () => void loadAll();
  state.subscriptions = {
    sessions: api.subscribe(DashSessionUpdatedDocument, { next: (d) => upsert(state.sessions, d.sessionUpdated), expired, error: failed('sessionUpdated') }),
    workers: api.subscribe(DashWorkerUpdatedDocument, { next: (d) => upsert(state.workers, d.workerUpdated), expired, error: failed('workerUpdated') }),
    reports: api.subscribe(DashScoreReportPublishedDocument, { next: (d) => upsert(state.reports, d.scoreReportPublished), expired, error: failed('scoreReportPublished') }),
  };
}

// ---------------------------------------------------------------------------------------------
// Shell: header, tabs, the four panels (their forms built once; their lists re-rendered on change)

const panels = {} as Record<View, { section: HTMLElement; list: HTMLElement; refresh(): void }>;
const statusEl = h('span', { class: 'connection', role: 'status', 'aria-live': 'polite' });
const toast = h('div', { class: 'toasts', 'aria-live': 'polite' });
const tabs = {} as Record<View, HTMLButtonElement>;

function renderShell(): void {
  const who = state.who;
  const scopes = who?.scopes ?? [];
  const identity = h('span', { title: `scopes: ${scopes.join(', ') || 'none'}` }, `${who?.subject ?? '?'} (${scopes.length} scope${scopes.length === 1 ? '' : 's'}${state.internal ? ', internal' : ''})`);
  const nav = h(
    'nav',
    { class: 'tabs', role: 'tablist', 'aria-label': 'Views' },
    VIEWS.map(({ id, label }) => {
      const b = h('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`, onclick: () => show(id) }, label);
      tabs[id] = b;
      return b;
    }),
  );
  panels.sessions = sessionsPanel();
  panels.workers = workersPanel();
  panels.reports = reportsPanel();
  panels.definitions = definitionsPanel();
  mount(
    app,
    h(
      'header',
      { class: 'top' },
      h('h1', null, 'LCM'),
      statusEl,
      h('span', { class: 'identity' }, 'Signed in with ', identity),
      h('a', { href: '/graphql', class: 'link' }, 'GraphiQL'),
      state.internal ? h('a', { href: '/internal/graphql', class: 'link' }, 'GraphiQL (internal)') : null,
      h('button', { type: 'button', onclick: signOut }, 'Sign out'),
    ),
    nav,
    h('main', null, VIEWS.map(({ id }) => panels[id].section)),
    toast,
  );
  const fromHash = location.hash.slice(1) as View;
  show(VIEWS.some((v) => v.id === fromHash) ? fromHash : 'sessions');
  renderConnection();
  render();
}

function show(view: View): void {
  state.view = view;
  for (const { id } of VIEWS) {
    panels[id].section.hidden = id !== view;
    tabs[id].setAttribute('aria-selected', String(id === view));
    tabs[id].tabIndex = id === view ? 0 : -1;
  }
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
}

function renderConnection(): void {
  const text = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' }[state.connection];
  statusEl.textContent = text;
  statusEl.title = state.connection === 'reconnecting' ? 'The connection to the gateway dropped: showing the last known state until it is back' : '';
  statusEl.dataset.state = state.connection;
}

let scheduled = false;
function render(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    if (!state.api) return;
    for (const { id } of VIEWS) panels[id].refresh();
  });
}

function notify(text: string, isError = false): void {
  const el = h('p', { class: isError ? 'toast error' : 'toast', role: isError ? 'alert' : 'status' }, text, ' ', h('button', { type: 'button', class: 'small', 'aria-label': 'Dismiss', onclick: () => el.remove() }, '×'));
  toast.append(el);
  if (!isError) setTimeout(() => el.remove(), 6000);
}

const describe = (e: unknown) => (e instanceof ApiError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

async function act(label: string, run: () => Promise<void>, button?: HTMLButtonElement): Promise<void> {
  if (button) button.disabled = true;
  try {
    await run();
  } catch (e) {
    notify(`${label} failed — ${describe(e)}`, true);
  } finally {
    if (button) button.disabled = false;
  }
}

const badge = (status: string) => h('span', { class: `badge s-${status.toLowerCase()}` }, status);

function panel(id: View, title: string, ...top: Node[]): { section: HTMLElement; list: HTMLElement } {
  const list = h('div', { class: 'list' });
  const section = h('section', { id: `panel-${id}`, role: 'tabpanel', 'aria-labelledby': `tab-${id}` }, h('h2', null, title), ...top, list);
  return { section, list };
}

// ---------------------------------------------------------------------------------------------
// Sessions

function sessionsPanel() {
  const definition = h('select', { id: 'new-session-definition', name: 'definition', required: true });
  const owner = h('input', { id: 'new-session-owner', name: 'owner', required: true, value: 'student', autocomplete: 'off' });
  const start = h('input', { id: 'new-session-start', name: 'start', type: 'datetime-local' });
  const end = h('input', { id: 'new-session-end', name: 'end', type: 'datetime-local' });
  const form = h(
    'form',
    {
      class: 'card inline-form',
      'aria-label': 'New session',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
        void act(
          'Creating the session',
          async () => {
            const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
            const d = await state.api!.request(DashCreateSessionDocument, {
              input: { definitionId: definition.value, owner: owner.value.trim(), timeslotStart: iso(start.value), timeslotEnd: iso(end.value) },
            });
            upsert(state.sessions, d.createSession);
            notify(`Session ${d.createSession.id} created for ${d.createSession.owner} (${d.createSession.status}).`);
          },
          submit,
        );
      },
    },
    h('h3', null, 'New session'),
    h('label', { for: definition.id }, 'Definition'),
    definition,
    h('label', { for: owner.id }, 'Owner'),
    owner,
    h('label', { for: start.id }, 'Timeslot start (optional)'),
    start,
    h('label', { for: end.id }, 'Timeslot end (optional)'),
    end,
    h('button', { type: 'submit', class: 'primary' }, 'Create session'),
  );
  const hide = h('input', {
    id: 'hide-finished',
    type: 'checkbox',
    onchange: () => {
      state.hideFinished = hide.checked;
      render();
    },
  });
  const { section, list } = panel('sessions', 'Sessions', form, h('p', { class: 'filters' }, hide, h('label', { for: hide.id }, ' Hide finished sessions (stopped, archived, terminated)')));

  const refresh = () => {
    // The definition choice, kept across updates.
    const chosen = definition.value;
    const active = [...state.definitions.values()].filter((d) => d.status === 'ACTIVE').sort((a, b) => `${a.name}@${a.version}`.localeCompare(`${b.name}@${b.version}`));
    mount(definition, active.length === 0 ? h('option', { value: '' }, 'No definition yet: apply one on the Definitions page') : active.map((d) => h('option', { value: d.id }, `${d.name} @ ${d.version}`)));
    if (active.some((d) => d.id === chosen)) definition.value = chosen;

    const sessions = [...state.sessions.values()]
      .filter((s) => !(state.hideFinished && FINISHED.has(s.status)))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    if (sessions.length === 0) {
      mount(list, h('p', { class: 'empty' }, state.loaded ? 'No sessions.' : 'Loading…'));
      return;
    }
    mount(
      list,
      h(
        'table',
        { class: 'sessions' },
        h('caption', { class: 'visually-hidden' }, 'Sessions, newest first'),
        h('thead', null, h('tr', null, ['Session', 'Owner', 'Definition', 'Status', 'Worker', 'Login', 'Updated', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, sessions.map(sessionRows)),
      ),
    );
  };
  return { section, list, refresh };
}

function sessionRows(s: Session): Node[] {
  const open = state.expanded.has(s.id);
  const actions = [
    ...(MANUAL[s.status] ?? []).map(({ to, label }) => {
      const b: HTMLButtonElement = h('button', { type: 'button', dataset: { action: to }, title: `${s.status} → ${to}`, onclick: () => void act(label, async () => upsert(state.sessions, (await state.api!.request(DashTransitionSessionDocument, { id: s.id, to, reason: `dashboard: ${label.toLowerCase()}` })).transitionSession), b) }, label);
      return b;
    }),
    s.status === 'TERMINATED' || s.status === 'ARCHIVED'
      ? null
      : (() => {
          const b: HTMLButtonElement = h(
            'button',
            {
              type: 'button',
              class: 'danger',
              dataset: { action: 'TERMINATE' },
              onclick: () => {
                if (!confirm(`Terminate session ${s.id} of ${s.owner}? Its lab is torn down at once.`)) return;
                void act('Terminate', async () => upsert(state.sessions, (await state.api!.request(DashTerminateSessionDocument, { id: s.id, reason: 'dashboard: terminated by an operator' })).terminateSession), b);
              },
            },
            'Terminate',
          );
          return b;
        })(),
  ];
  const login = s.userSession?.loginUrl;
  const row = h(
    'tr',
    { dataset: { sessionId: s.id, status: s.status } },
    h(
      'td',
      null,
      h(
        'button',
        {
          type: 'button',
          class: 'link-button',
          'aria-expanded': String(open),
          'aria-controls': `timeline-${s.id}`,
          title: 'Show the timeline',
          onclick: () => {
            if (open) state.expanded.delete(s.id);
            else state.expanded.add(s.id);
            render();
          },
        },
        h('code', null, short(s.id)),
      ),
    ),
    h('td', null, s.owner),
    h('td', null, `${s.definition.name} @ ${s.definition.version}`),
    h('td', { class: 'status' }, badge(s.status)),
    h('td', null, s.worker?.name ?? '—'),
    h('td', null, login ? h('a', { href: login, target: '_blank', rel: 'noopener noreferrer' }, 'Open lab') : '—'),
    h('td', null, time(s.updatedAt)),
    h('td', null, h('div', { class: 'actions' }, actions)),
  );
  if (!open) return [row];
  const history = [...s.statusHistory].sort((a, b) => a.at.localeCompare(b.at));
  return [
    row,
    h(
      'tr',
      { class: 'detail', id: `timeline-${s.id}` },
      h(
        'td',
        { colSpan: 8 },
        h(
          'div',
          { class: 'detail-grid' },
          h(
            'div',
            null,
            h('h4', null, 'Timeline'),
            h(
              'ol',
              { class: 'timeline', 'aria-label': `Timeline of session ${s.id}` },
              history.map((t) => h('li', null, h('time', { dateTime: t.at }, time(t.at)), ' ', t.from ? `${t.from} → ` : '', h('strong', null, t.to), t.actor ? ` by ${t.actor}` : '', t.reason ? ` — ${t.reason}` : '')),
            ),
          ),
          h(
            'dl',
            null,
            h('dt', null, 'Session id'),
            h('dd', null, h('code', null, s.id)),
            h('dt', null, 'Timeslot'),
            h('dd', null, `${time(s.timeslotStart)} – ${time(s.timeslotEnd)}`),
            h('dt', null, 'Ports'),
            h('dd', null, s.allocatedPorts.length ? s.allocatedPorts.map((p) => `${p.name}: ${p.port}`).join(', ') : '—'),
            h('dt', null, 'CML lab'),
            h('dd', null, s.cmlLabId ?? '—'),
            h('dt', null, 'User session'),
            h('dd', null, s.userSession ? `${s.userSession.status}${s.userSession.loginUrl ? ` · ${s.userSession.loginUrl}` : ''}` : '—'),
            h('dt', null, 'Grading'),
            h('dd', null, s.gradingSession?.status ?? '—'),
          ),
        ),
      ),
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Workers

function bar(label: string, used: number, total: number, unit: string) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const text = `${fmt(used)} / ${fmt(total)} ${unit}`;
  return h(
    'div',
    { class: 'capacity' },
    h('span', { class: 'capacity-label' }, label),
    h('div', { class: `bar${pct >= 90 ? ' full' : ''}`, role: 'meter', 'aria-label': `${label} allocated`, 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(used), 'aria-valuetext': text }, h('div', { class: 'fill', style: `width:${pct}%` })),
    h('span', { class: 'capacity-text' }, text),
  );
}
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function workersPanel() {
  const note = state.internal ? null : h('p', { class: 'help' }, 'Draining and stopping workers needs a token with the internal scope.');
  const { section, list } = panel('workers', 'Workers', ...(note ? [note] : []));
  const refresh = () => {
    const workers = [...state.workers.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (workers.length === 0) {
      mount(list, h('p', { class: 'empty' }, state.loaded ? 'No workers. The worker-controller starts them when sessions need capacity.' : 'Loading…'));
      return;
    }
    mount(list, h('div', { class: 'cards' }, workers.map(workerCard)));
  };
  return { section, list, refresh };
}

function workerCard(w: Worker): HTMLElement {
  const cap = (c: DashCapacityFragment) => c;
  const declared = cap(w.declaredCapacity);
  const allocated = cap(w.allocatedCapacity);
  // The worker's own list is as of its last event; sessions placed since, or moved on, come from their events.
  const ids = new Set([...w.sessions.map((s) => s.id), ...[...state.sessions.values()].filter((s) => s.worker?.id === w.id).map((s) => s.id)]);
  const sessions = [...ids]
    .map((id) => state.sessions.get(id) ?? w.sessions.find((s) => s.id === id)!)
    .filter((s) => HOLDS_CAPACITY.has(s.status));
  const internalAction = (label: string, run: () => Promise<unknown>, danger = false, ask?: string) => {
    const b: HTMLButtonElement = h(
      'button',
      {
        type: 'button',
        class: danger ? 'danger' : '',
        onclick: () => {
          if (ask && !confirm(ask)) return;
          void act(
            label,
            async () => {
              await run();
              notify(`${label}: ${w.name} — done; the worker-controller takes it from here.`);
            },
            b,
          );
        },
      },
      label,
    );
    return b;
  };
  const canServe = w.status === 'RUNNING' || w.status === 'DRAINING';
  const desired = (d: WorkerStatus) => state.api!.request(InternalSetWorkerDesiredStatusDocument, { id: w.id, desiredStatus: d, reason: `dashboard: ${d.toLowerCase()}` }, 'internal');
  return h(
    'article',
    { class: 'card worker', dataset: { workerId: w.id, status: w.status }, 'aria-labelledby': `worker-${w.id}` },
    h('h3', { id: `worker-${w.id}` }, w.name, ' ', badge(w.status), w.desiredStatus !== 'RUNNING' && w.desiredStatus !== w.status ? h('span', { class: 'desired' }, ` → ${w.desiredStatus}`) : null),
    h('p', { class: 'meta' }, [w.templateName, w.instanceType, w.ipAddress, w.licenseType].filter(Boolean).join(' · ')),
    w.statusReason ? h('p', { class: 'meta' }, w.statusReason) : null,
    bar('CPU', allocated.cpuCores, declared.cpuCores, 'cores'),
    bar('Memory', allocated.memoryGb, declared.memoryGb, 'GB'),
    bar('Nodes', allocated.maxNodes, declared.maxNodes, 'nodes'),
    h('h4', null, `Sessions (${sessions.length})`),
    sessions.length ? h('ul', { class: 'worker-sessions' }, sessions.map((s) => h('li', null, h('code', null, short(s.id)), ` ${s.owner} `, badge(s.status)))) : h('p', { class: 'empty' }, 'none'),
    state.internal
      ? h(
          'div',
          { class: 'actions' },
          w.status === 'RUNNING' ? internalAction('Drain', () => state.api!.request(InternalDrainWorkerDocument, { id: w.id, reason: 'dashboard: drain' }, 'internal')) : null,
          canServe && w.desiredStatus !== 'STOPPED' ? internalAction('Stop', () => desired('STOPPED'), false, `Stop worker ${w.name}? Its sessions are ended when it stops.`) : null,
          w.status !== 'TERMINATED' && w.desiredStatus !== 'TERMINATED' ? internalAction('Terminate', () => desired('TERMINATED'), true, `Terminate worker ${w.name}? Its EC2 instance is terminated.`) : null,
        )
      : null,
  );
}

// ---------------------------------------------------------------------------------------------
// Score reports

function reportsPanel() {
  const { section, list } = panel('reports', 'Score reports');
  const refresh = () => {
    const reports = [...state.reports.values()].sort((a, b) => b.submittedAt.localeCompare(a.submittedAt));
    if (reports.length === 0) {
      mount(list, h('p', { class: 'empty' }, state.loaded ? 'No score reports yet.' : 'Loading…'));
      return;
    }
    mount(
      list,
      h(
        'table',
        null,
        h('caption', { class: 'visually-hidden' }, 'Score reports, newest first'),
        h('thead', null, h('tr', null, ['Submitted', 'Owner', 'Definition', 'Score', 'Result', 'Sections', 'Session'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          null,
          reports.map((r) =>
            h(
              'tr',
              { dataset: { reportId: r.id } },
              h('td', null, time(r.submittedAt)),
              h('td', null, r.owner),
              h('td', null, `${r.session.definition.name} @ ${r.session.definition.version}`),
              h('td', null, `${fmt(r.score)} / ${fmt(r.maxScore)}${r.cutScore !== null ? ` (cut ${fmt(r.cutScore)})` : ''}`),
              h('td', null, r.passed === null ? '—' : badge(r.passed ? 'PASSED' : 'FAILED')),
              h('td', null, r.sections.map((s) => `${s.name} ${fmt(s.score)}/${fmt(s.maxScore)}`).join(', ')),
              h('td', null, h('code', null, short(r.session.id))),
            ),
          ),
        ),
      ),
    );
  };
  return { section, list, refresh };
}

// ---------------------------------------------------------------------------------------------
// Definitions

function definitionsPanel() {
  const file = h('input', { id: 'definition-file', name: 'definition', type: 'file', accept: '.yaml,.yml,application/yaml,text/yaml', required: true, 'aria-describedby': 'definition-help' });
  const topology = h('input', { id: 'topology-file', name: 'topology', type: 'file', accept: '.yaml,.yml,application/yaml,text/yaml' });
  const result = h('p', { id: 'apply-result', role: 'status', 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'card inline-form',
      'aria-label': 'Apply a definition',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
        void applyDefinition(file, topology, result, submit);
      },
    },
    h('h3', null, 'Apply a definition'),
    h('label', { for: file.id }, 'Definition file (YAML)'),
    file,
    h('label', { for: topology.id }, 'Topology file (optional, when the definition names one in labYamlFile)'),
    topology,
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h(
      'p',
      { id: 'definition-help', class: 'help' },
      'The format of `lcm definitions apply` (docs/cli.md): name, version, resourceRequirements { cpuCores, memoryGb, storageGb, nodeCount }, licenseAffinity, portTemplate, cmlRequirements, bootLeadTimeMinutes, and the CML topology as labYaml (a string), topology (a mapping) or labYamlFile (pick that file as the topology file). Applying the same name and version again changes nothing.',
    ),
    result,
  );
  const { section, list } = panel('definitions', 'Definitions', form);
  const refresh = () => {
    const defs = [...state.definitions.values()].sort((a, b) => `${a.name}@${a.version}`.localeCompare(`${b.name}@${b.version}`));
    if (defs.length === 0) {
      mount(list, h('p', { class: 'empty' }, state.loaded ? 'No definitions yet.' : 'Loading…'));
      return;
    }
    mount(
      list,
      h(
        'table',
        null,
        h('caption', { class: 'visually-hidden' }, 'Definitions'),
        h('thead', null, h('tr', null, ['Name', 'Version', 'Status', 'Resources', 'Ports', 'Licences', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          null,
          defs.map((d) =>
            h(
              'tr',
              { dataset: { definitionId: d.id } },
              h('td', null, d.name),
              h('td', null, d.version),
              h('td', null, badge(d.status)),
              h('td', null, `${fmt(d.resourceRequirements.cpuCores)} cores, ${fmt(d.resourceRequirements.memoryGb)} GB, ${fmt(d.resourceRequirements.storageGb)} GB disk, ${d.resourceRequirements.nodeCount} nodes`),
              h('td', null, d.portTemplate.map((p) => `${p.name}/${p.protocol}`).join(', ') || '—'),
              h('td', null, d.licenseAffinity.join(', ') || 'any'),
              h('td', null, time(d.createdAt)),
            ),
          ),
        ),
      ),
    );
  };
  return { section, list, refresh };
}

async function applyDefinition(file: HTMLInputElement, topology: HTMLInputElement, result: HTMLElement, submit: HTMLButtonElement): Promise<void> {
  result.className = '';
  const say = (text: string, isError = false) => {
    result.textContent = text;
    result.className = isError ? 'error' : 'ok';
  };
  const picked = file.files?.[0];
  if (!picked) return say('Pick a definition file first.', true);
  submit.disabled = true;
  try {
    const second = topology.files?.[0];
    const input = parseDefinitionFile(await picked.text(), second ? { name: second.name, text: await second.text() } : undefined);
    const existing = [...state.definitions.values()].find((d) => d.name === input.name && d.version === input.version);
    if (existing) return say(`${input.name} @ ${input.version} already exists (no change): a changed definition needs a new version.`);
    try {
      const d = await state.api!.request(DashCreateDefinitionDocument, { input });
      upsert(state.definitions, d.createDefinition);
      say(`Applied ${d.createDefinition.name} @ ${d.createDefinition.version} (${d.createDefinition.id}).`);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'CONFLICT') return say(`${input.name} @ ${input.version} already exists (no change): a changed definition needs a new version.`);
      throw e;
    }
  } catch (e) {
    say(e instanceof DefinitionFileError ? `The file cannot be applied: ${e.message}` : `Applying failed — ${describe(e)}`, true);
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------

const stored = sessionStorage.getItem(TOKEN_KEY);
if (stored) void signIn(stored);
else showSignIn();
