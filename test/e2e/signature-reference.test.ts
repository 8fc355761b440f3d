/**
 * The signature reference over real socket.io (issue 13, lockout): by default the coordinator's own signature,
 * from its copy of the base, decides. A client that joins first with a wrong signature is refused with
 * SIGNATURE_MISMATCH and an honest client joining after it is welcomed and instructed. With the documented
 * `first-client` opt-in the same order locks the honest client out — which is why it is not the default.
 */
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageBody } from '../../shared/wire/messages.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { encodeHostTensor } from '../../shared/wire/tensor-codec.ts';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { BASE_CONFIG, startCoordinator, TOKEN, waitFor, type Started } from './coordinator-fixture.ts';

let s: Started | undefined;

afterEach(async () => {
  await s?.close();
  s = undefined;
});

interface Client {
  peer: Peer;
  instructions: Array<MessageBody<'roundInstruction'>>;
}

async function connect(url: string, name: string): Promise<Client> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const peer = new Peer({ side: 'client', link: socketIoLink(socket, name) });
  const instructions: Client['instructions'] = [];
  peer.onMessage((f) => {
    if (f.message.kind === 'roundInstruction') instructions.push(f.message.body);
  });
  return { peer, instructions };
}

function joinWith(name: string, signature: Float32Array) {
  const sig = encodeHostTensor('signature', { shape: [signature.length], data: signature });
  return {
    kind: 'join' as const,
    body: {
      clientName: name,
      authToken: TOKEN,
      capabilities: { backend: 'cpu', supportedMethods: ['pica'] },
      signatures: [{ method: 'pica', value: { spec: sig.spec, data: sig.bytes } }],
    },
  };
}

/** Joins and returns 'WELCOME' or the error code the coordinator answered with. */
async function outcome(client: Client, name: string, signature: Float32Array): Promise<string> {
  try {
    const reply = await client.peer.request(joinWith(name, signature));
    return reply.message.kind === 'welcome' ? 'WELCOME' : reply.message.kind;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

const CONFIG = { run: { rounds: 1 }, strategy: { name: 'fedavg', sampling: { minClients: 1 } } } as const;

describe('derived-state signature reference', () => {
  it("defaults to the coordinator's own: a wrong first signer is refused and cannot lock honest clients out", async () => {
    s = await startCoordinator(CONFIG);
    expect(parseCoordinatorConfig(BASE_CONFIG).signatures.reference).toBe('coordinator');
    s.coordinator.start();
    const wrong = s.method.signature.map((v) => v + 0.5);

    const attacker = await connect(s.url, 'wrong-base');
    expect(await outcome(attacker, 'wrong-base', wrong)).toBe('SIGNATURE_MISMATCH');

    const honest = await connect(s.url, 'honest');
    expect(await outcome(honest, 'honest', s.method.signature)).toBe('WELCOME');
    // Welcomed with a proven signature means sampled: the round is instructed to the honest client.
    await waitFor(() => honest.instructions.length > 0, 10_000, "the honest client's round instruction");
    expect(honest.instructions[0]!.roundId).toBe(1);

    // The attacker's wrong signature stays wrong however often it retries.
    expect(await outcome(attacker, 'wrong-base', wrong)).toBe('SIGNATURE_MISMATCH');
    attacker.peer.close('test over');
    honest.peer.close('test over');
  });

  it('with the explicit first-client opt-in the first signer sets the reference (the lockout it allows)', async () => {
    s = await startCoordinator({ ...CONFIG, signatures: { reference: 'first-client' } });
    s.coordinator.start();
    const wrong = s.method.signature.map((v) => v + 0.5);
    const first = await connect(s.url, 'first');
    expect(await outcome(first, 'first', wrong)).toBe('WELCOME');
    const honest = await connect(s.url, 'honest');
    expect(await outcome(honest, 'honest', s.method.signature)).toBe('SIGNATURE_MISMATCH');
    first.peer.close('test over');
    honest.peer.close('test over');
  });
});
