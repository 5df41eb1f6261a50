// The per-mount lock_lease key: a duration, 5 s when absent, only where locks are shared between
// gateways (posix volumes in redis or mongodb, or with such a metadata engine), errors with file:line:key.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/zus/config.js';

const mount = (...lines: string[]): string => ['mounts:', '  - name: a', ...lines.map((l) => `    ${l}`)].join('\n');

function fail(text: string): ConfigError {
  try {
    parseConfig(text, '/etc/zufs/t.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('config was accepted');
}

describe('lock_lease', () => {
  it('takes a duration on redis and mongodb posix volumes and on object stores with such a meta_url; absent, the store default (5 s) applies', () => {
    expect(parseConfig(mount('url: redis://127.0.0.1:6379/0', 'lock_lease: 1500ms'), 'x.yaml').mounts[0]!.lock_lease).toBe(1500);
    expect(parseConfig(mount('url: mongodb://127.0.0.1/z', 'lock_lease: 2m'), 'x.yaml').mounts[0]!.lock_lease).toBe(120_000);
    expect(parseConfig(mount('url: s3://b/p', 'meta_url: redis://127.0.0.1/0', 'lock_lease: 10s'), 'x.yaml').mounts[0]!.lock_lease).toBe(10_000);
    expect(parseConfig(mount('url: redis://127.0.0.1:6379/0'), 'x.yaml').mounts[0]!.lock_lease).toBeUndefined();
  });

  it('a bad duration names file, line and key', () => {
    const e = fail(mount('url: redis://127.0.0.1:6379/0', 'lock_lease: forever'));
    expect(e.message).toBe('/etc/zufs/t.yaml:4: mounts[0].lock_lease: invalid duration "forever": expected e.g. 250ms, 5s, 2m');
  });

  it('refuses a lease too short to be renewed safely, or absurdly long', () => {
    const e = fail(mount('url: redis://127.0.0.1:6379/0', 'timeout: 5s', 'lock_lease: 200ms'));
    expect([e.line, e.key]).toEqual([5, 'mounts[0].lock_lease']);
    expect(e.reason).toMatch(/between 1s and 1h .*got 200ms/);
    expect(fail(mount('url: redis://127.0.0.1:6379/0', 'lock_lease: 2h')).key).toBe('mounts[0].lock_lease');
    expect(parseConfig(mount('url: redis://127.0.0.1:6379/0', 'lock_lease: 1s'), 'x.yaml').mounts[0]!.lock_lease).toBe(1000);
  });

  it('is refused where there is no lease: stores that keep locks in the process, and native layouts', () => {
    for (const lines of [
      ['url: local:///tmp/v'],
      ['url: memory://m'],
      ['url: s3://b/p', 'meta_url: local:///tmp/meta'],
      ['url: redis://127.0.0.1:6379/0', 'layout: native'],
    ]) {
      const e = fail(mount(...lines, 'lock_lease: 5s'));
      expect(e.key, lines.join(' ')).toBe('mounts[0].lock_lease');
      expect(e.line).toBe(3 + lines.length);
      expect(e.reason).toMatch(/only a posix volume in redis or mongodb/);
    }
  });
});
