/**
 * One complete secure aggregation with every client and the server in this process, exchanging the protocol
 * messages directly. The fleet simulator and the benchmarks use it (with scripted dropouts) to run the real
 * protocol without a network, and it measures the time each phase costs on each side.
 */
import type { HostTensorMap } from '../../tensor/host-tensor.ts';
import type { SecAggConfigInput } from './config.ts';
import type { RandomBytes } from './key-agreement.ts';
import type { SecAggMaskedInput, SecAggShareKeys, SecAggUnmaskResponse } from './messages.ts';
import type { HeldVector, SecAggResult } from './server.ts';
import { SecAggClient } from './client.ts';
import { SecAggServer } from './server.ts';

export interface InMemoryClientInput {
  clientId: string;
  update: HostTensorMap;
  weight: number;
}

export interface InMemoryRoundOptions {
  config: SecAggConfigInput;
  inputs: InMemoryClientInput[];
  /** Clients that vanish after advertising keys (never share keys). */
  dropBeforeShareKeys?: Iterable<string>;
  /** Clients that vanish after sharing keys: their input is excluded. */
  dropBeforeMaskedInput?: Iterable<string>;
  /** Clients that vanish after sending their masked input: their input is still included. */
  dropBeforeUnmask?: Iterable<string>;
  /** Per-client randomness (tests and simulations); default: the platform CSPRNG. */
  randomBytesFor?: (clientId: string) => RandomBytes;
  onVectorHeld?: (held: HeldVector) => void;
}

/** Milliseconds spent per phase: summed over all clients, and on the server. */
export interface PhaseTimings {
  advertiseKeys: { clientsMs: number; serverMs: number };
  shareKeys: { clientsMs: number; serverMs: number };
  maskedInput: { clientsMs: number; serverMs: number };
  unmask: { clientsMs: number; serverMs: number };
}

export interface InMemoryRoundResult {
  result: SecAggResult;
  timings: PhaseTimings;
  /** Bytes each phase put on the wire from clients (payload bytes only, no framing). */
  uploadBytes: { shareKeys: number; maskedInput: number; unmask: number };
}

export async function runSecAggInMemory(options: InMemoryRoundOptions): Promise<InMemoryRoundResult> {
  const dropShare = new Set(options.dropBeforeShareKeys ?? []);
  const dropMasked = new Set(options.dropBeforeMaskedInput ?? []);
  const dropUnmask = new Set(options.dropBeforeUnmask ?? []);
  const server = new SecAggServer(options.config, { onVectorHeld: options.onVectorHeld });
  const timings: PhaseTimings = {
    advertiseKeys: { clientsMs: 0, serverMs: 0 },
    shareKeys: { clientsMs: 0, serverMs: 0 },
    maskedInput: { clientsMs: 0, serverMs: 0 },
    unmask: { clientsMs: 0, serverMs: 0 },
  };
  const uploadBytes = { shareKeys: 0, maskedInput: 0, unmask: 0 };
  const clock = () => performance.now();

  let t0 = clock();
  const clients = options.inputs.map((input) => ({
    input,
    client: new SecAggClient(input.clientId, options.config, {
      randomBytes: options.randomBytesFor?.(input.clientId),
    }),
  }));
  const adverts = clients.map(({ client }) => client.advertiseKeys());
  timings.advertiseKeys.clientsMs += clock() - t0;
  t0 = clock();
  for (const a of adverts) server.receiveAdvertiseKeys(a);
  const roster = server.closeAdvertiseKeys();
  timings.advertiseKeys.serverMs += clock() - t0;

  let alive = clients.filter(({ input }) => !dropShare.has(input.clientId));
  const shared: SecAggShareKeys[] = [];
  for (const { client } of alive) {
    t0 = clock();
    shared.push(await client.shareKeys(roster));
    timings.shareKeys.clientsMs += clock() - t0;
  }
  for (const m of shared)
    uploadBytes.shareKeys += m.encryptedShares.reduce((s, e) => s + e.ciphertext.length, 32);
  t0 = clock();
  for (const m of shared) server.receiveShareKeys(m);
  const forwarded = new Map(server.closeShareKeys().map((f) => [f.recipientId, f]));
  timings.shareKeys.serverMs += clock() - t0;

  alive = alive.filter(({ input }) => !dropMasked.has(input.clientId));
  const masked: SecAggMaskedInput[] = [];
  t0 = clock();
  for (const { client, input } of alive) {
    const inbox = forwarded.get(input.clientId);
    if (!inbox) throw new Error(`no forwarded shares for '${input.clientId}'`);
    masked.push(client.maskedInput(inbox, input.update, input.weight));
  }
  timings.maskedInput.clientsMs += clock() - t0;
  for (const m of masked) uploadBytes.maskedInput += m.maskedInput.length;
  t0 = clock();
  for (const m of masked) server.receiveMaskedInput(m);
  const request = server.closeMaskedInput();
  timings.maskedInput.serverMs += clock() - t0;

  alive = alive.filter(({ input }) => !dropUnmask.has(input.clientId));
  const responses: SecAggUnmaskResponse[] = [];
  t0 = clock();
  for (const { client } of alive) responses.push(client.unmask(request));
  timings.unmask.clientsMs += clock() - t0;
  for (const r of responses) {
    uploadBytes.unmask += [...r.selfMaskShares, ...r.maskKeyShares].reduce((s, x) => s + x.share.length, 0);
  }
  t0 = clock();
  for (const r of responses) server.receiveUnmaskResponse(r);
  const result = await server.finish();
  timings.unmask.serverMs += clock() - t0;
  return { result, timings, uploadBytes };
}
