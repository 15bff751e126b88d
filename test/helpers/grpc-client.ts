/**
 * A promise-shaped gRPC client for tests, of one of the services in src/grpc/proto: on a Strata
 * socket, or on containerd's socket with a namespace (and a lease, which keeps what the calls
 * create from containerd's garbage collector) in the call metadata, as containerd's clients send them.
 */
import { Metadata, credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { grpcService } from '../../src/grpc/services';

/** A gRPC status as a test sees it: the code and the message. */
export interface CallError {
  code: number;
  details: string;
}

export type Message = Record<string, unknown>;

export class GrpcClient {
  readonly #client: Client & Record<string, (...args: unknown[]) => unknown>;
  readonly #metadata = new Metadata();

  constructor(socket: string, service: Parameters<typeof grpcService>[0], namespace?: string, lease?: string) {
    const Service = grpcService(service);
    this.#client = new Service(`unix:${socket}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 }) as unknown as Client & Record<string, (...args: unknown[]) => unknown>;
    if (namespace) this.#metadata.set('containerd-namespace', namespace);
    if (lease) this.#metadata.set('containerd-lease', lease);
  }

  /** call makes a unary call; it resolves with the reply or rejects with a CallError. */
  call(method: string, request: Message, timeoutMs = 30_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.#client[method]!(request, this.#metadata, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, reply: Message) => {
        if (err) reject({ code: err.code, details: err.details } satisfies CallError);
        else resolve(reply);
      });
    });
  }

  /** stream starts a server-streaming call. */
  stream(method: string, request: Message): NodeJS.EventEmitter {
    return this.#client[method]!(request, this.#metadata) as NodeJS.EventEmitter;
  }

  /** failure returns the CallError of a call that must fail (and throws if it succeeded). */
  async failure(method: string, request: Message): Promise<CallError> {
    try {
      await this.call(method, request);
    } catch (err) {
      return err as CallError;
    }
    throw new Error(`${method} ${JSON.stringify(request).slice(0, 200)} succeeded but should have failed`);
  }

  close(): void {
    this.#client.close();
  }
}
