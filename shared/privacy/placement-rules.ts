/**
 * The cross-field rule every `privacy` block obeys, in a coordinator config and in a scenario alike: where DP
 * noise may be added depends on whether secure aggregation hides the single updates. One copy, so the two
 * schemas cannot drift apart.
 */
import type { z } from 'zod';

/** The part of a privacy block the rule reads. */
export interface PrivacyPlacementView {
  dp?: { placement: string } | undefined;
  secureAggregation?: unknown;
}

/** A zod `superRefine` body: adds an issue at `dp.placement` for a placement that protects nothing. */
export function checkDpPlacement(p: PrivacyPlacementView, ctx: z.RefinementCtx): void {
  if (p.secureAggregation && p.dp?.placement === 'central') {
    ctx.addIssue({
      code: 'custom',
      path: ['dp', 'placement'],
      message:
        'with secure aggregation the coordinator never sees single updates to clip: use placement distributed (or local)',
    });
  }
  if (p.dp?.placement === 'distributed' && !p.secureAggregation) {
    ctx.addIssue({
      code: 'custom',
      path: ['dp', 'placement'],
      message:
        'distributed noise only protects anything under secure aggregation: add a privacy.secureAggregation block or use placement central',
    });
  }
}
