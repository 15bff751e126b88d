/**
 * A small client of Kubernetes' CRI API (runtime.v1 RuntimeService and ImageService) for tests,
 * over containerd's gRPC socket, from the .proto subset in cri-proto/ (so there is no crictl to
 * install). containerd's CRI plugin works in its own `k8s.io` namespace: no metadata is needed.
 * Unary calls resolve with the reply or reject with a CriError carrying the gRPC status.
 */
import path from 'node:path';
import { credentials, loadPackageDefinition, type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** CRI_PROTO_DIR holds api.proto; it stays in the source tree (dist/test/helpers -> test/helpers). */
export const CRI_PROTO_DIR = path.join(__dirname, '..', '..', '..', 'test', 'helpers', 'cri-proto');

type Message = Record<string, unknown>;
type Methods = Client & Record<string, (request: Message, options: { deadline: number }, cb: (err: ServiceError | null, reply: Message) => void) => unknown>;

/** CriError is a failed CRI call: the method, the gRPC code and the status message. */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: number, readonly details: string) {
    super(`CRI ${method} failed: code ${code}: ${details}`);
  }
}

function criServices(): { runtime: ServiceClientConstructor; image: ServiceClientConstructor } {
  const definition = loadSync('api.proto', { includeDirs: [CRI_PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, arrays: true, objects: true });
  const v1 = ((loadPackageDefinition(definition) as GrpcObject).runtime as GrpcObject).v1 as GrpcObject;
  return { runtime: v1.RuntimeService as ServiceClientConstructor, image: v1.ImageService as ServiceClientConstructor };
}

/** CriClient talks to the CRI plugin of the containerd whose gRPC socket is `socket`. */
export class CriClient {
  readonly #runtime: Methods;
  readonly #image: Methods;

  constructor(socket: string) {
    const { runtime, image } = criServices();
    this.#runtime = new runtime(`unix:${socket}`, credentials.createInsecure()) as unknown as Methods;
    this.#image = new image(`unix:${socket}`, credentials.createInsecure()) as unknown as Methods;
  }

  #call<T = Message>(client: Methods, method: string, request: Message, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      client[method]!(request, { deadline: Date.now() + timeoutMs }, (err, reply) => {
        if (err) reject(new CriError(method, err.code, err.details));
        else resolve(reply as T);
      });
    });
  }

  /** runtime calls a RuntimeService method (Version, RunPodSandbox, CreateContainer, ExecSync, ...). */
  runtime<T = Message>(method: string, request: Message = {}, timeoutMs = 120_000): Promise<T> {
    return this.#call<T>(this.#runtime, method, request, timeoutMs);
  }

  /** image calls an ImageService method (PullImage, ImageStatus, ListImages, RemoveImage, ImageFsInfo). */
  image<T = Message>(method: string, request: Message = {}, timeoutMs = 120_000): Promise<T> {
    return this.#call<T>(this.#image, method, request, timeoutMs);
  }

  /** execSync runs `cmd` in a container and returns its output as text and its exit code. */
  async execSync(containerId: string, cmd: readonly string[], timeoutSeconds = 30): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const r = await this.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: containerId, cmd, timeout: timeoutSeconds }, (timeoutSeconds + 30) * 1000);
    return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exit_code };
  }

  close(): void {
    this.#runtime.close();
    this.#image.close();
  }
}
