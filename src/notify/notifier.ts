/**
 * The notification port: how Governor tells humans that something waits for
 * them (an approval, a veto window, break-glass). Delivery is best effort and
 * off the decision path: a notifier queues and returns at once, and its
 * failures are counted and reported, never thrown.
 */

/** One event for humans. Receivers deduplicate on `id`. */
export interface Notification {
  /** Unique event id; the same on every delivery attempt (idempotency for receivers). */
  readonly id: string;
  /** `approval.requested`, `approval.resolved`, `veto-window.opened`, `break-glass.opened`, `break-glass.closed`, ... */
  readonly type: string;
  /** When the event happened, ISO 8601. */
  readonly at: string;
  /** One line, e.g. `deploy checkout in prod held for approval (high risk)`. */
  readonly title: string;
  /** A few lines for humans. */
  readonly text: string;
  /** Owner teams or groups to notify (may be empty). */
  readonly recipients: readonly string[];
  /** Where to act: an API or dashboard link. */
  readonly url?: string;
  /** The structured payload (decision id, action, impact, reasons...). Must be JSON-serializable. */
  readonly data: unknown;
}

/** Counters of a notifier since it was created. */
export interface NotifierStats {
  /** Notifications accepted into the queue. */
  readonly queued: number;
  /** Notifications a receiver acknowledged (2xx). */
  readonly delivered: number;
  /** Notifications given up on: refused, out of attempts, unserializable, or abandoned at close. */
  readonly failed: number;
  /** Delivery attempts after the first, over all notifications. */
  readonly retries: number;
  /** Notifications refused because the queue was full or the notifier closed. */
  readonly dropped: number;
  /** Notifications accepted and not yet delivered or failed (waiting, in flight or backing off). */
  readonly pending: number;
  /** The most recent failure, for health checks. */
  readonly lastError?: { readonly at: string; readonly message: string };
}

/** Where notifications go. */
export interface Notifier {
  /** Queues the notification and returns at once: never throws, never blocks the decision path. */
  notify(notification: Notification): void;
  /** A snapshot of the counters. */
  stats(): NotifierStats;
  /** Stops retrying and waits, bounded (2 s by default), for deliveries in flight. Later notifications are dropped. */
  close(): Promise<void>;
}

const ZERO_STATS: NotifierStats = Object.freeze({ queued: 0, delivered: 0, failed: 0, retries: 0, dropped: 0, pending: 0 });

/** A notifier that discards everything (notifications not configured). Its counters stay at zero. */
export function createNoopNotifier(): Notifier {
  return Object.freeze({
    notify(): void {},
    stats: () => ZERO_STATS,
    close: () => Promise.resolve(),
  });
}

/**
 * A notifier that hands every notification to each of `notifiers`. Its stats
 * are the sums of theirs, with the most recent `lastError`; `close` closes
 * them all. One notifier throwing (it must not) never stops the others.
 */
export function combineNotifiers(notifiers: readonly Notifier[]): Notifier {
  const list = Object.freeze([...notifiers]);
  return Object.freeze({
    notify(notification: Notification): void {
      for (const notifier of list) {
        try {
          notifier.notify(notification);
        } catch {
          // The port forbids throwing; a broken notifier must not cost the others their delivery.
        }
      }
    },
    stats(): NotifierStats {
      let queued = 0;
      let delivered = 0;
      let failed = 0;
      let retries = 0;
      let dropped = 0;
      let pending = 0;
      let lastError: NotifierStats['lastError'];
      for (const notifier of list) {
        const s = notifier.stats();
        queued += s.queued;
        delivered += s.delivered;
        failed += s.failed;
        retries += s.retries;
        dropped += s.dropped;
        pending += s.pending;
        if (s.lastError && (!lastError || s.lastError.at >= lastError.at)) lastError = s.lastError;
      }
      return { queued, delivered, failed, retries, dropped, pending, ...(lastError ? { lastError } : {}) };
    },
    async close(): Promise<void> {
      await Promise.allSettled(list.map((notifier) => notifier.close()));
    },
  });
}
