import { decode, encode, IGNORE_TARGET, PAD_ID, SEP_ID, specialName, VOCAB_SIZE } from './tokenizer';

describe('byte-level tokenizer', () => {
  it('has 256 bytes then the specials', () => {
    expect([SEP_ID, PAD_ID, VOCAB_SIZE, IGNORE_TARGET]).toEqual([256, 257, 258, -1]);
  });

  it.each(['', 'hello, world', 'naïve café — ünïcödé', '日本語のテキスト', 'emoji 🚀👩‍🔬 mix', 'tabs\tand\nnewlines\r\n'])('round-trips %j', (text) => {
    const ids = encode(text);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(Array.from(ids)).toEqual(Array.from(Buffer.from(text, 'utf8')));
    expect(decode(ids)).toBe(text);
  });

  it('encodes multibyte characters as their UTF-8 bytes', () => {
    expect(Array.from(encode('é€😀'))).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  });

  it('never produces a special from text', () => {
    expect(Array.from(encode('<|sep|>')).every((id) => id < 256)).toBe(true);
  });

  it('renders specials and unknown ids visibly', () => {
    expect(decode([...encode('a'), SEP_ID, ...encode('b'), PAD_ID, PAD_ID])).toBe('a<|sep|>b<|pad|><|pad|>');
    expect(decode([104, 105, 999, -1, 2.5])).toBe('hi<|unk:999|><|unk:-1|><|unk:2.5|>');
    expect(specialName(65)).toBeNull();
  });

  it('replaces invalid UTF-8 instead of throwing', () => {
    expect(decode([0xff, 0x41, 0xc3])).toBe('\ufffdA\ufffd');
    // A multibyte character cut by a separator decodes as replacement characters on each side.
    const e = Array.from(encode('é'));
    expect(decode([e[0], SEP_ID, e[1]])).toBe('\ufffd<|sep|>\ufffd');
  });
});
