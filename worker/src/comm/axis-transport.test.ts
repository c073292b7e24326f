import { createInMemoryWorld } from '@ringtrain/transport';
import { AxisTransport, peerRank } from './axis-transport';

const block = (x: number) => ({ x: { dtype: 'float32' as const, shape: [1], data: Float32Array.of(x) } });

describe('AxisTransport', () => {
  it('numbers an axis\'s ranks in its order and maps them to the world', () => {
    const world = createInMemoryWorld(6);
    const ring = new AxisTransport(world[4], [1, 4], 'ring');
    expect([ring.rank, ring.worldSize, ring.worldRank(0), peerRank(ring, 0), peerRank(world[4], 0)]).toEqual([1, 2, 1, 1, 0]);
  });

  it('keeps two axes apart between the same pair of ranks under the same tag', async () => {
    const world = createInMemoryWorld(2);
    const a = [new AxisTransport(world[0], [0, 1], 'uly'), new AxisTransport(world[1], [0, 1], 'uly')];
    const b = [new AxisTransport(world[0], [0, 1], 'ring'), new AxisTransport(world[1], [0, 1], 'ring')];
    await b[0].send(1, { tag: 't', tensors: block(2) });
    await a[0].send(1, { tag: 't', tensors: block(1) });
    expect((await a[1].recv(0, 't')).tensors.x.data[0]).toBe(1);
    expect((await b[1].recv(0, 't')).tensors.x.data[0]).toBe(2);
  });

  it('refuses a rank list without this rank', () => {
    const world = createInMemoryWorld(4);
    expect(() => new AxisTransport(world[0], [1, 2], 'ring')).toThrow(/holding rank 0/);
  });
});
