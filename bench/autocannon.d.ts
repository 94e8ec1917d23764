/**
 * The small part of autocannon's programmatic API the benchmark uses. autocannon ships no types
 * and @types/autocannon is not a dependency, so this ambient declaration stands in for it.
 */
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      pipelining?: number;
      duration?: number;
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      title?: string;
    }

    /** One histogram of the result (latency in ms, requests per second, bytes per second). */
    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p97_5: number;
      p99: number;
      p99_9: number;
    }

    interface Result {
      title?: string;
      url: string;
      latency: Histogram;
      requests: Histogram;
      throughput: Histogram;
      duration: number;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      resets: number;
      '1xx': number;
      '2xx': number;
      '3xx': number;
      '4xx': number;
      '5xx': number;
      connections: number;
      pipelining: number;
      statusCodeStats: Record<string, { count: number }>;
    }

    interface Instance extends NodeJS.EventEmitter {
      stop(): void;
    }
  }

  function autocannon(opts: autocannon.Options): Promise<autocannon.Result> & autocannon.Instance;

  export default autocannon;
}
