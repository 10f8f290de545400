// What a screen shows while it talks to the server: whether a list is loading, and the last
// error or confirmation in words. One of these per screen replaces the same try/catch in each.
import { errText } from './i18n.svelte';

export class Task {
  loading = $state(false);
  error = $state('');
  ok = $state('');

  /** Runs `f`; a failure is put in words in `error` (and gives undefined); `done`, when
   *  given, is shown in `ok` once `f` succeeded. */
  async run<T>(f: () => Promise<T>, done?: string): Promise<T | undefined> {
    this.error = '';
    if (done !== undefined) this.ok = '';
    try {
      const r = await f();
      if (done) this.ok = done;
      return r;
    } catch (e) {
      this.error = errText(e);
      return undefined;
    }
  }

  /** `run` with `loading` on meanwhile: a list being fetched. */
  async load<T>(f: () => Promise<T>): Promise<T | undefined> {
    this.loading = true;
    try {
      return await this.run(f);
    } finally {
      this.loading = false;
    }
  }
}
