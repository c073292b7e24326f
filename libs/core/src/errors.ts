/**
 * Every error ringtrain raises on purpose carries a stable code, the values involved and a hint
 * that says what would work. The CLI prints `message` and `hint` without a stack trace.
 */
export class RingtrainError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly details?: Readonly<Record<string, unknown>>;

  constructor(code: string, message: string, opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RingtrainError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  /** One line for a terminal: `[CODE] message (hint)`. */
  toUserString(): string {
    return `[${this.code}] ${this.message}${this.hint ? `\n  hint: ${this.hint}` : ''}`;
  }
}

export function isRingtrainError(e: unknown): e is RingtrainError {
  return e instanceof RingtrainError;
}

/** A user-facing option error: names the option, the value and what would work. */
export function optionError(option: string, value: unknown, expected: string): RingtrainError {
  return new RingtrainError('BAD_OPTION', `${option} ${JSON.stringify(value)} is not valid: ${expected}.`, {
    hint: `Pass ${option} with ${expected}.`,
    details: { option, value },
  });
}
