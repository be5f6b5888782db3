import type { Detection } from '../../engine.js';
import type { ScanPlan } from '../../plan.js';
import type { Analyzer, Piece, PieceHead, PreparedCheck } from '../analyzer.js';
import { ThreadPool, ThreadTimeoutError } from '../thread-pool.js';
import type { ClassifierWorkerData, ClassifyOutcome, ClassifyTask } from './classify-task.js';
import { embeddedImageInput, type EmbeddedImageInput } from './embedded-image.js';
import { sniffImage, UNDECODABLE_FORMATS } from './image-format.js';
import { classifierVersion, wasmDirectory } from './model-files.js';
import { describeNudity, nudityScore } from './nudity.js';
import type { RawImage } from './png.js';
import { TEST_TRIGGER_SIGNATURE } from './test-trigger.js';

export const NUDITY_FINDING = 'content.image.nsfw.nudity';

type ImageUnscannable = 'corrupt' | 'limits-exceeded' | 'unsupported-method';

export function imageUnscannableFinding(reason: ImageUnscannable): string {
  return `content.unscannable.image.${reason}`;
}

export interface ImageAnalyzerOptions {
  /** Classifier threads (each with its own model). */
  threads: number;
  /** Longest one image may take to decode and classify. */
  timeoutMs: number;
  /** Largest image read; a larger one is unscannable. */
  maxBytes: number;
  /** Largest image decoded, in pixels as its header declares; a larger one is unscannable. */
  maxPixels: number;
}

/**
 * The `unsafe_image` category: every image in the content, at any depth of its archives, mail
 * and PDFs (their image streams), decoded by sharp and classified by nsfwjs in a pool of worker
 * threads, so the event loop never waits on either. The pool and its model are made only when a
 * scan first asks for the category: a process whose tenants never do pays nothing for it.
 */
export class ImageAnalyzer implements Analyzer {
  readonly name = 'nsfwjs';
  readonly category = 'unsafe_image' as const;
  private readonly version = classifierVersion();
  private pool: ThreadPool<ClassifyTask, ClassifyOutcome> | undefined;

  constructor(private readonly options: ImageAnalyzerOptions) {}

  prepare(plan: ScanPlan): Promise<PreparedCheck | undefined> {
    if (!plan.categories.includes(this.category)) return Promise.resolve(undefined);
    return Promise.resolve(this.checkFor(plan.imageThreshold));
  }

  /** Whether its threads were ever asked for (a scan with `unsafe_image` came). */
  get started(): boolean {
    return this.pool !== undefined;
  }

  describe(): { name: string; version: string } {
    return { name: this.name, version: this.version };
  }

  /** Nothing outside the process to reach; a thread that fails to start fails its scan instead. */
  ping(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }

  private checkFor(threshold: number): PreparedCheck {
    const { maxBytes } = this.options;
    return {
      name: this.name,
      version: this.version,
      maxBytes,
      wants: (piece) => piece.image !== undefined || sniffImage(piece.head) !== undefined,
      check: (piece) => this.check(piece, threshold),
      tooLarge: (piece) =>
        unscannable(piece, 'limits-exceeded', `larger than the image limit of ${maxBytes} bytes`),
    };
  }

  private async check(piece: Piece, threshold: number): Promise<Detection[]> {
    const input = this.inputOf(piece);
    if (input.kind !== 'file' && input.kind !== 'raw')
      return [unscannable(piece, input.kind, input.detail)];
    const outcome = await this.classify(piece.bytes, input.kind === 'raw' ? input.raw : undefined);
    switch (outcome.kind) {
      case 'corrupt':
      case 'limits-exceeded':
      case 'unsupported-method':
        return [unscannable(piece, outcome.kind, outcome.detail)];
      case 'classified':
        if (outcome.testTrigger)
          return [{ path: piece.path, finding: NUDITY_FINDING, signature: TEST_TRIGGER_SIGNATURE }];
        if (nudityScore(outcome.scores) < threshold) return [];
        return [
          { path: piece.path, finding: NUDITY_FINDING, signature: describeNudity(outcome.scores) },
        ];
    }
  }

  /**
   * What the classifier is given: the piece as an image file, or its bare samples (a PDF's image,
   * as its container describes it), or why it cannot be judged.
   */
  private inputOf(piece: Piece): EmbeddedImageInput {
    if (piece.image)
      return embeddedImageInput(piece.image, piece.bytes.length, this.options.maxPixels);
    const format = sniffImage(piece.head);
    if (format && UNDECODABLE_FORMATS.has(format))
      return { kind: 'unsupported-method', detail: `${format} images are not decoded` };
    return { kind: 'file' };
  }

  /** Classifies in the pool; an image that takes too long is over a limit, not an engine failure. */
  private async classify(bytes: Buffer, raw: RawImage | undefined): Promise<ClassifyOutcome> {
    // A copy of its own, moved to the thread: the piece's buffer may share memory with others.
    const image = new Uint8Array(bytes);
    const task: ClassifyTask = {
      image,
      maxPixels: this.options.maxPixels,
      ...(raw ? { raw } : {}),
    };
    try {
      return await this.threadPool().run(task, [image.buffer]);
    } catch (error) {
      if (error instanceof ThreadTimeoutError)
        return { kind: 'limits-exceeded', detail: error.message };
      throw error;
    }
  }

  private threadPool(): ThreadPool<ClassifyTask, ClassifyOutcome> {
    if (this.pool) return this.pool;
    const data: ClassifierWorkerData = { wasmDir: wasmDirectory() };
    this.pool = new ThreadPool(new URL('./classifier-worker.js', import.meta.url), {
      name: 'image classifier',
      threads: this.options.threads,
      timeoutMs: this.options.timeoutMs,
      workerData: data,
    });
    return this.pool;
  }
}

function unscannable(piece: PieceHead, reason: ImageUnscannable, detail: string): Detection {
  return { path: piece.path, finding: imageUnscannableFinding(reason), signature: detail };
}
