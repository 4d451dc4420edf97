import type { BreakerSpec } from '../policy/policy.js';

/** Where an agent's breaker stands. */
export interface BreakerState {
  readonly denials: number;
  readonly outcomes: number;
  readonly failures: number;
  /** The most times one identical action was asked for in the loop window. */
  readonly repeats: number;
  readonly trips: number;
  readonly lastTrip?: { readonly at: string; readonly reason: string };
}

/** Per-agent circuit breakers over sliding windows. */
export interface Breakers {
  /** A decision was made for `agent` (`digest` identifies the action as asked). */
  decision(agent: string, digest: string, denied: boolean): void;
  outcome(agent: string, failed: boolean): void;
  state(agent: string): BreakerState;
  /** Trips counted since start, for metrics. */
  trips(): number;
}

interface Window {
  denials: number[];
  outcomes: { at: number; failed: boolean }[];
  actions: Map<string, number[]>;
  trips: number;
  lastTrip?: { at: string; reason: string };
}

const MAX_TRACKED_ACTIONS = 1024;

/**
 * Creates the breakers. A breaker trips when, within its window, an agent gets
 * more than `denials.max` denials, reports a failure ratio above
 * `failureRatio.max` over at least `minOutcomes` outcomes, or asks for the
 * same action more than `loop.max` times; `trip` is called once per trip (the
 * caller locks the agent with a kill until a human lifts it). Windows are
 * bounded: no agent can make them grow without limit.
 */
export function createBreakers(options: { readonly spec: () => BreakerSpec; readonly clock: () => number; readonly trip: (agent: string, reason: string) => void; readonly locked: (agent: string) => boolean }): Breakers {
  const windows = new Map<string, Window>();
  let trips = 0;
  const windowOf = (agent: string): Window => {
    let w = windows.get(agent);
    if (!w) {
      w = { denials: [], outcomes: [], actions: new Map(), trips: 0 };
      windows.set(agent, w);
    }
    return w;
  };
  const prune = (times: number[], since: number, cap: number) => {
    let drop = 0;
    while (drop < times.length && (times[drop] as number) < since) drop++;
    if (times.length - drop > cap) drop = times.length - cap;
    if (drop > 0) times.splice(0, drop);
  };
  const trip = (agent: string, w: Window, reason: string): void => {
    if (options.locked(agent)) return;
    trips++;
    w.trips++;
    w.lastTrip = { at: new Date(options.clock()).toISOString(), reason };
    // Start afresh once a human lets the agent back in.
    w.denials = [];
    w.outcomes = [];
    w.actions.clear();
    options.trip(agent, reason);
  };

  return {
    decision(agent, digest, denied) {
      const spec = options.spec();
      if (!spec.denials && !spec.loop) return;
      const now = options.clock();
      const w = windowOf(agent);
      if (spec.denials && denied) {
        w.denials.push(now);
        prune(w.denials, now - spec.denials.windowSeconds * 1000, spec.denials.max + 1);
        if (w.denials.length > spec.denials.max) return trip(agent, w, `circuit breaker: more than ${spec.denials.max} denials within ${spec.denials.windowSeconds}s`);
      }
      if (spec.loop) {
        const since = now - spec.loop.windowSeconds * 1000;
        let times = w.actions.get(digest);
        if (!times) {
          if (w.actions.size >= MAX_TRACKED_ACTIONS) {
            for (const [key, t] of w.actions) if ((t.at(-1) ?? 0) < since) w.actions.delete(key);
            if (w.actions.size >= MAX_TRACKED_ACTIONS) w.actions.delete(w.actions.keys().next().value as string);
          }
          times = [];
          w.actions.set(digest, times);
        }
        times.push(now);
        prune(times, since, spec.loop.max + 1);
        if (times.length > spec.loop.max) trip(agent, w, `circuit breaker: the same action asked for more than ${spec.loop.max} times within ${spec.loop.windowSeconds}s (a loop)`);
      }
    },

    outcome(agent, failed) {
      const spec = options.spec().failureRatio;
      if (!spec) return;
      const now = options.clock();
      const w = windowOf(agent);
      w.outcomes.push({ at: now, failed });
      const since = now - spec.windowSeconds * 1000;
      while (w.outcomes.length > 0 && ((w.outcomes[0] as { at: number }).at < since || w.outcomes.length > 10_000)) w.outcomes.shift();
      const failures = w.outcomes.filter((o) => o.failed).length;
      if (w.outcomes.length >= spec.minOutcomes && failures / w.outcomes.length > spec.max) {
        trip(agent, w, `circuit breaker: ${failures} of ${w.outcomes.length} reported outcomes failed within ${spec.windowSeconds}s (more than ${spec.max * 100}%)`);
      }
    },

    state(agent) {
      const w = windows.get(agent);
      if (!w) return { denials: 0, outcomes: 0, failures: 0, repeats: 0, trips: 0 };
      let repeats = 0;
      for (const times of w.actions.values()) repeats = Math.max(repeats, times.length);
      return {
        denials: w.denials.length,
        outcomes: w.outcomes.length,
        failures: w.outcomes.filter((o) => o.failed).length,
        repeats,
        trips: w.trips,
        ...(w.lastTrip ? { lastTrip: w.lastTrip } : {}),
      };
    },

    trips: () => trips,
  };
}
