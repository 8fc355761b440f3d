import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chacha20 } from '@noble/ciphers/chacha.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { HostTensorMap } from '../../tensor/host-tensor.ts';
import type { SecAggConfigInput } from './config.ts';
import type { HeldVector } from './server.ts';
import type { InMemoryClientInput } from './in-memory-round.ts';
import type { RandomBytes } from './key-agreement.ts';
import type { RingVector } from './fixed-point-ring.ts';
import { runSecAggInMemory } from './in-memory-round.ts';
import { SecAggClient } from './client.ts';
import { SecAggServer } from './server.ts';
import { chooseRing } from './fixed-point-ring.ts';
import { flattenUpdate } from '../update-vector.ts';

/** Deterministic per-client randomness for reproducible tests (never do this in production). */
function seededRandomBytes(label: string): RandomBytes {
  const key = sha256(new TextEncoder().encode(label));
  let counter = 0;
  return (length) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(0, counter++, true);
    return chacha20(key, nonce, new Uint8Array(length));
  };
}

const layout = [
  { name: 'q.B', shape: [3, 4] },
  { name: 'v.B', shape: [5] },
];

function config(overrides: Partial<SecAggConfigInput> = {}): SecAggConfigInput {
  return { sessionId: 'run-1/round-3', threshold: 4, layout, ...overrides };
}

function inputsFor(n: number, seed = 1, lay = layout): InMemoryClientInput[] {
  let s = seed;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: n }, (_, i) => {
    const update: HostTensorMap = new Map(
      lay.map(({ name, shape }) => {
        const size = shape.reduce((a, b) => a * b, 1);
        return [name, { shape, data: Float32Array.from({ length: size }, () => 2 * next() - 1) }];
      }),
    );
    return { clientId: `client-${String(i).padStart(3, '0')}`, update, weight: 0.25 + 0.75 * next() };
  });
}

/** The plaintext weighted sum Σ w·x over the given clients, in float64. */
function plainSum(inputs: InMemoryClientInput[], lay = layout): { sum: Float64Array; weight: number } {
  const size = lay.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  const sum = new Float64Array(size);
  let weight = 0;
  for (const inp of inputs) {
    const flat = flattenUpdate(inp.update, lay);
    for (let i = 0; i < size; i++) sum[i] = (sum[i] as number) + (flat[i] as number) * inp.weight;
    weight += inp.weight;
  }
  return { sum, weight };
}

function expectSumMatches(
  result: { sum: HostTensorMap; totalWeight: number; quantizationErrorBound: number },
  included: InMemoryClientInput[],
  lay = layout,
) {
  const want = plainSum(included, lay);
  const got = flattenUpdate(result.sum, lay);
  const tol = result.quantizationErrorBound + 1e-6; // plus float32 rounding of the result (|sum| < 10)
  for (let i = 0; i < got.length; i++)
    expect(Math.abs((got[i] as number) - (want.sum[i] as number))).toBeLessThanOrEqual(tol);
  expect(Math.abs(result.totalWeight - want.weight)).toBeLessThanOrEqual(
    result.quantizationErrorBound + 1e-9,
  );
}

const ids = (inputs: InMemoryClientInput[]) => inputs.map((i) => i.clientId);

describe('secure aggregation: the unmasked sum is the plaintext weighted sum', () => {
  it('for n = 5..10 clients, any vector lengths and values (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 5, max: 10 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        async (n, lengths, seed) => {
          const lay = lengths.map((len, i) => ({ name: `t${i}`, shape: [len] }));
          const inputs = inputsFor(n, seed, lay);
          const threshold = Math.floor(n / 2) + 1;
          const { result } = await runSecAggInMemory({
            config: config({ layout: lay, threshold }),
            inputs,
            randomBytesFor: (id) => seededRandomBytes(`${seed}/${id}`),
          });
          expect(result.included).toEqual(ids(inputs));
          expect(result.ringBits).toBe(32);
          expectSumMatches(result, inputs, lay);
        },
      ),
      { numRuns: 8 },
    );
  });

  it('in the 52-bit ring as well (many fractional bits), with the platform CSPRNG', async () => {
    const inputs = inputsFor(5, 9);
    const { result } = await runSecAggInMemory({
      config: config({ threshold: 3, fractionalBits: 40 }),
      inputs,
    });
    expect(result.ringBits).toBe(52);
    expect(result.quantizationErrorBound).toBeLessThan(1e-11);
    expectSumMatches(result, inputs);
  });
});

describe('secure aggregation: dropouts', () => {
  const n = 7;
  const t = 4;
  for (let d = 1; d <= n - t; d++) {
    it(`${d} client(s) dropping after their masked input are still included (n=${n}, t=${t})`, async () => {
      const inputs = inputsFor(n, 100 + d);
      const gone = ids(inputs).slice(0, d);
      const { result } = await runSecAggInMemory({
        config: config({ threshold: t }),
        inputs,
        dropBeforeUnmask: gone,
      });
      expect(result.included).toEqual(ids(inputs));
      expect(result.unresponsive).toEqual(gone);
      expectSumMatches(result, inputs);
    });

    it(`${d} client(s) dropping before their masked input are excluded, their masks removed (n=${n}, t=${t})`, async () => {
      const inputs = inputsFor(n, 200 + d);
      const gone = ids(inputs).slice(-d);
      const { result } = await runSecAggInMemory({
        config: config({ threshold: t }),
        inputs,
        dropBeforeMaskedInput: gone,
      });
      expect(result.excluded).toEqual(gone);
      expectSumMatches(result, inputs.slice(0, n - d));
    });
  }

  it('drops in every phase at once, up to n - t in total', async () => {
    const inputs = inputsFor(9, 5); // t = 5: 4 dropouts allowed
    const [a, b, c, d] = ids(inputs).slice(1, 5) as [string, string, string, string];
    const { result } = await runSecAggInMemory({
      config: config({ threshold: 5 }),
      inputs,
      dropBeforeShareKeys: [a],
      dropBeforeMaskedInput: [b],
      dropBeforeUnmask: [c, d],
    });
    expect(result.excluded).toEqual([b]);
    expectSumMatches(
      result,
      inputs.filter((i) => i.clientId !== a && i.clientId !== b),
    );
  });

  it('fewer than t clients in any phase is a clear SECAGG_TOO_FEW_CLIENTS error', async () => {
    const inputs = inputsFor(5, 3);
    const cfg = config({ threshold: 3 });
    const three = ids(inputs).slice(0, 3);
    await expect(
      runSecAggInMemory({ config: cfg, inputs, dropBeforeShareKeys: three }),
    ).rejects.toMatchObject({
      code: 'SECAGG_TOO_FEW_CLIENTS',
      message: expect.stringMatching(/only 2 clients shared keys, the threshold is 3/),
    });
    await expect(
      runSecAggInMemory({ config: cfg, inputs, dropBeforeMaskedInput: three }),
    ).rejects.toMatchObject({
      code: 'SECAGG_TOO_FEW_CLIENTS',
      message: expect.stringMatching(/only 2 masked inputs arrived/),
    });
    await expect(runSecAggInMemory({ config: cfg, inputs, dropBeforeUnmask: three })).rejects.toMatchObject({
      code: 'SECAGG_TOO_FEW_CLIENTS',
      message: expect.stringMatching(/only 2 clients answered the unmask request/),
    });
    const server = new SecAggServer(cfg);
    expect(() => server.closeAdvertiseKeys()).toThrow(/only 0 clients advertised keys/);
    expect(server.phase).toBe('failed');
  });
});

/** Drives a round step by step so individual messages can be tampered with. */
function setup(n = 5, threshold = 3) {
  const inputs = inputsFor(n, 77);
  const cfg = config({ threshold });
  const server = new SecAggServer(cfg);
  const clients = inputs.map(
    (i) => new SecAggClient(i.clientId, cfg, { randomBytes: seededRandomBytes(i.clientId) }),
  );
  const adverts = clients.map((c) => c.advertiseKeys());
  return { inputs, cfg, server, clients, adverts };
}

async function throughMaskedInput(n = 5, threshold = 3) {
  const s = setup(n, threshold);
  for (const a of s.adverts) s.server.receiveAdvertiseKeys(a);
  const roster = s.server.closeAdvertiseKeys();
  const shared = await Promise.all(s.clients.map((c) => c.shareKeys(roster)));
  for (const m of shared) s.server.receiveShareKeys(m);
  const forwarded = s.server.closeShareKeys();
  const masked = s.clients.map((c, i) =>
    c.maskedInput(forwarded[i]!, s.inputs[i]!.update, s.inputs[i]!.weight),
  );
  return { ...s, roster, shared, forwarded, masked };
}

describe('secure aggregation: malformed and hostile messages are rejected with codes', () => {
  it('AdvertiseKeys: duplicate client, wrong key length, low-order key, reused key, wrong session, wrong phase', () => {
    const { server, adverts } = setup();
    const a0 = adverts[0]!;
    server.receiveAdvertiseKeys(a0);
    const code = (c: string) => expect.objectContaining({ code: c });
    expect(() => server.receiveAdvertiseKeys(a0)).toThrow(code('SECAGG_DUPLICATE_CLIENT'));
    expect(() => server.receiveAdvertiseKeys({ ...adverts[1]!, maskPublicKey: new Uint8Array(31) })).toThrow(
      code('SECAGG_MALFORMED_KEY'),
    );
    expect(() => server.receiveAdvertiseKeys({ ...adverts[1]!, maskPublicKey: new Uint8Array(32) })).toThrow(
      code('SECAGG_MALFORMED_KEY'),
    );
    expect(() => server.receiveAdvertiseKeys({ ...adverts[1]!, maskPublicKey: a0.maskPublicKey })).toThrow(
      code('SECAGG_DUPLICATE_CLIENT'),
    );
    expect(() => server.receiveAdvertiseKeys({ ...adverts[1]!, sessionId: 'old-round' })).toThrow(
      code('SECAGG_WRONG_SESSION'),
    );
    expect(() => server.receiveAdvertiseKeys({ ...adverts[1]!, clientId: '' })).toThrow(
      code('SECAGG_UNKNOWN_CLIENT'),
    );
    expect(() =>
      server.receiveMaskedInput({
        sessionId: 'run-1/round-3',
        clientId: a0.clientId,
        maskedInput: new Uint8Array(4),
      }),
    ).toThrow(code('SECAGG_WRONG_PHASE'));
    // The rejected messages left no trace: the honest ones still complete the phase.
    for (const a of adverts.slice(1)) server.receiveAdvertiseKeys(a);
    expect(server.closeAdvertiseKeys().participants).toHaveLength(5);
  });

  it('the threshold must exceed half of the clients (both server and client check)', async () => {
    const { server, adverts, clients } = setup(6, 3);
    for (const a of adverts) server.receiveAdvertiseKeys(a);
    expect(() => server.closeAdvertiseKeys()).toThrow(
      expect.objectContaining({ code: 'SECAGG_INVALID_CONFIG' }),
    );
    // A server that skipped the check still cannot make a client go along.
    await expect(
      clients[0]!.shareKeys({ sessionId: 'run-1/round-3', participants: adverts }),
    ).rejects.toMatchObject({
      code: 'SECAGG_INVALID_CONFIG',
    });
  });

  it('a client refuses a roster that omits it or changes its keys', async () => {
    const { adverts, clients } = setup();
    await expect(
      clients[0]!.shareKeys({ sessionId: 'run-1/round-3', participants: adverts.slice(1) }),
    ).rejects.toMatchObject({
      code: 'SECAGG_UNKNOWN_CLIENT',
    });
    const swapped = adverts.map((a, i) => (i === 1 ? { ...a, maskPublicKey: adverts[0]!.maskPublicKey } : a));
    await expect(
      clients[1]!.shareKeys({ sessionId: 'run-1/round-3', participants: swapped }),
    ).rejects.toMatchObject({
      code: 'SECAGG_DUPLICATE_CLIENT',
    });
  });

  it('ShareKeys: missing, redirected or wrong-length ciphertexts; unknown sender', async () => {
    const s = setup();
    for (const a of s.adverts) s.server.receiveAdvertiseKeys(a);
    const roster = s.server.closeAdvertiseKeys();
    const m = await s.clients[0]!.shareKeys(roster);
    const code = (c: string) => expect.objectContaining({ code: c });
    expect(() => s.server.receiveShareKeys({ ...m, encryptedShares: m.encryptedShares.slice(1) })).toThrow(
      code('SECAGG_MALFORMED_SHARES'),
    );
    const redirected = m.encryptedShares.map((e, i) =>
      i === 0 ? { ...e, recipientId: m.encryptedShares[1]!.recipientId } : e,
    );
    expect(() => s.server.receiveShareKeys({ ...m, encryptedShares: redirected })).toThrow(
      code('SECAGG_MALFORMED_SHARES'),
    );
    const short = m.encryptedShares.map((e, i) =>
      i === 0 ? { ...e, ciphertext: e.ciphertext.subarray(2) } : e,
    );
    expect(() => s.server.receiveShareKeys({ ...m, encryptedShares: short })).toThrow(
      code('SECAGG_MALFORMED_SHARES'),
    );
    expect(() => s.server.receiveShareKeys({ ...m, clientId: 'mallory' })).toThrow(
      code('SECAGG_UNKNOWN_CLIENT'),
    );
    s.server.receiveShareKeys(m);
    expect(() => s.server.receiveShareKeys(m)).toThrow(code('SECAGG_DUPLICATE_CLIENT'));
  });

  it('MaskedInput: wrong length, duplicate, sender that did not share keys', async () => {
    const s = await throughMaskedInput();
    const code = (c: string) => expect.objectContaining({ code: c });
    const m = s.masked[0]!;
    expect(() => s.server.receiveMaskedInput({ ...m, maskedInput: m.maskedInput.subarray(4) })).toThrow(
      code('SECAGG_MALFORMED_INPUT'),
    );
    expect(() => s.server.receiveMaskedInput({ ...m, clientId: 'mallory' })).toThrow(
      code('SECAGG_UNKNOWN_CLIENT'),
    );
    s.server.receiveMaskedInput(m);
    expect(() => s.server.receiveMaskedInput(m)).toThrow(code('SECAGG_DUPLICATE_CLIENT'));
  });

  it('a tampered share ciphertext makes its recipient refuse to unmask (SECAGG_BAD_CIPHERTEXT)', async () => {
    const s = setup();
    for (const a of s.adverts) s.server.receiveAdvertiseKeys(a);
    const roster = s.server.closeAdvertiseKeys();
    for (const c of s.clients) s.server.receiveShareKeys(await c.shareKeys(roster));
    const forwarded = s.server.closeShareKeys();
    const inbox = forwarded[0]!;
    const bad = inbox.encryptedShares[0]!.ciphertext.slice();
    bad[10] = (bad[10] as number) ^ 0x40;
    const tampered = {
      ...inbox,
      encryptedShares: inbox.encryptedShares.map((e, i) => (i === 0 ? { ...e, ciphertext: bad } : e)),
    };
    const masked = s.clients.map((c, i) =>
      c.maskedInput(i === 0 ? tampered : forwarded[i]!, s.inputs[i]!.update, s.inputs[i]!.weight),
    );
    for (const m of masked) s.server.receiveMaskedInput(m);
    const request = s.server.closeMaskedInput();
    expect(() => s.clients[0]!.unmask(request)).toThrow(
      expect.objectContaining({ code: 'SECAGG_BAD_CIPHERTEXT' }),
    );
  });

  it('a client answers one unmask request only, and only with enough survivors that include it', async () => {
    const s = await throughMaskedInput();
    for (const m of s.masked) s.server.receiveMaskedInput(m);
    const request = s.server.closeMaskedInput();
    const code = (c: string) => expect.objectContaining({ code: c });
    expect(() => s.clients[4]!.unmask({ ...request, survivors: request.survivors.slice(0, 3) })).toThrow(
      code('SECAGG_UNKNOWN_CLIENT'),
    );
    expect(() => s.clients[1]!.unmask({ ...request, survivors: request.survivors.slice(0, 2) })).toThrow(
      code('SECAGG_TOO_FEW_CLIENTS'),
    );
    // A refused request is not retried with another survivor set: that is how both secrets of one client could leak.
    expect(() => s.clients[1]!.unmask(request)).toThrow(code('SECAGG_WRONG_PHASE'));
    expect(() =>
      s.clients[2]!.unmask({ ...request, survivors: request.survivors.slice(0, 3).concat(['zed']) }),
    ).toThrow(code('SECAGG_UNKNOWN_CLIENT'));
    const r = s.clients[3]!.unmask(request);
    expect(r.selfMaskShares).toHaveLength(5);
    expect(() => s.clients[3]!.unmask(request)).toThrow(code('SECAGG_WRONG_PHASE'));
  });

  it('UnmaskResponse: unrequested or malformed shares are rejected; a corrupted share is stepped around or reported', async () => {
    const s = await throughMaskedInput(7, 4);
    for (const m of s.masked) s.server.receiveMaskedInput(m);
    const request = s.server.closeMaskedInput();
    const responses = s.clients.map((c) => c.unmask(request));
    const code = (c: string) => expect.objectContaining({ code: c });
    const r0 = responses[0]!;
    // Asking for a mask key of a survivor (which would unmask its input) is refused by the server too.
    expect(() =>
      s.server.receiveUnmaskResponse({
        ...r0,
        maskKeyShares: [{ ownerId: s.clients[1]!.clientId, share: r0.selfMaskShares[1]!.share }],
      }),
    ).toThrow(code('SECAGG_MALFORMED_SHARES'));
    expect(() =>
      s.server.receiveUnmaskResponse({
        ...r0,
        selfMaskShares: r0.selfMaskShares.map((x, i) => (i === 0 ? { ...x, share: x.share.subarray(1) } : x)),
      }),
    ).toThrow(code('SECAGG_MALFORMED_SHARES'));
    expect(() =>
      s.server.receiveUnmaskResponse({
        ...r0,
        selfMaskShares: [...r0.selfMaskShares, r0.selfMaskShares[0]!],
      }),
    ).toThrow(code('SECAGG_MALFORMED_SHARES'));
    // One responder's shares are corrupted (right length, wrong bytes): the commitment check notices and another
    // subset of the 7 shares reconstructs the seeds.
    const corrupted = {
      ...r0,
      selfMaskShares: r0.selfMaskShares.map((x) => ({
        ...x,
        share: Uint8Array.from(x.share, (b, i) => (i < 32 ? b ^ 0x5a : b)),
      })),
    };
    s.server.receiveUnmaskResponse(corrupted);
    for (const r of responses.slice(1)) s.server.receiveUnmaskResponse(r);
    const result = await s.server.finish();
    expectSumMatches(result, s.inputs);
  });

  it('corrupted shares that no subset can step around give SECAGG_RECONSTRUCTION_FAILED', async () => {
    const s = await throughMaskedInput(5, 3);
    for (const m of s.masked) s.server.receiveMaskedInput(m);
    const request = s.server.closeMaskedInput();
    const corrupt = (share: Uint8Array) => Uint8Array.from(share, (b, i) => (i < 32 ? b ^ 0x11 : b));
    // Three of the four responders corrupt their shares: every 3-subset contains a bad one.
    s.clients.slice(0, 4).forEach((c, i) => {
      const r = c.unmask(request);
      s.server.receiveUnmaskResponse(
        i < 3
          ? { ...r, selfMaskShares: r.selfMaskShares.map((x) => ({ ...x, share: corrupt(x.share) })) }
          : r,
      );
    });
    await expect(s.server.finish()).rejects.toMatchObject({ code: 'SECAGG_RECONSTRUCTION_FAILED' });
    expect(s.server.phase).toBe('failed');
  });

  it('client inputs must match the layout and have a weight in [0, clipRange]', async () => {
    const s = setup();
    for (const a of s.adverts) s.server.receiveAdvertiseKeys(a);
    const roster = s.server.closeAdvertiseKeys();
    for (const c of s.clients) s.server.receiveShareKeys(await c.shareKeys(roster));
    const forwarded = s.server.closeShareKeys();
    expect(() => s.clients[0]!.maskedInput(forwarded[0]!, s.inputs[0]!.update, 9)).toThrow(
      expect.objectContaining({ code: 'SECAGG_INVALID_INPUT' }),
    );
    expect(() =>
      s.clients[1]!.maskedInput(
        forwarded[1]!,
        new Map([['q.B', { shape: [12], data: new Float32Array(12) }]]),
        1,
      ),
    ).toThrow(expect.objectContaining({ code: 'UPDATE_LAYOUT_MISMATCH' }));
    expect(() => s.clients[2]!.maskedInput(forwarded[3]!, s.inputs[2]!.update, 1)).toThrow(
      expect.objectContaining({ code: 'SECAGG_UNKNOWN_CLIENT' }),
    );
  });
});

describe('secure aggregation: the server never holds an unmasked individual update', () => {
  /** Every typed ring vector reachable from the server object (its whole state, not only what it reports). */
  function ringVectorsIn(root: unknown, length: number): RingVector[] {
    const found: RingVector[] = [];
    const seen = new Set<unknown>();
    const visit = (v: unknown) => {
      if (v === null || typeof v !== 'object' || seen.has(v)) return;
      seen.add(v);
      if ((v instanceof Uint32Array || v instanceof Float64Array) && v.length === length) found.push(v);
      else if (ArrayBuffer.isView(v)) return;
      else if (v instanceof Map)
        for (const [k, x] of v) {
          visit(k);
          visit(x);
        }
      else if (v instanceof Set || Array.isArray(v)) for (const x of v) visit(x);
      else for (const x of Object.values(v)) visit(x);
    };
    visit(root);
    return found;
  }

  /** How many coordinates agree with a client's plaintext encoding (a masked vector agrees with p = 2^-32 each). */
  const agreement = (held: ArrayLike<number>, plain: ArrayLike<number>) => {
    let same = 0;
    for (let i = 0; i < plain.length; i++) if (held[i] === plain[i]) same++;
    return same / plain.length;
  };

  it('neither the vectors it reports nor anything in its state equals a client plaintext, yet the final sum is exact', async () => {
    const n = 6;
    const inputs = inputsFor(n, 4242);
    const cfg = config({ threshold: 4 });
    const ring = chooseRing({ clipRange: 8, fractionalBits: 16, clients: n });
    const plaintexts = inputs.map((inp) => {
      const flat = flattenUpdate(inp.update, layout);
      return ring.encode([...flat.map((v) => v * inp.weight), inp.weight]).vector;
    });
    const length = plaintexts[0]!.length;
    const held: HeldVector[] = [];
    const inspected: RingVector[] = [];
    const server = new SecAggServer(cfg, {
      onVectorHeld: (h) => held.push({ ...h, values: h.values.slice() }),
    });
    // After every server step, snapshot every ring vector in its whole state (not only what it reports).
    const step = <T>(r: T): T => {
      for (const v of ringVectorsIn(server, length)) inspected.push(v.slice());
      return r;
    };
    const clients = inputs.map((i) => new SecAggClient(i.clientId, cfg));
    for (const c of clients) step(server.receiveAdvertiseKeys(c.advertiseKeys()));
    const roster = step(server.closeAdvertiseKeys());
    for (const c of clients) step(server.receiveShareKeys(await c.shareKeys(roster)));
    const forwarded = step(server.closeShareKeys());
    // Client 5 drops before masking (its pairwise masks are rebuilt), client 0 after (its self mask is rebuilt),
    // so every reconstruction path runs under observation.
    for (let i = 0; i < 5; i++)
      step(
        server.receiveMaskedInput(
          clients[i]!.maskedInput(forwarded[i]!, inputs[i]!.update, inputs[i]!.weight),
        ),
      );
    const request = step(server.closeMaskedInput());
    for (const c of clients.slice(1, 5)) step(server.receiveUnmaskResponse(c.unmask(request)));
    const result = step(await server.finish());

    expect(held.filter((h) => h.kind === 'masked-input')).toHaveLength(5);
    expect(held.filter((h) => h.kind === 'mask')).toHaveLength(5 + 5); // 5 self masks, 5 pairwise with the dropout
    expect(inspected.length).toBeGreaterThan(10);
    const sums = held.filter((h) => h.kind === 'sum');
    expect(sums).toHaveLength(1);
    for (const v of [...held.filter((x) => x.kind !== 'sum').map((h) => h.values), ...inspected]) {
      for (const p of plaintexts) expect(agreement(v, p)).toBeLessThan(0.05);
    }
    // The only unmasked vector is the sum of the five included clients, and it is exact in the ring.
    const exact = ring.zeros(length);
    for (const p of plaintexts.slice(0, 5)) ring.add(exact, p);
    expect(sums[0]!.values).toEqual(exact);
    for (const p of plaintexts) expect(agreement(sums[0]!.values, p)).toBeLessThan(0.05);
    expectSumMatches(result, inputs.slice(0, 5));
  });

  it('the state walk finds every ring vector the server keeps, and the check flags a plaintext (negative control)', async () => {
    const inputs = inputsFor(5, 1);
    const cfg = config({ threshold: 3 });
    const server = new SecAggServer(cfg);
    const clients = inputs.map((i) => new SecAggClient(i.clientId, cfg));
    for (const c of clients) server.receiveAdvertiseKeys(c.advertiseKeys());
    const roster = server.closeAdvertiseKeys();
    for (const c of clients) server.receiveShareKeys(await c.shareKeys(roster));
    const forwarded = server.closeShareKeys();
    const length = 18;
    const ring = chooseRing({ clipRange: 8, fractionalBits: 16, clients: 5 });
    const plain0 = ring.encode([
      ...flattenUpdate(inputs[0]!.update, layout).map((v) => v * inputs[0]!.weight),
      inputs[0]!.weight,
    ]).vector;
    server.receiveMaskedInput(clients[0]!.maskedInput(forwarded[0]!, inputs[0]!.update, inputs[0]!.weight));
    const state = ringVectorsIn(server, length);
    expect(state).toHaveLength(1); // the running sum, and nothing else
    expect(agreement(state[0]!, plain0)).toBeLessThan(0.05);
    // Negative control: had the server kept the plaintext, the same check would catch it.
    (server as unknown as { leaked: RingVector }).leaked = plain0;
    const withLeak = ringVectorsIn(server, length);
    expect(withLeak.some((v) => agreement(v, plain0) > 0.99)).toBe(true);
  });
});
