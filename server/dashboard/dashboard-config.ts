/**
 * The `dashboard` section of the coordinator config. The page and its socket.io namespace show run metrics
 * only (no tensors, no client names), but a run's progress can still be confidential, so anything that does
 * not come from this machine needs the token, and with no token configured it is refused outright.
 */
import { z } from 'zod';
import { strictObject } from '../../shared/config/strict-object.ts';

export const dashboardConfigSchema = strictObject({
  /** Serve the live dashboard at `/` (and its `/dashboard` socket.io namespace). */
  enabled: z.boolean().default(true),
  /**
   * Secret for viewers outside loopback: `/?token=<token>`, or the `X-Fedpeft-Dashboard-Token` header, or
   * `Authorization: Bearer <token>`. Without one, only loopback viewers (when allowed below) get in.
   */
  token: z.string().min(16, 'dashboard.token must have at least 16 characters').optional(),
  /**
   * Let requests from 127.0.0.0/8 and ::1 in without the token. Turn off when a reverse proxy on the same
   * machine forwards outside traffic (it would arrive from loopback).
   */
  allowLoopbackWithoutToken: z.boolean().default(true),
  /** How often connected dashboards get the coordinator's status (clients online, round progress). */
  statusIntervalMs: z
    .int('dashboard.statusIntervalMs must be an integer')
    .min(100, 'dashboard.statusIntervalMs must be >= 100 (ms)')
    .default(1_000),
  /** Most rounds kept for the page's history (the oldest are forgotten first; metrics.jsonl keeps all). */
  historyLimit: z.int('dashboard.historyLimit must be an integer').min(1).default(10_000),
}).prefault({});

export type DashboardConfig = z.output<typeof dashboardConfigSchema>;
export type DashboardConfigInput = z.input<typeof dashboardConfigSchema>;
