/**
 * The dashboard page's script (bundled by esbuild, inlined by dashboard-page.ts): connects to the `/dashboard`
 * namespace with the token from its own URL, keeps the round history and the latest status, and redraws.
 * Cards follow every status message; charts and the table only change when a round closes.
 */
import { io, type Socket } from 'socket.io-client';
import { MISSING, byteUnit, formatBytes, formatDuration, formatNumber, perplexity } from './format.ts';
import { lineChart, type ChartOptions, type ChartSeries } from './line-chart.ts';
import {
  DASHBOARD_NAMESPACE,
  type DashboardClient,
  type DashboardClientEvents,
  type DashboardRound,
  type DashboardServerEvents,
  type DashboardStatus,
} from './protocol.ts';

const COLORS = {
  train: '#2563eb',
  global: '#7c3aed',
  personal: '#ea580c',
  sampled: '#94a3b8',
  participants: '#2563eb',
  dropped: '#dc2626',
  up: '#d97706',
  down: '#0d9488',
  time: '#475569',
  epsilon: '#b45309',
};
const TABLE_ROUNDS = 10;

let status: DashboardStatus | null = null;
const rounds = new Map<number, DashboardRound>();
let clients: DashboardClient[] = [];

function el(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`dashboard page lacks #${id}`);
  return found;
}

function setText(id: string, text: string): void {
  const node = el(id);
  if (node.textContent !== text) node.textContent = text;
}

function ordered(): DashboardRound[] {
  return [...rounds.values()].sort((a, b) => a.round - b.round);
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function epsilonOf(r: DashboardRound): number | null {
  const v = r.strategy?.dpEpsilon;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function setConnection(
  state: 'connecting' | 'live' | 'reconnecting' | 'refused' | 'offline' | 'run over',
): void {
  const pill = el('connection');
  pill.textContent = state;
  pill.className = `pill ${state === 'live' ? 'pill-live' : state === 'refused' || state === 'offline' ? 'pill-bad' : 'pill-wait'}`;
}

function showBanner(text: string | null): void {
  const banner = el('banner');
  banner.hidden = text === null;
  banner.textContent = text ?? '';
}

function renderCards(): void {
  const list = ordered();
  const last = list.at(-1);
  if (status) {
    setText('run-id', status.runId);
    setText('method', status.method);
    setText('model', status.model);
    setText('phase', status.phase.replace(/-/g, ' '));
    const counter = el('round-counter');
    counter.dataset.completed = String(status.completedRounds);
    setText('round-counter', `${status.completedRounds} / ${status.totalRounds}`);
    const a = status.activeRound;
    const storageFailure = status.storage?.failure;
    setText(
      'round-progress',
      storageFailure
        ? `storage unavailable (${storageFailure.osCode}, ${storageFailure.operation}) since ${storageFailure.since}: retrying`
        : a
          ? `round ${a.id}: ${a.committed} of ${a.sampled} reported · deadline ${formatDuration(a.deadlineInMs)}`
          : status.phase === 'finished'
            ? 'run finished'
            : status.phase === 'waiting-for-clients'
              ? 'waiting for clients'
              : status.phase,
    );
    setText('clients-online', String(status.clients.connected));
    setText('clients-sessions', `${status.clients.sessions} known sessions`);
    setText(
      'participating',
      a ? `${a.committed} / ${a.sampled}` : last ? `${last.participants} / ${last.sampled}` : MISSING,
    );
    setText('participating-sub', a ? `round ${a.id}, in progress` : last ? `round ${last.round}` : MISSING);
    setText('dropped', a ? String(a.dropped) : last ? String(last.dropped) : MISSING);
  }
  setText(
    'dropped-sub',
    list.length ? `${sum(list.map((r) => r.dropped))} over ${list.length} rounds` : MISSING,
  );
  setText('train-loss', formatNumber(last?.trainLoss, 4));
  setText('train-loss-sub', last ? `round ${last.round}` : MISSING);
  setText(
    'perplexity',
    last
      ? `${formatNumber(perplexity(last.globalValLoss), 4)} / ${formatNumber(perplexity(last.personalValLoss), 4)}`
      : MISSING,
  );
  const up = sum(list.map((r) => r.bytesUp));
  const down = sum(list.map((r) => r.bytesDown));
  setText('bytes-up', list.length ? formatBytes(up) : MISSING);
  setText('bytes-up-sub', last ? `last round ${formatBytes(last.bytesUp)}` : MISSING);
  setText('bytes-down', list.length ? formatBytes(down) : MISSING);
  setText('bytes-down-sub', last ? `last round ${formatBytes(last.bytesDown)}` : MISSING);
  setText('round-time', formatDuration(last?.roundMs));
  setText(
    'round-time-sub',
    list.length
      ? `mean ${formatDuration(sum(list.map((r) => r.roundMs)) / list.length)} · total ${formatDuration(sum(list.map((r) => r.roundMs)))}`
      : MISSING,
  );
  const dp = [...list].reverse().find((r) => epsilonOf(r) !== null);
  if (dp) {
    const s = dp.strategy;
    setText('privacy', `ε ${formatNumber(epsilonOf(dp), 3)}`);
    setText(
      'privacy-sub',
      [
        `δ = ${formatNumber(s.dpDelta, 2)}`,
        s.dpNoiseMultiplier !== undefined ? `z = ${formatNumber(s.dpNoiseMultiplier, 3)}` : '',
      ]
        .filter(Boolean)
        .join(' · '),
    );
  } else if (list.length === 0) {
    setText('privacy', MISSING);
    setText('privacy-sub', 'reported after each round with DP');
  } else {
    // The DP wrapper reports ε after every round, so closed rounds without it mean DP is off.
    setText('privacy', 'off');
    setText('privacy-sub', 'no differential privacy in this run');
  }
}

function chart(id: string, series: ChartSeries[], options: ChartOptions): void {
  const area = el(id).querySelector('.plot-area');
  if (area) area.innerHTML = lineChart(series, options);
}

function renderCharts(): void {
  const list = ordered();
  const pts = (f: (r: DashboardRound) => number | null) => list.map((r) => ({ x: r.round, y: f(r) }));
  const count = (v: number) => formatNumber(v, 3);
  chart('chart-loss', [{ name: 'train', color: COLORS.train, points: pts((r) => r.trainLoss) }], {
    emptyText: 'no training loss reported yet',
  });
  chart(
    'chart-ppl',
    [
      { name: 'global', color: COLORS.global, points: pts((r) => perplexity(r.globalValLoss)) },
      { name: 'personal', color: COLORS.personal, points: pts((r) => perplexity(r.personalValLoss)) },
    ],
    { emptyText: 'no validation losses reported yet' },
  );
  chart(
    'chart-clients',
    [
      { name: 'participating', color: COLORS.participants, points: pts((r) => r.participants) },
      { name: 'dropped', color: COLORS.dropped, points: pts((r) => r.dropped) },
      { name: 'sampled', color: COLORS.sampled, points: pts((r) => r.sampled), dashed: true },
    ],
    { yFromZero: true, formatY: count },
  );
  chart(
    'chart-bytes',
    [
      { name: 'up', color: COLORS.up, points: pts((r) => r.bytesUp) },
      { name: 'down', color: COLORS.down, points: pts((r) => r.bytesDown) },
    ],
    { yFromZero: true, formatY: formatBytes, yUnit: byteUnit },
  );
  chart('chart-time', [{ name: 'round time', color: COLORS.time, points: pts((r) => r.roundMs) }], {
    yFromZero: true,
    formatY: formatDuration,
  });
  chart('chart-privacy', [{ name: 'ε', color: COLORS.epsilon, points: pts(epsilonOf) }], {
    yFromZero: true,
    formatY: (v) => formatNumber(v, 3),
    emptyText: list.length === 0 ? 'no rounds yet' : 'differential privacy is not enabled in this run',
  });
}

function cell(text: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function renderTable(): void {
  const body = el('rounds-body');
  const rows = ordered().slice(-TABLE_ROUNDS).reverse();
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement('tr');
      tr.append(
        cell(String(r.round)),
        cell(`${r.participants} / ${r.sampled}`),
        cell(String(r.dropped)),
        cell(formatNumber(r.trainLoss, 4)),
        cell(formatNumber(perplexity(r.globalValLoss), 4)),
        cell(formatNumber(perplexity(r.personalValLoss), 4)),
        cell(formatBytes(r.bytesUp)),
        cell(formatBytes(r.bytesDown)),
        cell(formatDuration(r.roundMs)),
        cell(formatNumber(epsilonOf(r), 3)),
      );
      return tr;
    }),
  );
}

/** A client's metric as the table shows it: perplexity as a number, accuracy in percent. */
function metricText(c: DashboardClient, v: number | null): string {
  if (v === null) return MISSING;
  return c.metric === 'accuracy' ? `${formatNumber(v * 100, 3)}%` : formatNumber(v, 4);
}

function renderClients(): void {
  const metric = clients[0]?.metric ?? 'perplexity';
  const unit = metric === 'accuracy' ? 'accuracy' : 'ppl';
  setText('clients-metric-base', `base ${unit}`);
  setText('clients-metric-global', `global ${unit}`);
  setText('clients-metric-personal', `personal ${unit}`);
  setText(
    'clients-note',
    clients.length === 0
      ? 'Per-client results appear when a simulated run finishes.'
      : `global: the final global adapter on the client's held-out documents; personal: the client's own ` +
          `adapter, scored the last round it took part in (${MISSING} if it never did).`,
  );
  el('clients-body').replaceChildren(
    ...clients.map((c) => {
      const tr = document.createElement('tr');
      tr.append(
        cell(c.name),
        cell(c.device),
        cell(String(c.roundsParticipated)),
        cell(metricText(c, c.base)),
        cell(metricText(c, c.global)),
        cell(metricText(c, c.personal)),
      );
      return tr;
    }),
  );
}

function renderAll(): void {
  renderCards();
  renderCharts();
  renderTable();
  renderClients();
}

function connect(): void {
  const token = new URLSearchParams(window.location.search).get('token');
  const socket: Socket<DashboardServerEvents, DashboardClientEvents> = io(DASHBOARD_NAMESPACE, {
    transports: ['websocket'],
    auth: token ? { token } : {},
  });
  socket.on('connect', () => {
    setConnection('live');
    showBanner(null);
  });
  socket.on('connect_error', (err) => {
    // A refusal by the server's middleware is final (socket.active is false); a network error is retried.
    if (socket.active) setConnection('reconnecting');
    else {
      setConnection('refused');
      showBanner(`The coordinator refused this dashboard: ${err.message}`);
    }
  });
  socket.on('disconnect', () => setConnection(status?.phase === 'finished' ? 'run over' : 'reconnecting'));
  socket.on('snapshot', (snapshot) => {
    status = snapshot.status;
    rounds.clear();
    for (const r of snapshot.history) rounds.set(r.round, r);
    clients = snapshot.clients ?? [];
    renderAll();
  });
  socket.on('status', (next) => {
    status = next;
    renderCards();
  });
  socket.on('round', (round) => {
    rounds.set(round.round, round);
    // The counter moves with the round itself, not a status tick later.
    if (status && round.round > status.completedRounds) status = { ...status, completedRounds: round.round };
    renderAll();
  });
  socket.on('clients', (next) => {
    clients = next;
    renderClients();
  });
}

renderAll();
connect();
