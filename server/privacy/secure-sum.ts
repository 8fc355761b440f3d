/**
 * What the secure-aggregation wrapper hands the strategy it wraps: the round's unmasked weighted SUM as ONE
 * update (its mean, with the total weight), because the coordinator never holds the clients' individual
 * updates. Strategies that need per-client values (central DP clipping, robust statistics) cannot sit under
 * it; the DP wrapper in distributed placement expects exactly this update.
 */

/** The client id of the one update that carries a securely aggregated sum. */
export const SECURE_SUM_CLIENT_ID = 'secagg:sum';

/**
 * The default Shamir threshold for `participants` clients: the smallest t > n/2 (the protocol's security
 * condition), so a round survives up to ⌈n/2⌉ - 1 dropouts. Distributed DP noise is planned for this many
 * survivors too, so the two defaults must stay one function.
 */
export function defaultSecAggThreshold(participants: number): number {
  return Math.max(2, Math.floor(participants / 2) + 1);
}
