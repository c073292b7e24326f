import { RingtrainError } from './errors';

/** A named lifecycle whose illegal transitions throw an error naming the current state. */
export class StateMachine<S extends string> {
  private current: S;

  constructor(
    private readonly name: string,
    initial: S,
    private readonly allowed: Readonly<Record<S, readonly S[]>>,
  ) {
    this.current = initial;
  }

  get state(): S {
    return this.current;
  }

  is(...states: S[]): boolean {
    return states.includes(this.current);
  }

  to(next: S): void {
    if (!this.allowed[this.current].includes(next)) {
      throw new RingtrainError('BAD_STATE', `${this.name} cannot go from "${this.current}" to "${next}"`, {
        details: { machine: this.name, state: this.current, attempted: next },
      });
    }
    this.current = next;
  }
}
