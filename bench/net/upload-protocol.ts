/** What the transport benchmark and its sender process (`upload-sender.ts`) say to each other. */

export interface UploadSenderOptions {
  url: string;
  /** Size of the upload in MiB (float32 values: megabytes * 2^18). */
  megabytes: number;
  /** Number of equally sized tensors it is split into. */
  tensors: number;
}

/** Sent by the receiver (socket.io event `RUN_EVENT`): upload the sender's bytes once, this way. */
export interface RunCommand {
  mode: 'pb' | 'raw-ack' | 'raw-noack';
  transferId: string;
  chunkBytes: number;
  window: number;
}

export const RAW_EVENT = 'bench.raw';
export const RUN_EVENT = 'bench.run';
