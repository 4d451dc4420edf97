/** A counter or gauge family in the Prometheus text exposition format. */
interface Family {
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly values: Map<string, number>;
}

/** Labels of one sample; values are escaped when rendered. */
export type Labels = Readonly<Record<string, string>>;

/**
 * Process-local metrics for `GET /metrics`: counters the decision path bumps
 * (a map update, no I/O) and gauges read when scraped.
 */
export class Metrics {
  readonly #families = new Map<string, Family>();
  readonly #gauges: (() => void)[] = [];

  /** Adds `by` to counter `name` with `labels`. */
  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const family = this.#family(name, help, 'counter');
    const key = labelText(labels);
    family.values.set(key, (family.values.get(key) ?? 0) + by);
  }

  /** Sets gauge `name`. */
  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.#family(name, help, 'gauge').values.set(labelText(labels), value);
  }

  /** Registers a function that sets gauges just before every scrape. */
  onScrape(update: () => void): void {
    this.#gauges.push(update);
  }

  /** The Prometheus text format (version 0.0.4). */
  render(): string {
    for (const update of this.#gauges) {
      try {
        update();
      } catch {
        // A gauge that cannot be read is left at its last value.
      }
    }
    const lines: string[] = [];
    for (const [name, family] of [...this.#families].sort(([a], [b]) => (a < b ? -1 : 1))) {
      lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
      for (const [labels, value] of family.values) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 'NaN'}`);
    }
    return `${lines.join('\n')}\n`;
  }

  #family(name: string, help: string, type: Family['type']): Family {
    let family = this.#families.get(name);
    if (!family) {
      family = { help, type, values: new Map() };
      this.#families.set(name, family);
    }
    return family;
  }
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`).join(',')}}`;
}
