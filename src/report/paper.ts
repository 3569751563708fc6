/**
 * The paper's published numbers (Savransky, Mateless, Katz 2021, "Secure Machine Learning in the Cloud Using One
 * Way Scrambling by Deconvolution", arXiv:2111.03125), placed beside ours in the report. Only figures we hold are
 * listed; a table cell without one reads "—".
 */
export interface PaperFigure {
  /** IIN top-1 / top-5 on scrambled images. */
  top1?: number;
  top5?: number;
  /** The cloud's own top-1 on plaintext images. */
  cloudPlaintextTop1?: number;
  note?: string;
}

/** experiment name → setting id → the paper's figure for the nearest setting. */
export const PAPER: Record<string, Record<string, PaperFigure>> = {
  'same-labels': {
    cifar10: { top1: 0.865, cloudPlaintextTop1: 0.933, note: 'CIFAR-10' },
    imagenet: { top1: 0.679, cloudPlaintextTop1: 0.777, note: 'ImageNet, 1000 labels' },
  },
  'label-subsets': {
    'imagenette-10': { top1: 0.955, top5: 0.999, note: 'ImageNet, 10-label subset' },
  },
};

export const PAPER_TRAIN_SIZE_NOTE = 'the paper finds that about 35 images per label suffice';
