/**
 * Test tiers. Unit tests always run. The root tier (real overlay mounts, real files with any
 * owner) and the docker tier (a real dockerd) need root and tools; when they are missing a
 * person's `npm test` skips them loudly, while a strict run (CI=true or STRATA_TEST_STRICT=1,
 * as .ci/run does) fails instead of skipping.
 */
import { existsSync, readFileSync } from 'node:fs';

export const STRICT = process.env.CI === 'true' || process.env.STRATA_TEST_STRICT === '1';

function gate(missing: string | undefined, how: string): string | false {
  if (!missing) return false;
  const reason = `${missing} (${how})`;
  if (STRICT) throw new Error(`required test tier cannot run: ${reason}`);
  return reason;
}

/** needRoot returns false when root-tier tests can run, else the reason they are skipped. */
export function needRoot(): string | false {
  let missing: string | undefined;
  if (process.getuid?.() !== 0) missing = 'not running as root';
  else if (!existsSync('/sys/module/overlay') && !/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))) missing = 'the kernel has no overlay filesystem';
  return gate(missing, 'run `sudo npm test` on a host with overlayfs');
}

export const DOCKERD = '/usr/sbin/dockerd';
export const DOCKER = '/usr/bin/docker';
export const BUSYBOX = '/bin/busybox';

/** needDocker returns false when the docker tier can run, else the reason it is skipped. */
export function needDocker(): string | false {
  const root = needRoot();
  if (root) return root;
  let missing: string | undefined;
  if (!existsSync(DOCKERD) || !existsSync(DOCKER)) missing = `no dockerd at ${DOCKERD}`;
  else if (!existsSync(BUSYBOX)) missing = `no static busybox at ${BUSYBOX}`;
  return gate(missing, 'run `sudo bash test/setup.sh` first, which installs docker.io and busybox-static');
}

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

/** needDockerRegistry returns false when the managed-plugin tests can run, else the reason they are skipped. */
export function needDockerRegistry(): string | false {
  const docker = needDocker();
  if (docker) return docker;
  return gate(existsSync(DOCKER_REGISTRY) ? undefined : `no docker-registry at ${DOCKER_REGISTRY}`, 'run `sudo bash test/setup.sh` first, which installs docker-registry');
}
