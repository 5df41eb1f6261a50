// The root pino logger of zusd: pretty on a terminal, JSON lines otherwise. Child loggers are made
// once per mount and per channel; secrets never reach a log line (URLs pass through redactUrl from src/backends).
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export function createLogger(level: string, opts: { pretty?: boolean; destination?: number } = {}): Logger {
  const fd = opts.destination ?? 2;
  const usePretty = opts.pretty ?? (process.stderr.isTTY && fd === 2);
  const base = { level, base: { pid: process.pid }, redact: { paths: ['password', '*.password', 'secret', '*.secret'], censor: '***' } };
  if (usePretty) return pino(base, pretty({ destination: fd, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
  return pino(base, pino.destination({ fd, sync: false }));
}
