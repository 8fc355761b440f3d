/** The machine stamp written with every benchmark run: numbers mean little without it. */
import os from 'node:os';
import { tf } from '../../shared/tensor/tf.ts';
import type { MachineInfo } from './types.ts';

export function describeMachine(backend: string, date = new Date()): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    tfjs: tf.version_core,
    backend,
    date: date.toISOString(),
  };
}
