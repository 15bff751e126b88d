/**
 * Strata as a managed Docker plugin on a real dockerd 20.10. The plugin directory is assembled
 * offline by plugin/build-offline.sh (the same tree the Dockerfile builds), registered with
 * plugin/create.sh and enabled; dockerd restarts with --experimental -s strata:<version> and runs,
 * diffs, commits, saves and removes containers on it. Then plugin/push.sh puts the plugin in a
 * registry on loopback and plugin/install.sh installs it from there into a fresh daemon, which
 * runs containers on it and carries on after the plugin's process is killed.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buffer } from 'node:stream/consumers';
import { pack } from 'tar-stream';
import { lgetxattr, makedev } from '../../src/sys/libc';
import { TestDaemon, exec, importBusybox, mountsUnder } from '../helpers/dockerd';
import { eventually } from '../helpers/eventually';
import {
  LoopbackRegistry,
  PLUGIN_VERSION,
  effectiveCapabilities,
  networkOf,
  pluginId,
  pluginPid,
  pluginScript,
  propagatedMount,
  waitForPluginPid,
} from '../helpers/managed-plugin';
import { needDockerRegistry } from '../helpers/tiers';

const IMAGE = 'busybox:strata';
const LOCAL_NAME = `strata:${PLUGIN_VERSION}`;
/** PROPAGATED_MOUNT is config.json's PropagatedMount: Strata's Home is <it>/<driver name>. */
const PROPAGATED_MOUNT = '/var/lib/strata-data';
const STATE_FILE = '.strata-state/init.json';
const MUTATE = 'set -e; echo plugin > /added.txt; mkdir /newdir; echo extra:x:1234: >> /etc/group; rm /bin/vi; echo done';

// Docker's default capability set (moby oci/caps/defaults.go, v20.10).
const DOCKER_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

function lines(out: string): string[] {
  return out.split('\n').filter(Boolean).sort();
}

/** specialFilesTar is a layer needing mknod and trusted.* xattrs: two devices, a fifo, an opaque dir. */
function specialFilesTar(): Promise<Buffer> {
  const tar = pack();
  tar.entry({ name: 'dev/', type: 'directory', mode: 0o755 });
  tar.entry({ name: 'dev/ttyS0', type: 'character-device', devmajor: 4, devminor: 64, mode: 0o660 });
  tar.entry({ name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660 });
  tar.entry({ name: 'dev/fifo', type: 'fifo', mode: 0o600 });
  tar.entry({ name: 'opaque/', type: 'directory', mode: 0o755 });
  tar.entry({ name: 'opaque/.wh..wh..opq', size: 0 }, '');
  tar.entry({ name: 'opaque/kept', size: 5 }, 'kept\n');
  tar.finalize();
  return buffer(tar);
}

/** resumeCount counts how often Strata, in the daemon's plugin log, resumed from a remembered Init. */
async function resumeCount(d: TestDaemon): Promise<number> {
  return (await readFile(path.join(d.base, 'dockerd.log'), 'utf8')).split('resumed from the last Init').length - 1;
}

/** hostPath maps a path inside the plugin under its PropagatedMount to where the host sees it. */
function hostPath(d: TestDaemon, id: string, pluginPath: string): string {
  const rest = path.relative(PROPAGATED_MOUNT, pluginPath);
  assert.ok(!rest.startsWith('..'), `${pluginPath} lies under ${PROPAGATED_MOUNT}`);
  return path.join(propagatedMount(d, id), rest);
}

describe('strata as a managed plugin', { skip: needDockerRegistry() }, () => {
  const work = { dir: '', pluginDir: '' };
  const daemons: TestDaemon[] = [];
  const pluginIds: string[] = [];
  let registry: LoopbackRegistry | undefined;

  before(async () => {
    work.dir = await mkdtemp(path.join(os.tmpdir(), 'strata-managed-plugin-'));
    work.pluginDir = path.join(work.dir, 'plugin');
    await pluginScript(undefined, 'build-offline.sh', [work.pluginDir]);
  });

  after(async () => {
    // Stopping dockerd stops its plugins and unmounts <data-root>/plugins; stop() fails on
    // leftovers, which is reported once everything else is stopped too.
    const failures: unknown[] = [];
    for (const d of daemons.reverse()) await d.stop().catch((err: unknown) => failures.push(err));
    // dockerd removes a plugin's socket dir when the plugin stops; this covers a daemon that died.
    for (const id of pluginIds) await rm(path.join('/run/docker/plugins', id), { recursive: true, force: true });
    await registry?.stop();
    await rm(work.dir, { recursive: true, force: true });
    if (failures.length) throw failures[0];
  });

  describe('built locally: docker plugin create, enable, then dockerd -s strata:<version>', () => {
    let d: TestDaemon;
    let id: string;

    before(async () => {
      d = await TestDaemon.start({ driver: 'overlay2' });
      daemons.push(d);
    });

    it('plugin/create.sh registers the offline-built directory as strata:<version>, disabled, with the manifest', async () => {
      await pluginScript(d, 'create.sh', [work.pluginDir]);
      id = await pluginId(d, LOCAL_NAME);
      pluginIds.push(id);
      const [enabled, types, socket, mount] = (await d.docker(['plugin', 'inspect', '-f', '{{.Enabled}}|{{json .Config.Interface.Types}}|{{.Config.Interface.Socket}}|{{.Config.PropagatedMount}}', LOCAL_NAME])).stdout.trim().split('|');
      assert.equal(enabled, 'false');
      assert.deepEqual(JSON.parse(types!), ['docker.graphdriver/1.0']);
      assert.equal(socket, 'strata.sock');
      assert.equal(mount, PROPAGATED_MOUNT);
    });

    it('enabled, Strata runs with Docker\'s default capabilities plus CAP_SYS_ADMIN only, without a network, with the log level set', async () => {
      await d.docker(['plugin', 'set', LOCAL_NAME, 'STRATA_LOG_LEVEL=debug']);
      await d.docker(['plugin', 'enable', LOCAL_NAME]);
      const pid = await waitForPluginPid(d, id);
      assert.ok((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').includes('STRATA_LOG_LEVEL=debug'));
      assert.deepEqual(effectiveCapabilities(pid).sort(), [...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'].sort());
      assert.deepEqual(networkOf(pid), { ownNamespace: true, interfaces: ['lo'] });
    });

    it('the plugin runs the node build that plugin/make-rootfs.sh pins, not the build host\'s', async () => {
      const pinned = /^node_version=(\S+)$/m.exec(await readFile(path.join(__dirname, '..', '..', '..', 'plugin', 'make-rootfs.sh'), 'utf8'))![1];
      const pid = await waitForPluginPid(d, id);
      // The plugin's own /usr/bin/node, seen through its root; it runs here with the host's libraries.
      assert.equal((await exec(`/proc/${pid}/root/usr/bin/node`, ['--version'])).stdout.trim(), `v${pinned}`);
    });

    it('dockerd restarted with -s strata:<version> initialises Strata with a Home under the propagated mount', async () => {
      await d.restartDockerd(LOCAL_NAME);
      const info = (await d.docker(['info'])).stdout;
      assert.match(info, new RegExp(`Storage Driver: ${LOCAL_NAME}\n`));
      assert.match(info, /Native Overlay Diff: true/);
      assert.match(info, new RegExp(`Strata Version: ${PLUGIN_VERSION}`));
      const state = JSON.parse(await readFile(path.join(propagatedMount(d, id), STATE_FILE), 'utf8')) as { home: string };
      assert.equal(state.home, `${PROPAGATED_MOUNT}/${LOCAL_NAME}`, 'the remembered Init lies with the layers, for restarts without Init');
    });

    it('runs a container on it: docker inspect names the plugin, and the layers live in the propagated mount on the host', async () => {
      await importBusybox(d, IMAGE);
      assert.match((await d.docker(['run', '--network', 'none', '--name', 'mutator', IMAGE, 'sh', '-c', MUTATE])).stdout, /done\n$/);
      const [driver, upper] = (await d.docker(['inspect', '-f', '{{.GraphDriver.Name}}|{{.GraphDriver.Data.UpperDir}}', 'mutator'])).stdout.trim().split('|');
      assert.equal(driver, LOCAL_NAME);
      // GetMetadata paths are the plugin's own; only Get's Dir is translated by dockerd.
      assert.ok(upper!.startsWith(`${PROPAGATED_MOUNT}/${LOCAL_NAME}/`), upper);
      assert.equal(await readFile(path.join(hostPath(d, id, upper!), 'added.txt'), 'utf8'), 'plugin\n');
      const rootfsData = path.join(d.dataRoot, 'plugins', id, 'rootfs', PROPAGATED_MOUNT);
      assert.deepEqual(await readdir(rootfsData), [], 'nothing is written under the plugin rootfs');
    });

    it('a layer with device nodes, a fifo and an opaque directory applies with the privileges the manifest grants', async () => {
      await d.docker(['import', '-', 'strata/devices:1'], { input: await specialFilesTar() });
      const upper = (await d.docker(['image', 'inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', 'strata/devices:1'])).stdout.trim();
      const diff = hostPath(d, id, upper);
      const kinds = await Promise.all(['dev/ttyS0', 'dev/loop0', 'dev/fifo'].map(async (f) => {
        const st = await lstat(path.join(diff, f));
        return [st.isCharacterDevice(), st.isBlockDevice(), st.isFIFO(), st.rdev];
      }));
      assert.deepEqual(kinds, [[true, false, false, Number(makedev(4, 64))], [false, true, false, Number(makedev(7, 0))], [false, false, true, 0]]);
      // trusted.* xattrs need CAP_SYS_ADMIN: overlay2 marks the directory opaque this way.
      assert.equal(lgetxattr(path.join(diff, 'opaque'), 'trusted.overlay.opaque')?.toString(), 'y');
      await d.docker(['rmi', 'strata/devices:1']);
    });

    it('docker diff reports exactly the container\'s changes', async () => {
      assert.deepEqual(lines((await d.docker(['diff', 'mutator'])).stdout), ['A /added.txt', 'A /newdir', 'C /bin', 'C /etc', 'C /etc/group', 'D /bin/vi']);
    });

    it('docker commit, save, rmi and load round-trip the image, which runs with the changes', async () => {
      await d.docker(['commit', 'mutator', 'strata/plugin-committed:1']);
      const before = (await d.docker(['image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', 'strata/plugin-committed:1'])).stdout;
      const archive = path.join(work.dir, 'committed.tar');
      await d.docker(['save', '-o', archive, 'strata/plugin-committed:1']);
      await d.docker(['rm', 'mutator']);
      await d.docker(['rmi', 'strata/plugin-committed:1']);
      assert.match((await d.docker(['load', '-i', archive])).stdout, /Loaded image: strata\/plugin-committed:1/);
      assert.equal((await d.docker(['image', 'inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', 'strata/plugin-committed:1'])).stdout, before);
      const out = (await d.docker(['run', '--rm', '--network', 'none', 'strata/plugin-committed:1', 'sh', '-c', 'cat /added.txt; tail -n1 /etc/group; ls /bin/vi 2>&1 || true'])).stdout;
      assert.match(out, /^plugin\nextra:x:1234:\n.*\/bin\/vi: No such file or directory/s);
    });

    it('a running container is a mount the host sees; docker rm -f and rmi leave no mount and no layer behind', async () => {
      const home = path.join(propagatedMount(d, id), LOCAL_NAME);
      const imageLayers = await readdir(home);
      await d.docker(['run', '-d', '--network', 'none', '--name', 'runner', 'strata/plugin-committed:1', 'sleep', '300']);
      const merged = (await d.docker(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', 'runner'])).stdout.trim();
      assert.ok(mountsUnder(propagatedMount(d, id)).includes(hostPath(d, id, merged)), 'the overlay mount propagated to the host');
      await d.docker(['rm', '-f', 'runner']);
      await d.docker(['rmi', 'strata/plugin-committed:1']);
      assert.deepEqual(mountsUnder(propagatedMount(d, id)), []);
      assert.equal((await readdir(home)).length, imageLayers.length - 1, 'only the committed layer went');
    });

    it('back on overlay2, docker plugin disable and rm remove the plugin with its data and leave nothing mounted', async () => {
      await d.restartDockerd('overlay2');
      await d.docker(['plugin', 'disable', LOCAL_NAME]);
      await d.docker(['plugin', 'rm', LOCAL_NAME]);
      assert.equal((await d.docker(['plugin', 'ls', '-q'])).stdout, '');
      assert.deepEqual(await readdir(path.join(d.dataRoot, 'plugins')).then((names) => names.filter((n) => n.startsWith(id))), []);
      assert.deepEqual(mountsUnder(path.join(d.dataRoot, 'plugins')), []);
    });
  });

  describe('from a registry on loopback: docker plugin push, then install into a fresh daemon', () => {
    let remoteName: string;
    let d: TestDaemon;
    let id: string;

    before(async () => {
      registry = await LoopbackRegistry.start(path.join(work.dir, 'registry'));
      remoteName = `${registry.address}/strata:${PLUGIN_VERSION}`;
    });

    // NOTE: a daemon cannot create a second plugin from the same contents ("content … already
    // exists"), so this pushes from the first daemon once strata:<version> is removed from it.
    it('plugin/push.sh pushes the plugin to the registry', async () => {
      await pluginScript(daemons[0], 'push.sh', [work.pluginDir, `${registry!.address}/strata`]);
      assert.deepEqual(await registry!.repositories(), ['strata']);
    });

    it('plugin/install.sh installs and enables it in a fresh daemon, which restarts with -s <registry>/strata:<version>', async () => {
      d = await TestDaemon.start({ driver: 'overlay2' });
      daemons.push(d);
      assert.match((await pluginScript(d, 'install.sh', [remoteName])).stdout, new RegExp(`"storage-driver": "${remoteName}"`));
      id = await pluginId(d, remoteName);
      pluginIds.push(id);
      assert.equal((await d.docker(['plugin', 'inspect', '-f', '{{.Enabled}}', remoteName])).stdout.trim(), 'true');
      await d.restartDockerd(remoteName);
      assert.match((await d.docker(['info'])).stdout, new RegExp(`Storage Driver: ${remoteName}\n`));
    });

    it('runs containers on the installed plugin, whose Home has "/" and ":" in its name', async () => {
      await importBusybox(d, IMAGE);
      const out = (await d.docker(['run', '--name', 'first', '--network', 'none', IMAGE, 'sh', '-c', 'echo hi > /hi; cat /hi; grep -c " / overlay " /proc/mounts'])).stdout;
      assert.equal(out, 'hi\n1\n');
      const [driver, upper] = (await d.docker(['inspect', '-f', '{{.GraphDriver.Name}}|{{.GraphDriver.Data.UpperDir}}', 'first'])).stdout.trim().split('|');
      assert.equal(driver, remoteName);
      assert.equal(await readFile(path.join(hostPath(d, id, upper!), 'hi'), 'utf8'), 'hi\n');
      assert.deepEqual(lines((await d.docker(['diff', 'first'])).stdout), ['A /hi']);
      await d.docker(['rm', 'first']);
    });

    it('after kill -9 of the plugin, dockerd restarts it and Strata resumes without Init: running and new containers keep working', async () => {
      await d.docker(['run', '-d', '--network', 'none', '--name', 'survivor', IMAGE, 'sh', '-c', 'echo before > /state; sleep 300']);
      const merged = hostPath(d, id, (await d.docker(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}}', 'survivor'])).stdout.trim());
      const resumedBefore = await resumeCount(d);
      const killed = (await pluginPid(d, id))!;
      process.kill(killed, 'SIGKILL');
      await waitForPluginPid(d, id, killed);

      assert.ok(mountsUnder(propagatedMount(d, id)).includes(merged), 'the running container kept its root');
      assert.equal((await d.docker(['exec', 'survivor', 'cat', '/state'])).stdout, 'before\n');
      assert.deepEqual(lines((await d.docker(['diff', 'survivor'])).stdout), ['A /state']);
      assert.equal((await d.docker(['run', '--rm', '--network', 'none', IMAGE, 'echo', 'after'])).stdout, 'after\n');
      assert.equal(await resumeCount(d), resumedBefore + 1, 'the new process took its Home from the state file');
      // Stopping it is a Put on the new process, which knows the mount from the kernel's table;
      // the removed layer's unmount happens after Remove has answered.
      await d.docker(['rm', '-f', 'survivor']);
      await eventually(() => assert.deepEqual(mountsUnder(propagatedMount(d, id)), []), 30_000);
    });

    it('docker plugin upgrade, done off the plugin as the README says, keeps the plugin\'s name, id and layers', async () => {
      await d.docker(['create', '--network', 'none', '--name', 'kept', IMAGE, 'sh', '-c', 'echo kept >> /kept; cat /kept']);
      await d.restartDockerd('overlay2');
      await d.docker(['plugin', 'disable', remoteName]);
      await d.docker(['plugin', 'upgrade', '--grant-all-permissions', remoteName, remoteName]);
      await d.docker(['plugin', 'enable', remoteName]);
      assert.equal(await pluginId(d, remoteName), id);
      await d.restartDockerd(remoteName);
      assert.equal((await d.docker(['start', '-a', 'kept'])).stdout, 'kept\n');
      await d.docker(['rm', 'kept']);
    });
  });
});
