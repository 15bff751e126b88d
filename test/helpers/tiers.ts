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

// ---------- the containerd route: Docker 26 and containerd 1.7 from Debian 13 ----------
// test/setup-trixie.sh unpacks them (not installed) into TRIXIE_PREFIX. Debian 13's runc needs a
// newer glibc, so containerd runs Debian 12's RUNC.

export const TRIXIE_PREFIX = process.env.STRATA_TRIXIE_PREFIX ?? '/opt/strata-test/trixie';
/** TRIXIE_BIN goes first in PATH for containerd, so that it runs its own 1.7 shim. */
export const TRIXIE_BIN = `${TRIXIE_PREFIX}/usr/bin`;
export const TRIXIE_SBIN = `${TRIXIE_PREFIX}/usr/sbin`;
export const CONTAINERD17 = `${TRIXIE_BIN}/containerd`;
export const CTR17 = `${TRIXIE_BIN}/ctr`;
export const CONTAINERD17_SHIM = `${TRIXIE_BIN}/containerd-shim-runc-v2`;
export const DOCKERD26 = `${TRIXIE_SBIN}/dockerd`;
export const DOCKER26 = `${TRIXIE_BIN}/docker`;
/** BUILDX26 is the docker CLI plugin that makes `docker build` use BuildKit on Docker 26. */
export const BUILDX26 = `${TRIXIE_PREFIX}/usr/libexec/docker/cli-plugins/docker-buildx`;
export const RUNC = '/usr/sbin/runc';

/** trixiePath is PATH with the prefix's bin dirs first (its 1.7 shim), then `base` and the system's (runc is in /usr/sbin). */
export function trixiePath(base = process.env.PATH ?? ''): string {
  return [TRIXIE_BIN, TRIXIE_SBIN, ...base.split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].filter((d, i, all) => all.indexOf(d) === i).join(':');
}

const SETUP_TRIXIE = 'run `sudo bash test/setup.sh` (or `sudo bash test/setup-trixie.sh`) first, which unpacks Docker 26 and containerd 1.7 from Debian 13 into ' + TRIXIE_PREFIX;

function firstMissing(files: readonly string[]): string | undefined {
  const f = files.find((x) => !existsSync(x));
  return f ? `no ${f}` : undefined;
}

/** needContainerd returns false when tests can run an isolated containerd 1.7 (with runc and busybox), else the reason they are skipped. */
export function needContainerd(): string | false {
  const root = needRoot();
  if (root) return root;
  let missing = firstMissing([CONTAINERD17, CTR17, CONTAINERD17_SHIM]);
  if (missing) return gate(missing, SETUP_TRIXIE);
  missing = firstMissing([RUNC, BUSYBOX]);
  return gate(missing, 'run `sudo bash test/setup.sh` first, which installs runc and busybox-static');
}

/** needDocker26 returns false when tests can run dockerd 26 (and BuildKit through buildx) on an isolated containerd 1.7, else the reason they are skipped. */
export function needDocker26(): string | false {
  const containerd = needContainerd();
  if (containerd) return containerd;
  return gate(firstMissing([DOCKERD26, DOCKER26, BUILDX26]), SETUP_TRIXIE);
}
