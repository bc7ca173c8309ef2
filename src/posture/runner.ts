// The posture check run by the gateway itself: at start, every posture.intervalMs, and on demand
// (CHECK POSTURE, POST /api/posture). One run at a time; a run asked for while one is under way
// gets that run's result. The last result is what moat.posture_findings and the dashboard show.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { runPostureCheck } from './check.ts';
import { type Finding, worst } from './finding.ts';

/** What the admin port and the API answer when no check account is configured. */
export const POSTURE_OFF = 'posture checks need a check account: set posture.user';

export interface PostureResult {
  /** When the last run ended (epoch ms); null before the first. */
  checkedAt: number | null;
  findings: Finding[];
  /** Why the last run could not check at all (no login, no privilege …); null when it ran. */
  error: string | null;
}

export class PostureRunner {
  private readonly config: Config;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PostureResult> | null = null;
  last: PostureResult = { checkedAt: null, findings: [], error: null };

  constructor(config: Config, log: Logger) {
    this.config = config;
    this.log = log;
  }

  /** Configured: a check account is set. */
  get enabled(): boolean {
    return this.config.posture.user !== undefined;
  }

  start(): void {
    if (!this.enabled) return;
    void this.run();
    const every = this.config.posture.intervalMs;
    if (every > 0) {
      this.timer = setInterval(() => void this.run(), every);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  run(): Promise<PostureResult> {
    if (this.running !== null) return this.running;
    this.running = this.check().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async check(): Promise<PostureResult> {
    const p = this.config.posture;
    try {
      const findings = await runPostureCheck(this.config, {
        user: p.user!,
        password: this.password(),
        endpoint: p.endpoint,
      });
      this.last = { checkedAt: Date.now(), findings, error: null };
      const fails = findings.filter((f) => f.severity === 'fail');
      const log = fails.length > 0 ? this.log.warn.bind(this.log) : this.log.info.bind(this.log);
      log(
        {
          worst: worst(findings),
          fail: fails.length,
          warn: findings.filter((f) => f.severity === 'warn').length,
          failing: fails.map((f) => `${f.id} ${f.subject}`),
        },
        'posture checked',
      );
    } catch (e) {
      this.last = { checkedAt: Date.now(), findings: [], error: (e as Error).message };
      this.log.error({ err: (e as Error).message }, 'posture check could not run');
    }
    return this.last;
  }

  private password(): string {
    const p = this.config.posture;
    if (p.passwordFile !== undefined) return readFileSync(p.passwordFile, 'utf8').replace(/\r?\n$/, '');
    const v = process.env[p.passwordEnv!];
    if (v === undefined) throw new Error(`posture.passwordEnv: $${p.passwordEnv} is not set`);
    return v;
  }
}
