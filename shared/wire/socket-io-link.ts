/**
 * A socket.io socket (server-side `Socket` or client-side `socket.io-client` Socket) as a `FrameLink`. Typed
 * structurally so `shared/` depends on neither socket.io package and runs in browsers.
 */
import type { FrameLink } from './frame-link.ts';
import { WIRE_EVENT } from './messages.ts';

/** The part of a socket.io socket the link uses (both the server and the client Socket have it). */
export interface SocketLike {
  readonly connected: boolean;
  emit(event: string, ...args: unknown[]): unknown;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(close?: boolean): unknown;
}

/**
 * Any socket.io socket. The generic event-map signatures of the two packages' `Socket` classes do not match
 * one structural type, so the parameter only requires the members to exist and the link uses them as
 * `SocketLike`.
 */
export interface AnySocket {
  readonly connected: boolean;
  emit: unknown;
  on: unknown;
  off: unknown;
  disconnect: unknown;
}

export function socketIoLink(anySocket: AnySocket | SocketLike, label: string): FrameLink {
  const socket = anySocket as SocketLike;
  let open = socket.connected;
  const closeListeners: Array<(reason: string) => void> = [];
  const frameHandlers = new Set<(frame: Uint8Array | ArrayBuffer) => void>();
  // socket.io-client reconnects with the same socket object: a link is one connection, so on disconnect it
  // detaches its handlers and a new link (and Peer) is made for the next connection.
  const onDisconnect = (reason: string) => {
    if (!open) return;
    open = false;
    for (const h of frameHandlers) socket.off(WIRE_EVENT, h);
    frameHandlers.clear();
    socket.off('disconnect', onDisconnect);
    for (const listener of closeListeners) listener(String(reason));
  };
  socket.on('disconnect', onDisconnect);
  return {
    label,
    get isOpen() {
      return open && socket.connected;
    },
    send(frame) {
      if (open && socket.connected) socket.emit(WIRE_EVENT, frame);
    },
    onFrame(listener) {
      const handler = (frame: Uint8Array | ArrayBuffer) => listener(frame);
      frameHandlers.add(handler);
      socket.on(WIRE_EVENT, handler);
      return () => {
        frameHandlers.delete(handler);
        socket.off(WIRE_EVENT, handler);
      };
    },
    onClose(listener) {
      closeListeners.push(listener);
    },
    close(reason = 'closed locally') {
      onDisconnect(reason);
      socket.disconnect(true);
    },
  };
}
