/**
 * The size of the layer a commit or build wrote into containerd's content store: the blob's
 * bytes and the bytes of the tar it unzips to, found by the image's top diff id (the blob's
 * `containerd.io/uncompressed` label, which `ctr content ls` filters on), read through containerd's
 * content API.
 */
import { createGunzip } from 'node:zlib';
import { GrpcClient } from '../test/helpers/grpc-client';
import type { BenchSide } from './containerd-sides';

/** LayerBlob is one layer in the content store: compressed and uncompressed sizes. */
export interface LayerBlob {
  digest: string;
  bytes: number;
  tarBytes: number;
}

/** topLayerBlob finds the blob of `tag`'s top layer on a containerd-store side and unzips it (untimed) to count its tar. */
export async function topLayerBlob(side: BenchSide, tag: string): Promise<LayerBlob> {
  if (!side.containerd || !side.namespace) throw new Error(`${side.name} has no content store`);
  const layers = JSON.parse((await side.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', tag])).stdout) as string[];
  const diffId = layers.at(-1)!;
  const listed = await side.containerd.ctr(['content', 'ls', '-q', `labels."containerd.io/uncompressed"==${diffId}`], { namespace: side.namespace });
  const digest = listed.stdout.split('\n').find(Boolean);
  if (!digest) throw new Error(`${side.name}: no blob in the content store unzips to ${diffId}`);
  const content = new GrpcClient(side.containerd.address, 'content', side.namespace);
  try {
    const { info } = (await content.call('Info', { digest })) as { info: { size: string } };
    return { digest, bytes: Number(info.size), tarBytes: await unzippedBytes(content.stream('Read', { digest })) };
  } finally {
    content.close();
  }
}

/** unzippedBytes counts what a gzip blob (one member or many) unzips to. */
function unzippedBytes(stream: NodeJS.EventEmitter): Promise<number> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip();
    let n = 0;
    gunzip.on('data', (c: Buffer) => (n += c.length));
    gunzip.on('end', () => resolve(n));
    gunzip.on('error', reject);
    stream.on('data', (m: { data: Buffer }) => gunzip.write(m.data));
    stream.on('error', reject);
    stream.on('end', () => gunzip.end());
  });
}
