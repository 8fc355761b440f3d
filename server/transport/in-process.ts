/**
 * The in-process transport: a client connects to a coordinator in the same process through an in-memory
 * `FrameLink` pair. Frames are the same encoded protobuf envelopes a socket carries, validated the same way,
 * so the fleet simulator exercises the real protocol without sockets.
 */
import { createLinkPair } from '../../shared/wire/in-memory-link.ts';
import type { FrameLink } from '../../shared/wire/frame-link.ts';

export interface LinkAcceptor {
  accept(link: FrameLink): void;
}

/** Connects a new in-memory client link to `coordinator`; the returned link is the client's end. */
export function connectInProcess(coordinator: LinkAcceptor, label = 'in-process'): FrameLink {
  const { a, b } = createLinkPair({ a: `${label}:client`, b: `${label}:coordinator` });
  coordinator.accept(b);
  return a;
}
