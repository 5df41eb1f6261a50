// CPU affinity of the calling thread: which CPUs this process may run on, and pinning a worker
// thread (a ZT or FUSE channel) to one of them.
import { check, sched_getaffinity, sched_setaffinity } from './libc.js';

const MASK_BYTES = 128; // 1024 CPUs, glibc's cpu_set_t

/** CPUs the calling thread may run on, ascending. */
export function allowedCpus(): number[] {
  const mask = Buffer.alloc(MASK_BYTES);
  check(sched_getaffinity(0, MASK_BYTES, mask), 'sched_getaffinity');
  const cpus: number[] = [];
  for (let i = 0; i < MASK_BYTES * 8; i++) if (mask[i >> 3]! & (1 << (i & 7))) cpus.push(i);
  return cpus;
}

/** Pins the calling OS thread (not the process) to one CPU. */
export function pinCurrentThread(cpu: number): void {
  const mask = Buffer.alloc(MASK_BYTES);
  mask[cpu >> 3] = 1 << (cpu & 7);
  check(sched_setaffinity(0, MASK_BYTES, mask), `sched_setaffinity(cpu ${cpu})`);
}
