import { describe, expect, it } from 'vitest';
import { matrixOf } from '../../src/gate/prometheus.js';
import { MetricsUnavailableError } from '../../src/gate/input/provider.js';

describe("raw counter reads: Prometheus' matrix answer", () => {
  it('keeps every label and each sample as milliseconds and a number, interleaved', () => {
    const series = matrixOf({
      resultType: 'matrix',
      result: [
        {
          metric: { __name__: 'istio_requests_total', response_code: '503', pod: 'p-1' },
          values: [
            [1733500000.123, '41'],
            [1733500015.123, '42'],
          ],
        },
        { metric: { le: '+Inf' }, values: [] },
      ],
    });
    expect(series).toEqual([
      {
        labels: { __name__: 'istio_requests_total', response_code: '503', pod: 'p-1' },
        tv: [1733500000123, 41, 1733500015123, 42],
      },
      { labels: { le: '+Inf' }, tv: [] },
    ]);
  });

  it('refuses any other answer with an error that says what came back', () => {
    expect(() => matrixOf({ resultType: 'vector', result: [] })).toThrow(MetricsUnavailableError);
    expect(() => matrixOf({ resultType: 'vector', result: [] })).toThrow('expected a matrix, got vector');
    expect(() => matrixOf(null)).toThrow('expected a matrix, got undefined');
  });
});
