import { RingtrainError, StateMachine, isRingtrainError, type Logger } from '@ringtrain/core';
import { decodeFrame, encodeFramePieces, type Direction, type EncodedFrame, type MsgOf, type ReplyDirection } from '@ringtrain/protocol';
import type { RawData, WebSocket } from 'ws';
import { ABNORMAL_CLOSURE, NORMAL_CLOSURE, closeCodeFor, closeReason, errorFromRemoteClose, errorFromWs, truncateUtf8 } from './close-codes';
import { installFrameReader, type FrameReader, type ReadMode } from './frame-reader';
import { InboundBudget } from './inbound-budget';
import { messageWriter, type MessageWriter, type SendFraming } from './message-writer';
import type { WsConfig } from './options';

export type ConnectionState = 'open' | 'closing' | 'closed';

export interface ConnectionClosed {
  /** WebSocket close code; 1006 when the connection dropped or was terminated. */
  code: number;
  reason: string;
  /** Why it ended; null only when this side closed it normally. */
  error: RingtrainError | null;
  /** Which side ended it. */
  by: 'local' | 'remote';
}

export interface ConnectionStats {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Highest `ws.bufferedAmount` seen right after handing a frame to the socket. */
  peakBufferedBytes: number;
  /** Bytes of received frames their consumer has not taken yet (bounded by maxQueuedBytes). */
  queuedBytes: number;
  /** Highest queuedBytes so far: at most maxQueuedBytes plus about one frame. */
  peakQueuedBytes: number;
  /** How often reading stopped because queuedBytes reached maxQueuedBytes. */
  readPauses: number;
  /** Frames whose payload the socket read straight into the frame's buffer (frame-reader.ts). */
  framesReadDirectly: number;
  /** Frames read into a buffer a consumer had handed back (PeerMessage.recycle). */
  framesInReusedBuffers: number;
}

/**
 * Comes with each message to a handler. A handler that keeps the message past its return (in a
 * queue, a mailbox) calls hold(), so that the frame's bytes still count against maxQueuedBytes,
 * and calls the release it gets once the message is consumed. Otherwise the bytes are released
 * when the handler returns.
 */
export interface Delivery {
  /** Size of the frame the message was decoded from. */
  readonly bytes: number;
  /** Keeps the bytes counted; the returned function releases them (calling it twice is harmless). */
  hold(): () => void;
  /** Hands the frame's memory back for reuse (PeerMessage.recycle); absent where it cannot be reused. */
  readonly recycle?: () => void;
}

export type MessageHandler<D extends Direction> = (msg: MsgOf<D>, delivery: Delivery) => void;

/** A received message with the release of its bytes. */
interface Arrived<D extends Direction> {
  msg: MsgOf<D>;
  bytes: number;
  release: () => void;
  recycle?: () => void;
}

export interface FramedConnectionOptions<D extends Direction> {
  /** Direction of the frames this end receives; it sends frames of the reply direction. */
  direction: D;
  config: WsConfig;
  /** Names the far end in logs and errors, e.g. `rank 2` or `127.0.0.1:53412`. */
  label: string;
  logger: Logger;
  /** Server or client end, and the client's mask key: how frames are written (message-writer.ts). */
  framing: SendFraming;
}

/** A frame waiting to be written or being written; settled once, when the socket is done with it. */
interface Outgoing {
  frame: EncodedFrame;
  resolve: (bytes: number) => void;
  reject: (e: Error) => void;
}

const FLUSH_POLL_MS = 10;

/**
 * One WebSocket carrying ringtrain frames in both directions, used by both planes.
 *
 * - Incoming binary frames are decoded and validated for `direction`; a text frame, a frame that
 *   fails validation, an oversized frame or a throwing handler closes this connection with a
 *   4xxx code and a reason starting with the error code. Nothing escapes an event handler.
 * - Each end pings every heartbeatIntervalMs; a ping unanswered for heartbeatTimeoutMs
 *   terminates the connection with PEER_DEAD.
 * - send() is FIFO and waits while more than sendHighWaterBytes are buffered. A frame goes to
 *   the socket as its pieces (header, padding, the tensors' own bytes), not copied into one
 *   buffer; send() resolves once the socket has written them.
 * - `closed` resolves (never rejects) once, with the code, reason and error.
 */
export class FramedConnection<D extends Direction> {
  readonly direction: D;
  /** Names the far end in logs and errors; owners may refine it (e.g. once a hello names the rank). */
  label: string;
  readonly closed: Promise<ConnectionClosed>;

  private readonly ws: WebSocket;
  private readonly config: WsConfig;
  private readonly logger: Logger;
  private readonly lifecycle = new StateMachine<ConnectionState>('connection', 'open', {
    open: ['closing', 'closed'],
    closing: ['closed'],
    closed: [],
  });
  private handler: MessageHandler<D> | null = null;
  /** Messages that arrived before the handler was attached (and while it catches up on them). */
  private readonly backlog: Arrived<D>[] = [];
  private draining = false;
  private readonly counters = { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0, peakBufferedBytes: 0 };
  private readonly inbound: InboundBudget;
  /** Reading stopped by pause() (as opposed to by the budget). */
  private pausedByOwner = false;

  private readonly writer: MessageWriter;
  /** How whole binary frames are read (frame-reader.ts): straight into their buffers, copied from Node's reads, or by ws. */
  readonly readMode: ReadMode;
  private readonly reader: FrameReader | null;
  private readonly sendQueue: Outgoing[] = [];
  /** Handed to the socket, not yet written out: they still reference the senders' tensors. */
  private readonly writing = new Set<Outgoing>();
  private pumping = false;
  private flushWaiters: Array<() => void> = [];

  private heartbeat: NodeJS.Timeout | null = null;
  private pongDeadline: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  /** Warns once when reading has stayed stopped for the budget as long as a silent peer may live. */
  private stallTimer: NodeJS.Timeout | null = null;

  private failure: RingtrainError | null = null;
  private endedBy: 'local' | 'remote' | null = null;
  private outcome: ConnectionClosed | null = null;
  private resolveClosed!: (c: ConnectionClosed) => void;

  /** `ws` must be open. The connection takes over all of its events. */
  constructor(ws: WebSocket, opts: FramedConnectionOptions<D>) {
    this.ws = ws;
    this.direction = opts.direction;
    this.config = opts.config;
    this.label = opts.label;
    this.logger = opts.logger;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.writer = messageWriter(ws, opts.framing);
    this.inbound = new InboundBudget(this.config.maxQueuedBytes, (full) => this.guard(() => this.onBudgetFull(full)));

    ws.binaryType = 'nodebuffer';
    // Bulk frames are read by our own reader into one buffer each; ws parses the rest.
    const { mode, reader } = installFrameReader(ws, {
      expectMasked: opts.framing === 'server',
      maxPayload: this.config.maxFrameBytes,
      onBinary: (data, recycle) => this.guard(() => this.onFrame(data, true, recycle)),
    });
    this.readMode = mode;
    this.reader = reader;
    ws.on('message', (data, isBinary) => this.guard(() => this.onFrame(data, isBinary)));
    ws.on('pong', () => this.noteAlive());
    ws.on('ping', () => this.noteAlive());
    ws.on('error', (err) => this.guard(() => this.onWsError(err)));
    ws.on('close', (code, reason) => this.guard(() => this.onClose(code, reason.toString('utf8'))));

    this.heartbeat = setInterval(() => this.guard(() => this.beat()), this.config.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  get state(): ConnectionState {
    return this.lifecycle.state;
  }

  /** How the connection ended; null while it has not. */
  get closeInfo(): ConnectionClosed | null {
    return this.outcome;
  }

  /** Bytes handed to the socket and not yet written out. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  stats(): ConnectionStats {
    return {
      ...this.counters,
      queuedBytes: this.inbound.queuedBytes,
      peakQueuedBytes: this.inbound.peakQueuedBytes,
      readPauses: this.inbound.readPauses,
      framesReadDirectly: this.reader?.directMessages ?? 0,
      framesInReusedBuffers: this.reader?.reusedBuffers ?? 0,
    };
  }

  /**
   * Sets the one consumer of incoming messages. Messages that arrived earlier are delivered
   * first (on a microtask). If the handler throws, the connection closes with the error's code
   * (a RingtrainError) or HANDLER_FAILED. See Delivery for a handler that queues messages.
   */
  onMessage(handler: MessageHandler<D>): void {
    if (this.handler) {
      throw new RingtrainError('BAD_STATE', `connection to ${this.label} already has a message handler`, {
        hint: 'attach one handler (or one messages() iterator) per connection',
      });
    }
    this.handler = handler;
    if (this.backlog.length > 0) {
      this.draining = true;
      queueMicrotask(() => this.drainBacklog());
    }
  }

  /**
   * Incoming messages as an async iterator (uses the one message handler). It ends when the
   * connection closes, however it closes; `await closed` says why.
   */
  messages(): AsyncIterableIterator<MsgOf<D>> {
    const queue: Array<{ msg: MsgOf<D>; release: () => void }> = [];
    let wake: (() => void) | null = null;
    let ended = false;
    let abandoned = false;
    this.onMessage((msg, delivery) => {
      if (abandoned) return;
      if (queue.length >= this.config.maxQueuedMessages) throw this.queueFull();
      queue.push({ msg, release: delivery.hold() }); // counted until next() hands it out
      wake?.();
    });
    void this.closed.then(() => {
      ended = true;
      wake?.();
    });
    const iterator: AsyncIterableIterator<MsgOf<D>> = {
      next: async () => {
        for (;;) {
          if (queue.length > 0) {
            const { msg, release } = queue.shift()!;
            release();
            return { value: msg, done: false };
          }
          if (ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
      },
      return: async () => {
        abandoned = ended = true;
        for (const { release } of queue.splice(0)) release();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Validates and frames `msg` now and sends it after every earlier send. The frame references
   * the message's tensor bytes instead of copying them, so the caller must not change those bytes
   * until the promise settles. Resolves with the frame's size once the socket has written it out
   * (handed to the kernel; the peer may not have read it yet), after waiting while more than the
   * high-water mark was buffered. Rejects with the close error if the connection ends first,
   * BAD_MESSAGE for an invalid message, FRAME_TOO_LARGE for a frame over maxFrameBytes.
   */
  send(msg: MsgOf<ReplyDirection<D>>): Promise<number> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    let frame: EncodedFrame;
    try {
      frame = encodeFramePieces(msg);
    } catch (e) {
      return Promise.reject(e);
    }
    if (frame.byteLength > this.config.maxFrameBytes) {
      return Promise.reject(
        new RingtrainError('FRAME_TOO_LARGE', `a ${msg.t} frame of ${frame.byteLength} bytes exceeds maxFrameBytes ${this.config.maxFrameBytes}`, {
          hint: 'send smaller messages (split the tensors) or raise maxFrameBytes on both ends',
          details: { peer: this.label, bytes: frame.byteLength, maxFrameBytes: this.config.maxFrameBytes },
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.sendQueue.push({ frame, resolve, reject });
      void this.pump();
    });
  }

  /** Closes normally (default 1000). Resolves when the close completes (or closeTimeoutMs passes). */
  close(code = NORMAL_CLOSURE, reason = ''): Promise<ConnectionClosed> {
    if (this.state === 'open') {
      this.ws.close(code, truncateUtf8(reason, 123)); // throws for a code WebSocket does not allow
      this.endedBy ??= 'local';
      this.lifecycle.to('closing');
      this.applyReading(); // read the peer's close frame even if frames still wait
      this.armCloseTimer();
    }
    return this.closed;
  }

  /** Closes with a coded error: close code from CLOSE_CODES, reason `CODE: message`. */
  fail(error: RingtrainError): Promise<ConnectionClosed> {
    if (this.state !== 'open') return this.closed;
    this.failure = error;
    this.logger.warn(`closing connection to ${this.label}: ${error.code}: ${error.message}`, { code: error.code, details: error.details });
    return this.close(closeCodeFor(error.code), closeReason(error));
  }

  /** Drops the connection at once, without a close handshake. */
  terminate(error: RingtrainError): void {
    if (this.state === 'closed') return;
    this.failure ??= error;
    this.endedBy ??= 'local';
    if (this.state === 'open') this.lifecycle.to('closing');
    this.logger.warn(`dropping connection to ${this.label}: ${error.code}: ${error.message}`, { code: error.code });
    this.ws.terminate();
  }

  /** Stops reading from the socket (heartbeats then go unanswered too). */
  pause(): void {
    this.pausedByOwner = true;
    this.applyReading();
  }

  /** Reads again, unless received frames still fill maxQueuedBytes. */
  resume(): void {
    this.pausedByOwner = false;
    this.applyReading();
  }

  // ---- incoming ----

  private onFrame(data: RawData, isBinary: boolean, recycle?: () => void): void {
    if (this.state !== 'open') return;
    this.noteAlive();
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    this.counters.framesReceived++;
    this.counters.bytesReceived += buf.byteLength;
    if (!isBinary) {
      throw new RingtrainError('BAD_FRAME', `${this.label} sent a text frame; ringtrain frames are binary msgpack`, {
        details: { peer: this.label, bytes: buf.byteLength },
      });
    }
    // Counted from arrival: the decoded message (whose tensors may share the buffer) is as big.
    const release = this.inbound.hold(buf.byteLength);
    let msg: MsgOf<D>;
    try {
      msg = decodeFrame(buf, this.direction);
    } catch (e) {
      release();
      throw e;
    }
    this.dispatch({ msg, bytes: buf.byteLength, release, recycle });
  }

  private dispatch(arrived: Arrived<D>): void {
    if (this.handler && !this.draining) {
      this.handOver(this.handler, arrived);
      return;
    }
    if (this.backlog.length >= this.config.maxQueuedMessages) {
      arrived.release();
      throw this.queueFull();
    }
    this.backlog.push(arrived);
  }

  /** Runs the handler on one message; its bytes are released after, unless the handler held them. */
  private handOver(handler: MessageHandler<D>, { msg, bytes, release, recycle }: Arrived<D>): void {
    let held = false;
    try {
      handler(msg, {
        bytes,
        recycle,
        hold: () => {
          held = true;
          return release;
        },
      });
    } finally {
      if (!held) release();
    }
  }

  private drainBacklog(): void {
    const handler = this.handler!;
    while (this.backlog.length > 0 && this.state === 'open') {
      const arrived = this.backlog.shift()!;
      this.guard(() => this.handOver(handler, arrived));
    }
    for (const { release } of this.backlog.splice(0)) release();
    this.draining = false;
  }

  // ---- reading, paused for the owner or for maxQueuedBytes ----

  /**
   * Pausing rather than closing: a peer whose frames wait for a busy consumer is not misbehaving,
   * and with the socket unread the kernel's receive window closes and the sender's send() waits
   * on its high-water mark, so memory stays bounded without losing the link. (Closing would be
   * the choice only where the socket cannot be paused, which `ws` always allows.)
   */
  private onBudgetFull(full: boolean): void {
    if (this.state === 'closed') return;
    if (full) {
      // While we do not read, the peer's pongs wait in the kernel: our own liveness check would
      // declare a peer dead that is merely ahead of us. The peer still sees our pings, and a
      // peer that is gone fails our writes. A consumer stalled that long is worth a warning.
      this.noteAlive();
      this.stallTimer = setTimeout(() => this.guard(() => this.warnStalled()), this.config.heartbeatTimeoutMs);
      this.stallTimer.unref();
    } else if (this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
    this.applyReading();
  }

  private applyReading(): void {
    if (this.state === 'open' && (this.pausedByOwner || this.inbound.isFull)) this.ws.pause();
    else this.ws.resume();
  }

  private warnStalled(): void {
    this.stallTimer = null;
    if (this.state !== 'open' || !this.inbound.isFull) return;
    this.logger.warn(
      `stopped reading from ${this.label} ${this.config.heartbeatTimeoutMs} ms ago: its ${this.inbound.queuedBytes} received bytes still wait for their consumer (maxQueuedBytes ${this.config.maxQueuedBytes})`,
      { code: 'QUEUE_BYTES_FULL', peer: this.label, queuedBytes: this.inbound.queuedBytes, maxQueuedBytes: this.config.maxQueuedBytes },
    );
  }

  /** Runs an event handler body; whatever it throws closes this connection instead of the process. */
  private guard(body: () => void): void {
    try {
      body();
    } catch (e) {
      const error = isRingtrainError(e)
        ? e
        : new RingtrainError('HANDLER_FAILED', `handling a frame from ${this.label} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      if (this.state === 'open') void this.fail(error);
      else this.logger.warn(`error on closing connection to ${this.label}: ${error.message}`);
    }
  }

  private onWsError(err: Error): void {
    // ws has already started closing (1009 for an oversized frame, 1002 for broken framing).
    this.failure ??= errorFromWs(err, this.label);
    this.endedBy ??= 'local';
    if (this.state === 'open') this.lifecycle.to('closing');
    this.logger.warn(`closing connection to ${this.label}: ${this.failure.code}: ${this.failure.message}`, { code: this.failure.code });
    this.armCloseTimer();
  }

  private onClose(code: number, reason: string): void {
    if (this.outcome) return;
    this.stopTimers();
    const by = this.endedBy ?? 'remote';
    const error = this.failure ?? (by === 'remote' ? errorFromRemoteClose(code, reason, this.label) : null);
    this.outcome = { code, reason, error, by };
    this.lifecycle.to('closed');
    const sendError = this.notOpen();
    for (const item of this.sendQueue.splice(0)) item.reject(sendError);
    for (const item of this.writing) item.reject(sendError); // their write callbacks find them settled
    this.writing.clear();
    this.wakeFlushWaiters();
    if (by === 'remote' && error) this.logger.info(`connection to ${this.label} ended: ${error.code}: ${error.message}`);
    this.resolveClosed(this.outcome);
  }

  // ---- outgoing ----

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.sendQueue.length > 0 && this.writable()) {
        while (this.ws.bufferedAmount > this.config.sendHighWaterBytes && this.writable()) await this.nextFlush();
        if (!this.writable()) break; // onClose rejects what is still queued
        const item = this.sendQueue.shift()!;
        this.writing.add(item);
        this.writer.write(item.frame, (err) => this.written(item, err));
        this.counters.framesSent++;
        this.counters.bytesSent += item.frame.byteLength;
        this.counters.peakBufferedBytes = Math.max(this.counters.peakBufferedBytes, this.ws.bufferedAmount);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The socket is done with a frame: its tensors are the sender's again. A frame that failed to
   * go out stays pending until onClose rejects it with the reason the connection ended (a failed
   * or destroyed socket always ends the WebSocket).
   */
  private written(item: Outgoing, err: Error | null | undefined): void {
    if (err) {
      this.logger.debug(`a frame to ${this.label} was not written out: ${err.message}`);
      return;
    }
    if (!this.writing.delete(item)) return; // onClose settled it already
    this.wakeFlushWaiters();
    item.resolve(item.frame.byteLength);
  }

  /** Open on our side and not closed by the peer either (then onClose is on its way). */
  private writable(): boolean {
    return this.state === 'open' && this.ws.readyState === this.ws.OPEN;
  }

  /** Resolves when a frame finished writing (or, with none in flight, after a short poll). */
  private nextFlush(): Promise<void> {
    return new Promise((resolve) => {
      if (this.writing.size > 0) {
        this.flushWaiters.push(resolve);
        return;
      }
      const timer = setTimeout(resolve, FLUSH_POLL_MS);
      this.flushWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wakeFlushWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const wake of waiters) wake();
  }

  // ---- liveness ----

  private beat(): void {
    if (this.state !== 'open') return;
    this.ws.ping();
    if (this.pongDeadline || this.inbound.isFull) return; // unread pongs prove nothing (onBudgetFull)
    this.pongDeadline = setTimeout(() => {
      this.pongDeadline = null;
      this.terminate(
        new RingtrainError('PEER_DEAD', `${this.label} did not answer a ping within ${this.config.heartbeatTimeoutMs} ms`, {
          hint: 'the peer hung, was stopped, or its event loop was blocked longer than heartbeatTimeoutMs',
          details: { peer: this.label, heartbeatTimeoutMs: this.config.heartbeatTimeoutMs },
        }),
      );
    }, this.config.heartbeatTimeoutMs);
    this.pongDeadline.unref();
  }

  private noteAlive(): void {
    if (this.pongDeadline) clearTimeout(this.pongDeadline);
    this.pongDeadline = null;
  }

  private armCloseTimer(): void {
    if (this.closeTimer) return;
    this.closeTimer = setTimeout(() => this.ws.terminate(), this.config.closeTimeoutMs);
    this.closeTimer.unref();
  }

  private stopTimers(): void {
    for (const t of [this.heartbeat, this.pongDeadline, this.closeTimer, this.stallTimer]) if (t) clearTimeout(t);
    this.heartbeat = this.pongDeadline = this.closeTimer = this.stallTimer = null;
  }

  // ---- errors ----

  private notOpen(): RingtrainError {
    const ended = this.outcome?.error ?? this.failure;
    if (ended) return ended;
    return new RingtrainError('CONNECTION_CLOSED', `connection to ${this.label} is ${this.state}`, {
      details: { peer: this.label, state: this.state, code: this.outcome?.code ?? ABNORMAL_CLOSURE },
    });
  }

  private queueFull(): RingtrainError {
    return new RingtrainError('MAILBOX_FULL', `more than ${this.config.maxQueuedMessages} undelivered messages from ${this.label}`, {
      hint: 'the consumer reads slower than the peer sends; this is a protocol bug or a misbehaving peer',
      details: { peer: this.label, maxQueuedMessages: this.config.maxQueuedMessages },
    });
  }
}
