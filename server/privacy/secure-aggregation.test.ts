import { describe, expect, it } from 'vitest';
import type { AggregationRule } from '../../shared/adapters/types.ts';
import { SecAggClient } from '../../shared/privacy/secagg/client.ts';
import {
  advertiseKeysToWire,
  participantId,
  rosterFromWire,
  secAggConfigFromWire,
  shareKeysToWire,
} from '../../shared/privacy/secagg/wire-mapping.ts';
import { layoutOf } from '../../shared/privacy/update-vector.ts';
import { parseBody, type MessageBody } from '../../shared/wire/messages.ts';
import { FedAdam } from '../strategies/fedadam.ts';
import { FedAvg } from '../strategies/fedavg.ts';
import { everyClientSampler, hostTensor, singleMeanRule } from '../strategies/test-fixtures.ts';
import { DifferentiallyPrivate } from './dp-strategy.ts';
import { SecureAggregation, isSecureRound } from './secure-aggregation.ts';

const code = (c: string) => expect.objectContaining({ code: c });
const global = new Map([['B', hostTensor([2], [1, -2])]]);
const clients = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}` }));

describe('SecureAggregation', () => {
  it('wraps any strategy by name and refuses rules that are not weighted sums', () => {
    const s = new SecureAggregation(
      new FedAdam(everyClientSampler(), { serverLearningRate: 0.1, beta1: 0.9, beta2: 0.99, tau: 0.01 }),
      { runId: 'r' },
    );
    expect(s.name).toBe('secagg(fedadam)');
    const fedavg = new SecureAggregation(new FedAvg(everyClientSampler()), { runId: 'r' });
    for (const rule of [
      { kind: 'stack', axis: 0, scaleByWeight: true },
      { kind: 'zero-pad-norm-weighted', axis: 0 },
    ] as AggregationRule[]) {
      expect(() => fedavg.checkRules(new Map([['A', rule]]))).toThrow(code('SECAGG_UNSUPPORTED_RULE'));
    }
    expect(() => fedavg.checkRules(singleMeanRule)).not.toThrow();
    // PiCa's shared B (nested-prefix-mean) is a weighted mean when every client trains the full rank.
    expect(() => fedavg.checkRules(new Map([['B', { kind: 'nested-prefix-mean', axis: 0 }]]))).not.toThrow();
  });

  it('refuses central DP underneath (it must clip individual updates) but accepts distributed DP', () => {
    const inner = (placement: 'central' | 'distributed') =>
      new DifferentiallyPrivate(new FedAvg(everyClientSampler()), {
        config: { placement, noiseMultiplier: 1, clipNorm: 1, noiseSource: 'seeded' },
      });
    expect(() => new SecureAggregation(inner('central'), { runId: 'r' })).toThrow(
      code('SECAGG_INVALID_CONFIG'),
    );
    expect(new SecureAggregation(inner('distributed'), { runId: 'r' }).name).toBe('secagg(dp(fedavg))');
  });

  it('needs 2..255 sampled clients and marks the instructions', () => {
    const s = new SecureAggregation(new FedAvg(everyClientSampler()), { runId: 'r' });
    expect(() => s.configureRound({ round: 1, clients: clients(1) })).toThrow(code('SECAGG_TOO_FEW_CLIENTS'));
    expect(() => s.configureRound({ round: 1, clients: clients(256) })).toThrow(
      code('SECAGG_INVALID_CONFIG'),
    );
    const instr = s.configureRound({ round: 1, clients: clients(3) });
    expect(instr.every((i) => i.extra?.secureAggregation === true)).toBe(true);
  });

  it('the round driver refuses plaintext updates, strangers, out-of-phase records, and too few clients', async () => {
    const s = new SecureAggregation(new FedAvg(everyClientSampler()), { runId: 'run' });
    s.configureRound({ round: 1, clients: clients(3) });
    const round = s.beginAggregation({ round: 1, global, rules: singleMeanRule });
    expect(isSecureRound(round)).toBe(true);
    expect(round.config.sessionId).toBe('run/round-1');
    expect(round.config.threshold).toBe(2);
    expect(() => round.add()).toThrow(code('SECAGG_PLAINTEXT_UPDATE'));
    expect(() => round.finish()).toThrow(code('SECAGG_WRONG_PHASE'));

    const ctx = { sessionId: round.config.sessionId, roundId: 1 };
    const layout = layoutOf(global);
    const make = (id: string) => {
      const { config, participantIndex } = secAggConfigFromWire(
        {
          ...round.configFor(id)!,
          fieldBits: 32,
          scale: 65536,
          clip: 8,
          sessionId: ctx.sessionId,
          threshold: 2,
        } as MessageBody<'roundInstruction'>['secureAggregation'],
        layout,
      );
      return {
        id,
        index: participantIndex,
        client: new SecAggClient(participantId(participantIndex), config),
      };
    };
    const [a, b, c] = ['s0', 's1', 's2'].map(make) as [
      ReturnType<typeof make>,
      ReturnType<typeof make>,
      ReturnType<typeof make>,
    ];
    const adv = (x: typeof a) => ({
      kind: 'secaggAdvertiseKeys' as const,
      body: parseBody('secaggAdvertiseKeys', advertiseKeysToWire(x.client.advertiseKeys(), ctx)),
    });
    const advA = adv(a);
    expect(() => round.receive('intruder', advA)).toThrow(code('SECAGG_UNKNOWN_CLIENT'));
    round.receive('s0', advA);
    // A second advertisement from the same client is refused; a bad key too.
    expect(() => round.receive('s0', advA)).toThrow(code('SECAGG_DUPLICATE_CLIENT'));
    expect(() =>
      round.receive('s1', {
        kind: 'secaggAdvertiseKeys',
        body: parseBody('secaggAdvertiseKeys', {
          roundId: 1,
          cPublicKey: new Uint8Array(31),
          sPublicKey: new Uint8Array(32),
        }),
      }),
    ).toThrow(code('SECAGG_MALFORMED_KEY'));
    round.receive('s1', adv(b));
    expect(round.awaiting).toEqual(['s2']);
    // s2 never advertises: the round continues with 2 = t.
    const rosters = round.closePhase();
    expect(rosters.map((r) => r.clientId)).toEqual(['s0', 's1']);
    expect(() => round.receive('s2', adv(c))).toThrow(code('SECAGG_WRONG_PHASE'));
    const rosterA = rosterFromWire(rosters[0]!.message.body as MessageBody<'secaggKeysBroadcast'>, {
      ...ctx,
      selfIndex: a.index,
      threshold: 2,
    });
    round.receive('s0', {
      kind: 'secaggShareKeys',
      body: parseBody('secaggShareKeys', shareKeysToWire(await a.client.shareKeys(rosterA), ctx)),
    });
    // Only one client shared keys: below t, the phase cannot close.
    expect(() => round.closePhase()).toThrow(code('SECAGG_TOO_FEW_CLIENTS'));
  });
});
