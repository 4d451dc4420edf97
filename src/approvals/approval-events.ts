import type { Decision } from '../core/types.js';
import type { BreakGlassSession } from './break-glass.js';
import type { VoteView } from './approval-service.js';

/** What happens to held actions and overrides, as operators' streams see it. */
export type ApprovalEvent =
  | { readonly type: 'held'; readonly decision: Decision }
  | { readonly type: 'vote'; readonly decision: Decision; readonly vote: VoteView }
  | { readonly type: 'resolved'; readonly decision: Decision }
  | { readonly type: 'break-glass'; readonly session: BreakGlassSession };

/** Listener of approval events. It must not throw; if it does, the error is dropped. */
export type ApprovalListener = (event: ApprovalEvent) => void;

/**
 * The in-process event bus of held actions: the server's long-polls and
 * server-sent-event streams listen, the approval service publishes. Other
 * replicas' events do not arrive here; long-polls also re-read the store.
 */
export class ApprovalEvents {
  readonly #listeners = new Set<ApprovalListener>();

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: ApprovalListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(event: ApprovalEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A broken listener (a closed stream) must not stop the others.
      }
    }
  }

  /** Listeners attached now (streams and waits), for metrics and tests. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * Resolves when decision `id` is resolved, or after `ms`, whichever is first
   * (or at once when `signal` aborts). Never rejects.
   */
  resolution(id: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      // done() runs only after these are initialized: events and timers fire later, the abort check is last.
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const unsubscribe = this.subscribe((event) => {
        if (event.type === 'resolved' && event.decision.id === id) done();
      });
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
      if (signal?.aborted) done();
    });
  }
}
