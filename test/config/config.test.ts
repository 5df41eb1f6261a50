// Config loading: defaults, units, URL schemes, and errors that name file, line and key.
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromUrl, loadConfig, parseConfig } from '../../src/zus/config.js';

function fail(text: string): ConfigError {
  try {
    parseConfig(text, '/etc/zufs/t.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('config was accepted');
}

describe('config', () => {
  it('applies defaults, units and the fs type implied by the URL', () => {
    const c = parseConfig(
      ['mounts:', '  - name: cache', '    url: redis://127.0.0.1:6379/0', '    timeout: 250ms', '    chunk_size: 256KiB'].join('\n'),
      'x.yaml',
    );
    const m = c.mounts[0]!;
    expect(m.fs).toBe('zufs-redis');
    expect(m.timeout).toBe(250);
    expect(m.chunk_size).toBe(256 * 1024);
    expect(m.layout).toBe('posix');
    expect(m.volume).toBe('cache');
    expect(c.daemon.memory_budget).toBe(512 * 1024 * 1024);
    expect(Object.isFrozen(m)).toBe(true);
  });

  it('names the line and key of an unknown key', () => {
    const e = fail(['mounts:', '  - name: a', '    url: local:///tmp/a', '    volum: x'].join('\n'));
    expect(e.line).toBe(4);
    expect(e.key).toBe('mounts[0].volum');
    expect(e.message).toMatch(/t\.yaml:4: mounts\[0\]\.volum: unknown key/);
  });

  it('names the line of a bad value and of a bad URL scheme', () => {
    const e = fail(['mounts:', '  - name: a', '    url: local:///tmp/a', '    timeout: soon'].join('\n'));
    expect(e.line).toBe(4);
    expect(e.key).toBe('mounts[0].timeout');
    const u = fail(['mounts:', '  - name: a', '    url: ftp://host/x'].join('\n'));
    expect(u.line).toBe(3);
    expect(u.reason).toMatch(/unknown store "ftp:"/);
  });

  it('reports YAML syntax errors with their line', () => {
    const e = fail(['mounts:', '  - name: a', '    url: [unclosed'].join('\n'));
    expect(e.line).toBeGreaterThanOrEqual(3);
    expect(e.file).toBe('/etc/zufs/t.yaml');
  });

  it('rejects duplicate keys, duplicate names, missing keys and a mismatched fs', () => {
    expect(fail(['mounts:', '  - name: a', '    name: b', '    url: local:///x'].join('\n')).line).toBe(3);
    expect(fail(['mounts:', '  - name: a', '    url: local:///x', '  - name: a', '    url: local:///y'].join('\n')).reason).toMatch(/duplicate mount name/);
    expect(fail(['mounts:', '  - name: a'].join('\n')).key).toBe('mounts[0].url');
    expect(fail(['mounts:', '  - name: a', '    url: local:///x', '    fs: zufs-redis'].join('\n')).line).toBe(4);
  });

  it('builds a one-mount config from a URL', () => {
    const c = configFromUrl('redis://127.0.0.1:6379/0?volume=vol1', { mountpoint: '/mnt/x' });
    expect(c.mounts[0]!.volume).toBe('vol1');
    expect(c.mounts[0]!.fs).toBe('zufs-redis');
    expect(() => configFromUrl('nope://x')).toThrow(ConfigError);
  });

  it('accepts the annotated example config (and its secret comes from the environment)', () => {
    process.env.REDIS_PASSWORD = 'example';
    try {
      const c = loadConfig(new URL('../../config/example.yaml', import.meta.url).pathname);
      expect(c.mounts.map((m) => m.fs)).toEqual(['zufs-local', 'zufs-redis']);
    } finally {
      delete process.env.REDIS_PASSWORD;
    }
  });
});
