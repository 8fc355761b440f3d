/**
 * TLS: with `transport.tls` the coordinator speaks HTTPS/WSS only. A client that trusts the certificate joins
 * and gets a Welcome over the encrypted socket; a client that does not trust it, or speaks plain HTTP, gets
 * nothing. The certificate is a throwaway self-signed one made with Debian's openssl for this test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { useBackend } from '../../shared/tensor/backend.ts';
import { parseCoordinatorConfig } from '../../server/config.ts';
import { Coordinator } from '../../server/coordinator.ts';
import { MemoryLogger } from '../../server/logger.ts';
import { describeMethod } from '../../server/method-state.ts';
import { startSocketIoServer, type RunningServer } from '../../server/transport/socket-io-server.ts';
import { Peer } from '../../shared/wire/peer.ts';
import { socketIoLink } from '../../shared/wire/socket-io-link.ts';
import { BASE_CONFIG, TOKEN } from './coordinator-fixture.ts';

let dir: string;
let cert: Buffer;
let server: RunningServer;
let coordinator: Coordinator;

beforeAll(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'fedpeft-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  cert = await readFile(join(dir, 'cert.pem'));
  const config = parseCoordinatorConfig(BASE_CONFIG);
  const method = describeMethod({
    model: config.model.name,
    modelConfig: config.model.config,
    method: config.method.name,
    methodConfig: config.method.config,
    seed: config.run.seed,
  });
  coordinator = await Coordinator.create({
    config,
    method,
    runId: 'tls',
    runDir: join(dir, 'run'),
    logger: new MemoryLogger(),
  });
  server = await startSocketIoServer(coordinator, {
    host: '127.0.0.1',
    port: 0,
    adminToken: 'admin-token-0123456789',
    logger: new MemoryLogger(),
    tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
  });
});

afterAll(async () => {
  await coordinator?.stop('test over');
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

function statusOver(url: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    httpsGet(`${url}/status`, ca ? { ca } : {}, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('coordinator over TLS', () => {
  it('serves https only, to clients that trust its certificate', async () => {
    expect(server.url.startsWith('https://')).toBe(true);
    expect(await statusOver(server.url, cert)).toBe(200);
    await expect(statusOver(server.url)).rejects.toThrow(/self-signed|certificate/i);
    const plain = await fetch(server.url.replace('https://', 'http://') + '/status').catch((e: Error) => e);
    expect(plain).toBeInstanceOf(Error);
  });

  it('admits a client over WSS: join -> welcome', async () => {
    const socket = io(server.url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      ca: cert.toString(),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const peer = new Peer({ side: 'client', link: socketIoLink(socket, 'tls-client') });
    const reply = await peer.request({
      kind: 'join',
      body: {
        clientName: 'tls-client',
        authToken: TOKEN,
        capabilities: { backend: 'null', supportedMethods: ['pica'], numExamples: 1 },
        resumeSessionId: '',
        resumeSessionToken: '',
        signatures: [],
        lastCommittedRound: 0,
      },
    });
    expect(reply.message.kind).toBe('welcome');
    peer.close('done');
    socket.disconnect();
  });

  it('refuses a client that does not trust the certificate', async () => {
    const socket = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true });
    const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    expect(error).toBeInstanceOf(Error);
    socket.disconnect();
  });
});
