/** The classes of nsfwjs's models, whose scores (a softmax) sum to 1 for each image. */
export const NSFW_CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'] as const;

export type NsfwClass = (typeof NSFW_CLASSES)[number];

export type ClassScores = Record<NsfwClass, number>;

/**
 * How likely the image shows nudity: Porn + Hentai, the two explicit classes (a photograph and
 * a drawing of the same thing). The classes exclude each other, so their sum is the probability
 * that the image is explicit either way; an image the model hesitates on between the two
 * (Porn 0.45, Hentai 0.40) is still found at 0.85, where the larger of the two alone would miss
 * it. Sexy (suggestive, clothed) is left out: it is not nudity, and counting it would report
 * swimwear photographs at the default threshold.
 */
export function nudityScore(scores: ClassScores): number {
  return Math.min(1, scores.Porn + scores.Hentai);
}

/** The detection's signature: `nudity 0.93 (Porn 0.90, Hentai 0.03)`. */
export function describeNudity(scores: ClassScores): string {
  const two = (value: number) => value.toFixed(2);
  return `nudity ${two(nudityScore(scores))} (Porn ${two(scores.Porn)}, Hentai ${two(scores.Hentai)})`;
}
