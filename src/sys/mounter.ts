/** Performing mounts: the act half of "plan, then act" (the plan is store/mount-plan.ts). */
import type { Exec } from './exec';

/** MountSpec is a fully planned mount; `cwd` is set when `options` uses relative paths. */
export interface MountSpec {
  type: string;
  source: string;
  target: string;
  options: string;
  cwd?: string;
}

/** Mounter performs mounts and unmounts. */
export interface Mounter {
  mount(spec: MountSpec): Promise<void>;
  /** unmount detaches `target`; `lazy` uses MNT_DETACH so busy mounts go once unused. */
  unmount(target: string, options?: { lazy?: boolean }): Promise<void>;
}

/** KernelMounter runs util-linux mount/umount as child processes. */
export class KernelMounter implements Mounter {
  readonly #exec: Exec;
  constructor(exec: Exec) {
    this.#exec = exec;
  }

  async mount(spec: MountSpec): Promise<void> {
    await this.#exec(['mount', '-n', '-t', spec.type, '-o', spec.options, spec.source, spec.target], {
      cwd: spec.cwd,
      timeoutMs: 30_000,
      discardStdout: true,
    });
  }

  async unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
    await this.#exec(['umount', '-n', ...(options.lazy ? ['-l'] : []), target], { timeoutMs: 30_000, discardStdout: true });
  }
}
