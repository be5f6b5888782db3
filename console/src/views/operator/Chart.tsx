import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
}

/**
 * A live line chart (uPlot): `times` in seconds since the epoch, one array of values per series.
 * The figures it draws are also shown as text beside it (a table), so the canvas is described by
 * its caption only.
 */
export function LiveChart({
  title,
  series,
  times,
  values,
}: {
  title: string;
  series: ChartSeries[];
  times: number[];
  values: number[][];
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const seriesKey = series.map((s) => s.label).join('|');

  useEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const made = new uPlot(
      {
        width: Math.max(element.clientWidth, 200),
        height: 180,
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
        axes: [{}, { size: 50 }],
        scales: { x: { time: true } },
        legend: { live: false },
        cursor: { show: false },
      },
      [times, ...values],
      element,
    );
    plot.current = made;
    const resize = new ResizeObserver(() =>
      made.setSize({ width: Math.max(element.clientWidth, 200), height: 180 }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      made.destroy();
      plot.current = undefined;
    };
    // Rebuilt only when the series change; new figures go through setData below.
  }, [seriesKey]);

  useEffect(() => {
    plot.current?.setData([times, ...values]);
  }, [times, values]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`Chart: ${title}`} />
    </figure>
  );
}
