import { Badge, type Tone } from './Badge';
import { sensitiveTypeLabel, type Classification } from './sensitive-types';
import { Table } from './Table';

const TONES: Record<Classification['result'], Tone> = {
  sensitive: 'bad',
  none: 'good',
  error: 'warn',
};

const MEANINGS: Record<Classification['result'], string> = {
  sensitive:
    'Values of these types reached the account’s threshold; each is also a finding. The samples are redacted: no value is kept whole.',
  none: 'No type of sensitive value reached the account’s threshold in the text that was read.',
  error:
    'The content was not classified: the scan failed (see its error). Do not read this as clean.',
};

interface TypeCount {
  type: string;
  count: number;
  samples: string[];
}

/** A result's `classification`: its result word, and each type found with its redacted samples. */
export function SensitiveData({ classification }: { classification: Classification }) {
  const rows: TypeCount[] = Object.entries(classification.matches).map(([type, count]) => ({
    type,
    count,
    samples: classification.samples[type] ?? [],
  }));
  return (
    <>
      <h2>Sensitive data</h2>
      <p>
        <Badge tone={TONES[classification.result]}>{classification.result}</Badge>{' '}
        {MEANINGS[classification.result]}
      </p>
      {rows.length > 0 ? (
        <Table
          caption="Sensitive data found"
          rows={rows}
          rowKey={(row) => row.type}
          columns={[
            { header: 'Type', cell: (row) => sensitiveTypeLabel(row.type) },
            { header: 'Name', cell: (row) => <code>{row.type}</code>, wide: true },
            { header: 'Values', cell: (row) => String(row.count) },
            {
              header: 'Redacted samples',
              cell: (row) =>
                row.samples.length > 0
                  ? row.samples.map((sample, index) => (
                      <span key={sample}>
                        {index > 0 ? ', ' : ''}
                        <code>{sample}</code>
                      </span>
                    ))
                  : '—',
            },
          ]}
        />
      ) : null}
    </>
  );
}
