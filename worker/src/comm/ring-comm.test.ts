import { createInMemoryWorld, type PeerMessage, type Transport, type TransportStats } from '@ringtrain/transport';
import { RingComm } from './ring-comm';
import type { WireBlock } from './wire';

const scalar = (x: number): WireBlock => ({ x: { dtype: 'float32', shape: [1], data: Float32Array.of(x) } });
const valueOf = (b: WireBlock): number => b.x.data[0];

/** What rank `rank` computes for the block of rank `source`: distinct for every pair. */
const share = (rank: number, source: number, P: number) => 1 + rank * P + source;

/** A compute step that lets the event loop run, as an async kernel does. */
const compute = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What a held link delays: a receive's delivery, or a send's completion, of the messages for which it returns a promise. */
interface Held {
  recv?: (tag: string) => Promise<void> | undefined;
  sent?: (tag: string) => Promise<void> | undefined;
}

class HeldTransport implements Transport {
  constructor(
    private readonly inner: Transport,
    private readonly held: Held,
  ) {}

  get rank(): number {
    return this.inner.rank;
  }

  get worldSize(): number {
    return this.inner.worldSize;
  }

  async send(to: number, msg: PeerMessage): Promise<void> {
    await this.inner.send(to, msg);
    await this.held.sent?.(msg.tag);
  }

  async recv(from: number, tag: string): Promise<PeerMessage> {
    const msg = await this.inner.recv(from, tag);
    await this.held.recv?.(tag);
    return msg;
  }

  stats(): TransportStats {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** An in-memory world of P ranks in which rank `rank`'s link is held as `held` says. */
function worldHolding(P: number, rank: number, held: Held): Transport[] {
  return createInMemoryWorld(P).map((t) => (t.rank === rank ? new HeldTransport(t, held) : t));
}

/** Resolves on `open()`, or after `ms` so that an implementation that waits for it still finishes (and fails). */
function gate(ms = 300) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
    setTimeout(resolve, ms).unref();
  });
  return { opened, open };
}

/** Runs circulateWithGrads on every rank; returns each rank's total and the visits it made. */
async function circulate(transports: Transport[], visit?: (rank: number, step: number) => void | Promise<void>) {
  const P = transports.length;
  const visits: Array<Array<[number, number]>> = transports.map(() => []);
  const totals = await Promise.all(
    transports.map((t) =>
      new RingComm(t, 'test', undefined, -1).circulateWithGrads(scalar(100 + t.rank), async (block, source, step) => {
        visits[t.rank].push([source, valueOf(block)]);
        await visit?.(t.rank, step);
        await compute();
        return scalar(share(t.rank, source, P));
      }),
    ),
  );
  return { totals: totals.map(valueOf), visits };
}

describe('RingComm.circulateWithGrads', () => {
  it.each([1, 2, 3, 4, 5])('P = %i: every rank visits every block once, own first, and gets back the sum of the shares of its block', async (P) => {
    const { totals, visits } = await circulate(createInMemoryWorld(P));
    for (let r = 0; r < P; r++) {
      const sources = Array.from({ length: P }, (_, t) => (r - t + P) % P);
      expect(visits[r]).toEqual(sources.map((s) => [s, 100 + s]));
      let expected = 0;
      for (let v = 0; v < P; v++) expected += share(v, r, P);
      expect(totals[r]).toBe(expected);
    }
  });

  it("computes the next step while the previous step's accumulator is still on its way", async () => {
    // Rank 0's accumulator of step 1 (from rank 3) is held until rank 0 has started step 3.
    // A rank that waited for it before computing again would see it only after the timeout.
    const P = 4;
    const events: string[] = [];
    const held = gate();
    const world = worldHolding(P, 0, {
      recv: (tag) => (tag.endsWith('.grad.1') ? held.opened.then(() => void events.push('accumulator of step 1 delivered')) : undefined),
    });
    const { totals } = await circulate(world, (rank, step) => {
      if (rank !== 0) return;
      events.push(`step ${step} computes`);
      if (step === 3) held.open();
    });
    expect(events.indexOf('step 3 computes')).toBeLessThan(events.indexOf('accumulator of step 1 delivered'));
    for (let r = 0; r < P; r++) expect(totals[r]).toBe(Array.from({ length: P }, (_, v) => share(v, r, P)).reduce((a, b) => a + b));
  });

  it("sends a step's accumulator before the next step computes, and does not wait for the send to finish before computing", async () => {
    // Rank 1's send of its step-1 accumulator completes only once rank 1 has started step 2.
    const P = 3;
    const events: string[] = [];
    const held = gate();
    const world = worldHolding(P, 1, {
      sent: (tag) => {
        if (!tag.endsWith('.grad.1')) return undefined;
        events.push('accumulator of step 1 sent');
        return held.opened.then(() => void events.push('send of step 1 done'));
      },
    });
    await circulate(world, (rank, step) => {
      if (rank !== 1) return;
      events.push(`step ${step} computes`);
      if (step === 2) held.open();
    });
    expect(events.slice(0, 3)).toEqual(['step 0 computes', 'step 1 computes', 'accumulator of step 1 sent']);
    expect(events.indexOf('step 2 computes')).toBeLessThan(events.indexOf('send of step 1 done'));
  });

  it('a failed accumulator send rejects the circulation (awaited one step later, never unhandled)', async () => {
    const world = createInMemoryWorld(3);
    const failing: Transport = {
      rank: world[0].rank,
      worldSize: 3,
      send: (to, msg) => (msg.tag.endsWith('.grad.1') ? Promise.reject(new Error('link down')) : world[0].send(to, msg)),
      recv: (from, tag) => world[0].recv(from, tag),
      stats: () => world[0].stats(),
      close: () => world[0].close(),
    };
    // Ranks 1 and 2 then wait forever for rank 0's accumulator; only rank 0's outcome is checked.
    const runs = [failing, world[1], world[2]].map((t) => new RingComm(t, 'fail').circulateWithGrads(scalar(0), async () => scalar(1)));
    await expect(runs[0]).rejects.toThrow('link down');
  });
});
