import { Mailbox } from './mailbox';

const msg = (tag: string) => ({ tag, tensors: {} });

test('the mailbox calls a message\'s release once it leaves, however it leaves', async () => {
  const box = new Mailbox(2);
  const released: string[] = [];
  const release = (name: string) => () => void released.push(name);

  const waiting = box.take('a');
  box.deliver(msg('a'), release('to a waiter'));
  await waiting;
  box.deliver(msg('b'), release('queued then taken'));
  box.deliver(msg('c'), release('dropped on fail'));
  expect(released).toEqual(['to a waiter']);
  await box.take('b');
  box.deliver(msg('d'), release('queued'));
  expect(() => box.deliver(msg('e'), release('refused when full'))).toThrow(expect.objectContaining({ code: 'MAILBOX_FULL' }));
  box.fail(new Error('peer gone'));
  box.deliver(msg('f'), release('after fail'));
  expect(released.sort()).toEqual(['after fail', 'dropped on fail', 'queued', 'queued then taken', 'refused when full', 'to a waiter']);
});
