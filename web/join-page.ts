/**
 * The `/join` page: a person picks a text (a local file, or the sample shipped with the page), sees which
 * backend their browser trains on and why, enters the run's join token (prefilled from `?token=`), joins, and
 * watches local training (loss per step, the round, upload progress) and what they contributed (rounds
 * committed, bytes sent).
 *
 * Reload: the client's identity is kept per tab (sessionStorage) and its private state in IndexedDB
 * (`IndexedDbStateStore`), together with the chosen text and the token, so a reloaded tab rejoins the same
 * session on its own and carries on where it was. `?name=` sets the client name explicitly (several tabs of
 * one browser are several clients); `?backend=wasm|webgl|webgpu` forces a backend.
 *
 * The page's whole state is one `JoinStatus` object, rendered after each change and readable from outside
 * (`window.fedpeft.joinStatus()`), which is how the end-to-end tests watch browser clients.
 */
import { selectBackend, type BackendReport } from '../shared/tensor/backend.ts';
import { tf } from '../shared/tensor/tf.ts';
import { isFedpeftError } from '../shared/errors.ts';
import { IndexedDbStateStore } from '../client/browser/indexeddb-state-store.ts';
import { startBrowserClient, updateBytes, type BrowserClient } from '../client/browser/browser-client.ts';
import type { ClientRunConfig } from '../client/trainer.ts';
import { FedpeftError } from '../shared/errors.ts';

export type JoinState = 'choosing' | 'running' | 'complete' | 'stopped' | 'failed';

export interface JoinStatus {
  clientName: string;
  state: JoinState;
  /** The backend report of this browser (null while probing). */
  backend: BackendReport | null;
  backendNote: string;
  /** Where the training text came from (`sample`, a file name), or null before a choice. */
  dataLabel: string | null;
  dataBytes: number;
  sessionId: string | null;
  /** Whether the last join resumed an existing session (a reload does). */
  resumed: boolean | null;
  /** Joins this page made (the first one, plus one per reconnect). */
  joins: number;
  round: number;
  phase: string;
  /** Loss of every local step so far (nats per token), newest last. */
  losses: Array<{ round: number; step: number; steps: number; loss: number }>;
  upload: { round: number; acknowledged: number; total: number } | null;
  /** Rounds whose update the coordinator acknowledged, during this page's lifetime. */
  committedRounds: number[];
  /** The last committed round as the store remembers it (survives reloads). */
  lastCommittedRound: number;
  updateBytesSent: number;
  bytesSent: number;
  bytesReceived: number;
  error: string | null;
  /** Recent runtime log lines, newest last. */
  log: Array<{ level: string; event: string; fields: Record<string, unknown> }>;
}

const MAX_LOG = 300;
const MAX_LOSSES = 500;
const SAMPLE_FILE = 'sample-text.txt';

interface SavedChoice {
  token: string;
  dataLabel: string;
  text: string;
}

/** Wires up the page's elements (by id, see `joinHtml` in web/build.ts) and returns the live status. */
export function mountJoinPage(doc: Document): { status: () => JoinStatus } {
  const params = new URL(doc.location.href).searchParams;
  const clientName = clientNameForTab(params.get('name'));
  const status: JoinStatus = {
    clientName,
    state: 'choosing',
    backend: null,
    backendNote: 'checking which backends this browser offers…',
    dataLabel: null,
    dataBytes: 0,
    sessionId: null,
    resumed: null,
    joins: 0,
    round: 0,
    phase: 'idle',
    losses: [],
    upload: null,
    committedRounds: [],
    lastCommittedRound: 0,
    updateBytesSent: 0,
    bytesSent: 0,
    bytesReceived: 0,
    error: null,
    log: [],
  };
  const $ = <T extends HTMLElement>(id: string) => doc.getElementById(id) as T;
  const tokenInput = $<HTMLInputElement>('token');
  const fileInput = $<HTMLInputElement>('file');
  const joinButton = $<HTMLButtonElement>('join');
  const leaveButton = $<HTMLButtonElement>('leave');
  const sampleButton = $<HTMLButtonElement>('use-sample');
  let text: string | null = null;
  let client: BrowserClient | null = null;
  let store: IndexedDbStateStore | null = null;
  let renderQueued = false;

  const render = () => {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      renderStatus(doc, status);
      joinButton.disabled = status.state === 'running' || text === null || status.backend === null;
      leaveButton.disabled = status.state !== 'running';
    });
  };
  const fail = (err: unknown) => {
    status.state = 'failed';
    status.error = isFedpeftError(err) ? `${err.code}: ${err.message}` : String(err);
    render();
  };

  tokenInput.value = params.get('token') ?? '';
  $('client-name').textContent = clientName;

  const chooseText = (label: string, body: string) => {
    text = body;
    status.dataLabel = label;
    status.dataBytes = new TextEncoder().encode(body).length;
    render();
  };
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (!file) return;
    file.text().then((body) => chooseText(file.name, body), fail);
  });
  sampleButton.addEventListener('click', () => {
    fetch(new URL(SAMPLE_FILE, doc.baseURI))
      .then((res) => (res.ok ? res.text() : Promise.reject(new Error(`sample text: HTTP ${res.status}`))))
      .then((body) => chooseText('sample', body), fail);
  });

  const start = async (token: string) => {
    if (text === null || status.dataLabel === null) return;
    status.state = 'running';
    status.error = null;
    render();
    store ??= await IndexedDbStateStore.open(clientName);
    await store.writeSetting('choice', { token, dataLabel: status.dataLabel, text } satisfies SavedChoice);
    const meta = await store.readMeta();
    status.lastCommittedRound = meta?.lastCommittedRound ?? 0;
    const run = await fetchRun(doc, token);
    client = startBrowserClient({
      ...(run ? { run } : {}),
      serverUrl: doc.location.origin,
      token,
      clientName,
      store,
      text,
      textLabel: status.dataLabel,
      events: {
        log: (level, event, fields) => {
          onLog(status, level, event, fields);
          render();
        },
        step: (r) => {
          status.losses.push({ round: r.roundId, step: r.step, steps: r.steps, loss: r.loss });
          if (status.losses.length > MAX_LOSSES) status.losses.shift();
          status.round = r.roundId;
          status.phase = `training (step ${r.step}/${r.steps})`;
          render();
        },
        uploadProgress: (acknowledged, total) => {
          status.upload = { round: status.round, acknowledged, total };
          status.phase = 'uploading';
          render();
        },
        committed: (round, update) => {
          status.committedRounds.push(round);
          status.lastCommittedRound = Math.max(status.lastCommittedRound, round);
          status.updateBytesSent += updateBytes(update.shared);
          status.phase = 'waiting for the next round';
          render();
        },
        traffic: (t) => {
          status.bytesSent = t.bytesSent;
          status.bytesReceived = t.bytesReceived;
          render();
        },
      },
    });
    client.done.then((outcome) => {
      status.state = outcome.runComplete ? 'complete' : 'stopped';
      status.phase = outcome.runComplete ? 'the run is complete' : 'stopped';
      render();
    }, fail);
  };

  joinButton.addEventListener('click', () => {
    const token = tokenInput.value.trim();
    if (token === '') {
      status.error = 'enter the join token the coordinator printed (or open the link it gave you)';
      render();
      return;
    }
    start(token).catch(fail);
  });
  leaveButton.addEventListener('click', () => client?.stop('the person left the page'));

  // Probe the backends, then resume a stored session of this tab (a reload) without asking again.
  (async () => {
    const forced = params.get('backend') ?? undefined;
    const report = await selectBackend({ probeAll: true, ...(forced ? { force: forced } : {}) });
    status.backend = report;
    status.backendNote = backendNote(report);
    render();
    store = await IndexedDbStateStore.open(clientName);
    const [meta, saved] = await Promise.all([store.readMeta(), store.readSetting<SavedChoice>('choice')]);
    if (saved) {
      chooseText(saved.dataLabel, saved.text);
      if (!tokenInput.value) tokenInput.value = saved.token;
    }
    if (meta?.session && saved) {
      status.lastCommittedRound = meta.lastCommittedRound;
      await start(tokenInput.value.trim() || saved.token);
    }
  })().catch(fail);

  render();
  return { status: () => structuredClone(status) };
}

/**
 * The run from the serving coordinator (`run.json`, for holders of a valid token), so the first Join carries
 * the derived-state signature; null when this server does not describe it (the Welcome will).
 */
async function fetchRun(doc: Document, token: string): Promise<ClientRunConfig | null> {
  const res = await fetch(new URL('run.json', doc.baseURI), {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status === 401) {
    throw new FedpeftError(
      'UNAUTHENTICATED',
      'the coordinator does not know this join token; check it and try again',
    );
  }
  if (!res.ok) return null;
  return (await res.json()) as ClientRunConfig;
}

/** A client name per tab: `?name=`, else the one this tab used before a reload, else a new one. */
function clientNameForTab(fromUrl: string | null): string {
  const key = 'fedpeft.clientName';
  const name = fromUrl ?? sessionStorage.getItem(key) ?? `browser-${crypto.randomUUID().slice(0, 8)}`;
  sessionStorage.setItem(key, name);
  return name;
}

function backendNote(report: BackendReport): string {
  const chosen = report.candidates.find((c) => c.name === report.chosen);
  const why = report.forced
    ? 'forced with ?backend='
    : 'the first available in the order webgpu → webgl → wasm';
  const extra =
    report.chosen === 'webgpu'
      ? ' Training reads values asynchronously; the adapter projectors (an SVD) are derived on wasm.'
      : '';
  return `Training on ${report.chosen} (${why}; ${chosen?.reason ?? ''}).${extra} tfjs ${tf.version_core}.`;
}

function onLog(status: JoinStatus, level: string, event: string, fields: Record<string, unknown>): void {
  status.log.push({ level, event, fields });
  if (status.log.length > MAX_LOG) status.log.shift();
  switch (event) {
    case 'joined':
      status.joins++;
      status.sessionId = String(fields.session);
      status.resumed = fields.resumed === true;
      status.phase = 'joined; waiting for a round';
      break;
    case 'round-trained':
      status.round = Number(fields.round);
      break;
    case 'upload-started':
      status.round = Number(fields.round);
      status.upload = {
        round: status.round,
        acknowledged: Number(fields.resumedFrom),
        total: Number(fields.chunks),
      };
      break;
    case 'global-state':
      status.phase = `received the global state of round ${String(fields.round)}`;
      break;
    case 'disconnected':
      status.phase = 'disconnected; reconnecting…';
      break;
    case 'client-stopped':
      status.error = `${String(fields.code)}: ${String(fields.message)}`;
      break;
  }
}

function renderStatus(doc: Document, s: JoinStatus): void {
  const set = (id: string, value: string) => {
    const el = doc.getElementById(id);
    if (el && el.textContent !== value) el.textContent = value;
  };
  set(
    'backends',
    s.backend
      ? s.backend.candidates.map((c) => `${c.available ? 'yes' : 'no '}  ${c.name}: ${c.reason}`).join('\n')
      : '',
  );
  set('backend-note', s.backendNote);
  set(
    'data-status',
    s.dataLabel ? `${s.dataLabel}: ${s.dataBytes.toLocaleString()} bytes` : 'no text chosen yet',
  );
  set('state', s.state + (s.sessionId ? ` — session ${s.sessionId}${s.resumed ? ' (resumed)' : ''}` : ''));
  set('round', s.round ? `round ${s.round}: ${s.phase}` : s.phase);
  const recent = s.losses.slice(-12);
  set(
    'losses',
    recent.map((l) => `round ${l.round} step ${l.step}/${l.steps}: loss ${l.loss.toFixed(4)}`).join('\n'),
  );
  const bar = doc.getElementById('upload') as HTMLProgressElement | null;
  if (bar && s.upload) {
    bar.max = Math.max(1, s.upload.total);
    bar.value = s.upload.acknowledged;
  }
  set(
    'upload-text',
    s.upload ? `round ${s.upload.round}: ${s.upload.acknowledged}/${s.upload.total} chunks acknowledged` : '',
  );
  set(
    'contribution',
    `rounds committed: ${s.committedRounds.length ? s.committedRounds.join(', ') : 'none yet'} ` +
      `(last: ${s.lastCommittedRound}); update bytes ${s.updateBytesSent.toLocaleString()}; ` +
      `sent ${s.bytesSent.toLocaleString()} B, received ${s.bytesReceived.toLocaleString()} B`,
  );
  set('error', s.error ?? '');
  set(
    'log',
    s.log
      .slice(-15)
      .map((l) => `${l.level} ${l.event} ${JSON.stringify(l.fields)}`)
      .join('\n'),
  );
}
