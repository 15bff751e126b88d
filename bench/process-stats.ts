/**
 * What the Strata process costs outside of time: its peak resident memory (VmHWM), which the
 * kernel lets us reset before a measured operation, and the per-request durations Strata logs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** resetPeakRss makes VmHWM start again from the current RSS (Linux ≥ 4.0: clear_refs value 5). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Math.round((Number(kb) / 1024) * 10) / 10;
}

/** peakRssMiB reads VmHWM, the peak resident set since the last reset, in MiB. */
export function peakRssMiB(pid: number): number {
  return statusMiB(pid, 'VmHWM');
}

/** rssMiB reads VmRSS, the resident set now, in MiB. */
export function rssMiB(pid: number): number {
  return statusMiB(pid, 'VmRSS');
}

/**
 * RequestTotals are Strata's own request durations by operation, from its log; a call Strata
 * left to containerd's next implementation (the walking differ) counts as `<op> passed on`,
 * and the stages a call logs count as `<op>: <stage>`.
 */
export type RequestTotals = Record<string, { count: number; totalMs: number }>;

/**
 * StrataLog reads the request lines Strata logs (one pino JSON line per request, with `op`
 * and `ms`) that were appended since the last `mark`, so a benchmark can say how much of its
 * time was spent inside Strata and on which calls.
 */
export class StrataLog {
  #offset = 0;
  /** `settleMs`: how long a line may take to reach the file (Strata holds lines for up to LINGER_MS) */
  constructor(readonly file: string, readonly settleMs = 0) {}

  async #readNew(): Promise<string> {
    if (this.settleMs > 0) await new Promise((resolve) => setTimeout(resolve, this.settleMs));
    const fh = await open(this.file, 'r');
    try {
      const { size } = await fh.stat();
      const buf = Buffer.alloc(Math.max(0, size - this.#offset));
      await fh.read(buf, 0, buf.length, this.#offset);
      // A line still being written is left for the next read.
      const complete = buf.lastIndexOf(0x0a) + 1;
      this.#offset += complete;
      return buf.toString('utf8', 0, complete);
    } finally {
      await fh.close();
    }
  }

  /** mark skips everything logged so far. */
  async mark(): Promise<void> {
    await this.#readNew();
  }

  /** totalsSinceMark adds up the request lines logged since the last mark (and marks again). */
  async totalsSinceMark(into: RequestTotals = {}): Promise<RequestTotals> {
    for (const line of (await this.#readNew()).split('\n')) {
      const passedOn = line.includes('"msg":"request passed on"');
      if (!passedOn && !line.includes('"msg":"request"')) continue;
      const { op, ms, stagesMs } = JSON.parse(line) as { op?: string; ms?: number; stagesMs?: Record<string, number> };
      if (!op || typeof ms !== 'number') continue;
      const add = (key: string, value: number) => {
        const t = (into[key] ??= { count: 0, totalMs: 0 });
        t.count++;
        t.totalMs = Math.round((t.totalMs + value) * 10) / 10;
      };
      add(passedOn ? `${op} passed on` : op, ms);
      // A Diff's stages, as `Diff: tar` and so on (they overlap, so they add up to more than the call).
      for (const [stage, stageMs] of Object.entries(stagesMs ?? {})) add(`${op}: ${stage}`, stageMs);
    }
    return into;
  }
}
