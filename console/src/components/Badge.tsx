export type Tone = 'good' | 'bad' | 'warn' | 'neutral';

/** A short status word with a colour; the word itself carries the meaning (not the colour). */
export function Badge({ tone, children }: { tone: Tone; children: string }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}
