/**
 * Two connected in-memory `FrameLink`s: what the fleet simulator and tests use instead of sockets. Frames
 * are the same encoded bytes a socket would carry (so the codec and validation run exactly as in production)
 * and are delivered asynchronously, in order, like a network would: a handler never runs inside `send`.
 */
import type { FrameLink } from './frame-link.ts';

class InMemoryLink implements FrameLink {
  other: InMemoryLink | undefined;
  private readonly frameListeners = new Set<(frame: Uint8Array) => void>();
  private readonly closeListeners: Array<(reason: string) => void> = [];
  private open = true;
  /** Per-direction queue so delivery order equals send order even across microtask boundaries. */
  private readonly queue: Uint8Array[] = [];
  private draining = false;

  constructor(readonly label: string) {}

  get isOpen(): boolean {
    return this.open;
  }

  send(frame: Uint8Array): void {
    const other = this.other;
    if (!this.open || !other) return;
    // Copy: the sender may reuse its buffer; a real socket would have serialized it.
    other.enqueue(frame.slice());
  }

  onFrame(listener: (frame: Uint8Array) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  close(reason = 'closed locally'): void {
    if (!this.open) return;
    this.shut(reason);
    this.other?.shut(`closed by peer: ${reason}`);
  }

  private enqueue(frame: Uint8Array): void {
    this.queue.push(frame);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    while (this.open && this.queue.length > 0) {
      const frame = this.queue.shift()!;
      for (const listener of [...this.frameListeners]) listener(frame);
    }
    this.draining = false;
  }

  private shut(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.queue.length = 0;
    setImmediate(() => {
      for (const listener of this.closeListeners) listener(reason);
    });
  }
}

/** A connected pair: frames sent on `a` arrive on `b` and vice versa; closing either closes both. */
export function createLinkPair(labels: { a?: string; b?: string } = {}): { a: FrameLink; b: FrameLink } {
  const a = new InMemoryLink(labels.a ?? 'memory:a');
  const b = new InMemoryLink(labels.b ?? 'memory:b');
  a.other = b;
  b.other = a;
  return { a, b };
}
