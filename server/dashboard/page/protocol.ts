/**
 * What travels on the `/dashboard` socket.io namespace, coordinator to page. Run metrics only: never tensors,
 * tokens or client names. Shared by the hub (Node) and the page (browser), so it holds types only.
 */
import type { CoordinatorStatus } from '../../coordinator.ts';
import type { DashboardRound } from '../round-history.ts';

export const DASHBOARD_NAMESPACE = '/dashboard';

export type DashboardStatus = Omit<CoordinatorStatus, 'lastRound'>;

export interface DashboardSnapshot {
  status: DashboardStatus;
  /** Every round so far (bounded by dashboard.historyLimit), oldest first. */
  history: DashboardRound[];
}

export interface DashboardServerEvents {
  /** Sent once per connection (and again after a reconnect): the page rebuilds from it. */
  snapshot(snapshot: DashboardSnapshot): void;
  /** Clients online and round progress, every dashboard.statusIntervalMs. */
  status(status: DashboardStatus): void;
  /** A round closed. */
  round(round: DashboardRound): void;
}

/** The page sends nothing. */
export type DashboardClientEvents = Record<string, never>;

export type { DashboardRound };
