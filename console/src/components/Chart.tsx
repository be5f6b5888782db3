import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One line of a chart: its name (the legend's) and colour, and its values (null = no value). */
export interface ChartSeries {
  label: string;
  colour: string;
  values: Array<number | null>;
  /** Drawn as bars (counts per hour) rather than a line. */
  bars?: boolean;
}

/**
 * A time-series chart (uPlot) over `times` (epoch seconds). The canvas is hidden from screen
 * readers: the view puts the same numbers beside it as text. The chart follows its container's
 * width (phone width included) and is redrawn in place when the data change.
 */
export function Chart({
  times,
  series,
  height = 220,
  unit,
  yMax,
}: {
  times: number[];
  series: ChartSeries[];
  height?: number;
  /** Appended to the y axis' values (`%`, ` ms`). */
  unit?: string;
  /** A fixed top of the y axis (100 for a percentage); otherwise the data's. */
  yMax?: number;
}) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  // A new chart only when the lines themselves change; new values are set on the existing one.
  const shape = JSON.stringify([
    series.map((s) => [s.label, s.colour, s.bars]),
    unit,
    yMax,
    height,
  ]);

  useEffect(() => {
    const element = container.current;
    if (!element) return undefined;
    const bars = uPlot.paths.bars?.({ size: [0.8, 40] });
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      series: [
        {},
        ...series.map((line) => ({
          label: line.label,
          stroke: line.colour,
          fill: line.bars ? `${line.colour}99` : undefined,
          width: 2,
          ...(line.bars && bars ? { paths: bars, points: { show: false } } : {}),
        })),
      ],
      axes: [
        {},
        { values: (_chart, ticks) => ticks.map((tick) => `${tick}${unit ?? ''}`), size: 60 },
      ],
      scales: {
        // Half an hour either side, so the first and last hours' bars show whole.
        x: { time: true, range: (_chart, min, max) => [min - 1800, max + 1800] },
        y: { range: (_chart, _min, max) => [0, yMax ?? Math.max(max, 1)] },
      },
      cursor: { drag: { x: false, y: false } },
    };
    const chart = new uPlot(options, data(times, series), element);
    plot.current = chart;
    const resize = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(element.clientWidth, 200), height }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = undefined;
    };
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data(times, series));
  }, [times, series]);

  return <div class="chart" ref={container} aria-hidden="true" />;
}

function data(times: number[], series: ChartSeries[]): uPlot.AlignedData {
  return [times, ...series.map((line) => line.values)];
}
