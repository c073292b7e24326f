import type { ActionAnswer } from '../src/types';

const SECRET_KEY = 'ringtrain.secret';
const SECRET_HEADER = 'x-ringtrain-secret';

/**
 * The "Checkpoint now" and "Stop gracefully" buttons. The job secret is asked for once (a
 * dialog) and kept in sessionStorage, for this tab only; a refusal for a wrong secret forgets
 * it, so the next press asks again. The server's answer is shown beside the buttons.
 */
export class Actions {
  private readonly dialog: HTMLDialogElement;
  private readonly input: HTMLInputElement;
  private readonly answer: HTMLElement;
  private readonly buttons: HTMLButtonElement[];
  private fadeTimer: number | undefined;

  constructor(root: HTMLElement) {
    this.dialog = root.querySelector<HTMLDialogElement>('#secret-dialog')!;
    this.input = this.dialog.querySelector<HTMLInputElement>('input')!;
    this.answer = root.querySelector<HTMLElement>('#action-answer')!;
    const checkpoint = root.querySelector<HTMLButtonElement>('#btn-checkpoint')!;
    const stop = root.querySelector<HTMLButtonElement>('#btn-stop')!;
    this.buttons = [checkpoint, stop];
    checkpoint.addEventListener('click', () => void this.run('checkpoint'));
    stop.addEventListener('click', () => {
      if (window.confirm('Stop the run after the current step? It saves a checkpoint first; `ringtrain resume` continues it.')) void this.run('stop');
    });
  }

  /** Read-only, or the run is not running: the buttons stay, disabled, saying why. */
  setEnabled(why: string | null): void {
    for (const b of this.buttons) {
      b.disabled = why !== null;
      b.title = why ?? '';
    }
  }

  private async run(action: 'checkpoint' | 'stop'): Promise<void> {
    let secret = sessionStorage.getItem(SECRET_KEY);
    if (secret === null) {
      secret = await this.askSecret();
      if (secret === null) return this.say({ ok: false, message: 'cancelled' });
    }
    this.say({ ok: true, message: action === 'checkpoint' ? 'asking for a checkpoint…' : 'asking the run to stop…' }, true);
    let res: Response;
    try {
      res = await fetch(`/api/actions/${action}`, { method: 'POST', headers: secret === '' ? {} : { [SECRET_HEADER]: secret } });
    } catch (e) {
      return this.say({ ok: false, message: `the dashboard server did not answer: ${(e as Error).message}` });
    }
    let body: ActionAnswer;
    try {
      body = (await res.json()) as ActionAnswer;
    } catch {
      body = { ok: res.ok, message: `${res.status} ${res.statusText}` };
    }
    if (res.status === 401) sessionStorage.removeItem(SECRET_KEY);
    else if (res.ok && secret !== '') sessionStorage.setItem(SECRET_KEY, secret);
    this.say({ ok: res.ok && body.ok, message: `${res.status}: ${body.message}` });
  }

  private askSecret(): Promise<string | null> {
    return new Promise((resolve) => {
      this.input.value = '';
      const done = () => {
        this.dialog.removeEventListener('close', done);
        resolve(this.dialog.returnValue === 'send' ? this.input.value.trim() : null);
      };
      this.dialog.addEventListener('close', done);
      this.dialog.returnValue = '';
      this.dialog.showModal();
      this.input.focus();
    });
  }

  private say(a: ActionAnswer, pending = false): void {
    window.clearTimeout(this.fadeTimer);
    this.answer.textContent = `${pending ? '' : a.ok ? '✓ ' : '✗ '}${a.message}`;
    this.answer.className = pending ? 'answer pending' : a.ok ? 'answer ok' : 'answer bad';
    this.answer.hidden = false;
    if (!pending) this.fadeTimer = window.setTimeout(() => (this.answer.hidden = true), 15000);
  }
}
