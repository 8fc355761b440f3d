/**
 * What travels on the `/dashboard` socket.io namespace, coordinator to page. Run metrics only: never tensors
 * or tokens. Client names only where the run's owner publishes them: a simulation's per-client results (its
 * clients are partitions of a public corpus); a coordinator serving real devices never sends any.
 * Shared by the hub (Node) and the page (browser), so it holds types only.
 */
import type { CoordinatorStatus } from '../../coordinator.ts';
import type { DashboardRound } from '../round-history.ts';

export const DASHBOARD_NAMESPACE = '/dashboard';

export type DashboardStatus = Omit<CoordinatorStatus, 'lastRound'>;

export interface DashboardSnapshot {
  status: DashboardStatus;
  /** Every round so far (bounded by dashboard.historyLimit), oldest first. */
  history: DashboardRound[];
  /** Per-client results, when the run has them (a simulation, once a run is over); empty otherwise. */
  clients?: DashboardClient[];
}

/** One client's row in the page's per-client view. */
export interface DashboardClient {
  name: string;
  device: string;
  roundsParticipated: number;
  /** What `personal` is: 'perplexity' (lower is better) or 'accuracy' (0..1, higher is better). */
  metric: 'perplexity' | 'accuracy';
  base: number | null;
  global: number | null;
  /** The client's own adapter, scored the last round it took part in (null: never took part). */
  personal: number | null;
}

export interface DashboardServerEvents {
  /** Sent once per connection (and again after a reconnect): the page rebuilds from it. */
  snapshot(snapshot: DashboardSnapshot): void;
  /** Clients online and round progress, every dashboard.statusIntervalMs. */
  status(status: DashboardStatus): void;
  /** A round closed. */
  round(round: DashboardRound): void;
  /** Per-client results became available (or changed). */
  clients(clients: DashboardClient[]): void;
}

/** The page sends nothing. */
export type DashboardClientEvents = Record<string, never>;

export type { DashboardRound };
