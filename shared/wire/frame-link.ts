/**
 * The one thing the session layer needs from a transport: a bidirectional, message-oriented pipe of binary
 * frames that can close. socket.io (both sides), raw WebSockets and the fleet simulator's in-memory pipes all
 * fit behind it, so `Peer` and the coordinator's round engine never know which one carries them.
 */
export interface FrameLink {
  /** Sends one frame; a closed link drops it silently (the session layer's acks and resume cover the loss). */
  send(frame: Uint8Array): void;
  /** Subscribes to incoming frames; returns the unsubscribe function. */
  onFrame(listener: (frame: Uint8Array | ArrayBuffer) => void): () => void;
  /** Called once, when either side closes or the connection breaks. */
  onClose(listener: (reason: string) => void): void;
  close(reason?: string): void;
  readonly isOpen: boolean;
  /** Who is on the other end (address, socket id), for logs. */
  readonly label: string;
}
