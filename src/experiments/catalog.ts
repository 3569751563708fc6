/**
 * The experiments of the paper's section 4, mapped to the models and data in ../shared, plus the ablations and
 * the cloud-gain study the paper leaves out. Each is a list of settings (table rows); `quick` shrinks every one of
 * them to a few images so CI can exercise the whole suite in minutes.
 *
 * Model mapping (the paper's models are not available here):
 * - encoder: MobileNetV2 int8 (1280-d) in place of the paper's ResNet50 (2048-d);
 * - ImageNet cloud: ShuffleNetV2 (1000-way); CIFAR-10 cloud: ResNet-20; CIFAR-100 cloud: MobileNetV3-small;
 * - ImageNet data: Tiny-ImageNet's validation images (64 px, 200 of its 202 synsets), scored by the 1000-way cloud.
 */
import type { InputSet, Setting } from './setting.js';
import type { FeatureConfig } from './context.js';

export const ENCODER = 'mobilenetv2-12-int8';
export const IMAGENET_CLOUD = 'shufflenet-v2-12-qdq';
export const CIFAR10_CLOUD = 'cifar10-resnet20';
export const CIFAR100_CLOUD = 'cifar100-mobilenetv3-small-128';
export const WEAK_ENCODER = 'mobilenet-v1-0.25-224-tfjs';

export interface Experiment {
  name: string;
  /** Which part of the paper it reproduces. */
  paper: string;
  title: string;
  description: string;
  settings(quick: boolean): Setting[];
  /** Pairs of setting ids whose top-1 (with the cloud) is compared by a paired t-test over the repetitions. */
  compare?: Array<[string, string]>;
}

/** Every row trains the IIN on both, on the embedding alone, on the cloud vector alone, and the shuffled-cloud control. */
const ALL: InputSet[] = ['both', 'embedding', 'cloud', 'both-shuffled'];
const WITH_PLAIN: InputSet[] = [...ALL, 'plain-both', 'plain-cloud'];

/** Full-size value, or the quick one. */
const q = (quick: boolean, full: number, small: number): number => (quick ? small : full);

const imagenette = (quick: boolean, perLabel: number) => ({ dataset: 'imagenette-val', perLabel: q(quick, perLabel, 8) });

export const EXPERIMENTS: Experiment[] = [
  {
    name: 'same-labels',
    paper: 'Use-case 1 (Table 1)',
    title: 'Same labels in the confidential data and the cloud',
    description: 'The cloud was trained on the same labels as the confidential data. 90/10 splits as in the paper.',
    settings: (quick) => [
      {
        id: 'cifar10',
        label: 'CIFAR-10',
        selection: { dataset: 'cifar-10', perLabel: q(quick, 300, 8) },
        features: { dataset: 'cifar-10', encoders: [ENCODER], cloud: CIFAR10_CLOUD },
        testFraction: 0.1,
        inputs: ALL,
        plaintextReference: true,
      },
      {
        id: 'cifar100',
        label: 'CIFAR-100',
        selection: { dataset: 'cifar-100', perLabel: q(quick, 30, 6), labels: quick ? 10 : undefined },
        features: { dataset: 'cifar-100', encoders: [ENCODER], cloud: CIFAR100_CLOUD },
        testFraction: 0.1,
        inputs: ALL,
        plaintextReference: true,
      },
      {
        id: 'imagenet',
        label: 'ImageNet-like (Tiny-ImageNet, 200 labels, 1000-way cloud)',
        selection: { dataset: 'tiny-imagenet-val', labels: q(quick, 200, 10), perLabel: q(quick, 25, 6) },
        features: { dataset: 'tiny-imagenet-val', encoders: [ENCODER], cloud: IMAGENET_CLOUD },
        testFraction: 0.1,
        inputs: ALL,
        plaintextReference: true,
      },
    ],
  },
  {
    name: 'label-subsets',
    paper: 'Use-case 2 (Table 2)',
    title: 'Subsets of the cloud\'s labels',
    description: 'The confidential data uses a subset of the cloud\'s labels: 10 (Imagenette) and 100 (Tiny-ImageNet), 50 images per label, 70/30 splits.',
    settings: (quick) => [
      {
        id: 'imagenette-10',
        label: 'Imagenette, 10 labels',
        selection: imagenette(quick, 50),
        features: { dataset: 'imagenette-val', encoders: [ENCODER], cloud: IMAGENET_CLOUD },
        testFraction: 0.3,
        inputs: ALL,
        plaintextReference: true,
      },
      {
        id: 'tiny-100',
        label: 'Tiny-ImageNet, 100 labels',
        selection: { dataset: 'tiny-imagenet-val', labels: q(quick, 200, 10), perLabel: q(quick, 50, 8), keepLabels: q(quick, 100, 5) },
        features: { dataset: 'tiny-imagenet-val', encoders: [ENCODER], cloud: IMAGENET_CLOUD },
        testFraction: 0.3,
        inputs: ALL,
        plaintextReference: true,
      },
    ],
  },
  {
    name: 'unseen-labels',
    paper: 'Use-case 3 (Table 3)',
    title: 'Labels the cloud never saw',
    description: 'The cloud is the CIFAR-100 model; the confidential labels are 10 ImageNet classes absent from CIFAR-100 (Imagenette, 150 per label) and the 43 GTSRB traffic signs (50 per label); 70/30 splits.',
    settings: (quick) => [
      {
        id: 'imagenette',
        label: 'Imagenette (10 labels) → CIFAR-100 cloud',
        selection: imagenette(quick, 150),
        features: { dataset: 'imagenette-val', encoders: [ENCODER], cloud: CIFAR100_CLOUD },
        testFraction: 0.3,
        inputs: ALL,
      },
      {
        id: 'gtsrb',
        label: 'GTSRB (43 labels) → CIFAR-100 cloud',
        selection: { dataset: 'gtsrb-test', perLabel: q(quick, 50, 6), labels: quick ? 8 : undefined },
        features: { dataset: 'gtsrb-test', encoders: [ENCODER], cloud: CIFAR100_CLOUD },
        testFraction: 0.3,
        inputs: ALL,
      },
    ],
  },
  {
    name: 'encoders',
    paper: 'Use-case 4 (Table 4)',
    title: 'Ensembles of 1, 2 and 3 encoders',
    description: 'The embeddings of several encoders are concatenated and scrambled together; Imagenette, 10 labels, 50 per label, 70/30. Paired t-tests over the repetitions compare the settings.',
    settings: (quick) =>
      [[ENCODER], [ENCODER, WEAK_ENCODER], [ENCODER, WEAK_ENCODER, CIFAR100_CLOUD]].map((encoders) => ({
        id: `encoders-${encoders.length}`,
        label: encoders.join(' + '),
        selection: imagenette(quick, 50),
        features: { dataset: 'imagenette-val', encoders, cloud: IMAGENET_CLOUD },
        testFraction: 0.3,
        inputs: ALL,
      })),
    compare: [
      ['encoders-1', 'encoders-2'],
      ['encoders-2', 'encoders-3'],
      ['encoders-1', 'encoders-3'],
    ],
  },
  {
    name: 'train-size',
    paper: 'Use-case 5 (Figure 2)',
    title: 'Accuracy against training images per label',
    description: 'Imagenette, 10 labels, 150 per label: 30% held out for testing, then 5 to 45 training images per label drawn from the rest.',
    settings: (quick) =>
      (quick ? [2, 4] : [5, 10, 15, 20, 25, 30, 35, 40, 45]).map((n, i) => ({
        id: `per-label-${n}`,
        label: `${n} images per label`,
        selection: imagenette(quick, 150),
        features: { dataset: 'imagenette-val', encoders: [ENCODER], cloud: IMAGENET_CLOUD },
        testFraction: 0.3,
        trainPerLabel: n,
        inputs: ['both', 'embedding'] as InputSet[],
        attack: i === 0,
      })),
  },
  {
    name: 'ablations',
    paper: 'beyond the paper',
    title: 'Ablations: image size, several keys, hidden size',
    description: 'Imagenette, 10 labels, 50 per label, 70/30. Every row also gives the IIN on the embedding alone (no cloud) and on the cloud vectors alone.',
    settings: (quick) => {
      const base = { selection: imagenette(quick, 50), testFraction: 0.3 };
      const cfg = { dataset: 'imagenette-val', encoders: [ENCODER], cloud: IMAGENET_CLOUD };
      return [
        ...[32, 64, 128, 256].map((size) => ({ ...base, id: `size-${size}`, label: `${size}x${size} scrambled images`, features: { ...cfg, imageSize: size }, inputs: ALL })),
        ...[2, 3].map((k) => ({ ...base, id: `keys-${k}`, label: `${k} keys at once`, features: { ...cfg, keys: ['k0', 'k1', 'k2'].slice(0, k) }, inputs: ALL, attack: false })),
        ...[64, 128, 256, 1024].map((h) => ({ ...base, id: `hidden-${h}`, label: `hidden layer ${h}`, features: cfg, inputs: ['both', 'embedding'] as InputSet[], iin: { hidden: h }, attack: false })),
      ];
    },
    compare: [
      ['size-256', 'keys-2'],
      ['size-256', 'keys-3'],
      ['size-256', 'size-32'],
    ],
  },
  {
    name: 'cloud-gain',
    paper: 'beyond the paper',
    title: 'Where the cloud helps: weak local encoders, strong cloud',
    description:
      'The cloud is MobileNetV2 (ImageNet); the organization\'s encoder is much weaker. Beside the IIN with the scrambled cloud, the same IIN fed the cloud\'s answer on the PLAINTEXT image shows what the cloud could add if it saw the image.',
    settings: (quick) => [
      ...[IMAGENET_CLOUD, WEAK_ENCODER, CIFAR100_CLOUD, CIFAR10_CLOUD].map((enc) => ({
        id: `imagenette-${enc}`,
        label: `Imagenette (10 labels), encoder ${enc}`,
        selection: imagenette(quick, 50),
        features: { dataset: 'imagenette-val', encoders: [enc], cloud: ENCODER },
        testFraction: 0.3,
        inputs: WITH_PLAIN,
        plaintextReference: true,
      })),
      ...[100, 200].map((labels) => ({
        id: `tiny-${labels}`,
        label: `Tiny-ImageNet (${labels} labels), encoder ${CIFAR100_CLOUD}`,
        selection: { dataset: 'tiny-imagenet-val', labels: q(quick, 200, 10), perLabel: q(quick, 25, 6), keepLabels: labels === 200 ? undefined : q(quick, 100, 5) },
        features: { dataset: 'tiny-imagenet-val', encoders: [CIFAR100_CLOUD], cloud: ENCODER },
        testFraction: 0.3,
        inputs: WITH_PLAIN,
        plaintextReference: true,
      })),
    ],
  },
];

/** The scrambler designs of the design study (issue 7): each a change to the paper's generator or how it is used. */
export const DESIGNS: Array<{ id: string; label: string; features: Partial<FeatureConfig> }> = [
  { id: 'paper', label: "paper's design: 256 px, 1024 channels, deterministic", features: {} },
  { id: 'size-64', label: '64 px output (smooth after the cloud resizes it)', features: { imageSize: 64 } },
  { id: 'size-32', label: '32 px output (smooth after the cloud resizes it)', features: { imageSize: 32 } },
  { id: 'width-256', label: 'narrow generator: 256 channels', features: { baseChannels: 256 } },
  { id: 'size-192-width-256', label: '192 px output, 256 channels', features: { imageSize: 192, baseChannels: 256 } },
  { id: 'size-96-width-256', label: '96 px output, 256 channels', features: { imageSize: 96, baseChannels: 256 } },
  { id: 'size-80-width-256', label: "80 px output, 256 channels (Rekognition's minimum side)", features: { imageSize: 80, baseChannels: 256 } },
  { id: 'keys-2', label: 'two views: two keys per image', features: { keys: ['k0', 'k1'] } },
  { id: 'pool-4', label: 'pool of 4 keys, chosen by a hash of the image', features: { keyPool: 4 } },
  { id: 'noise-1', label: 'fresh embedding noise per submission, 1x RMS', features: { embeddingNoise: 1 } },
  { id: 'noise-2', label: 'fresh embedding noise per submission, 2x RMS', features: { embeddingNoise: 2 } },
  { id: 'noise-4', label: 'fresh embedding noise per submission, 4x RMS', features: { embeddingNoise: 4 } },
  { id: 'noise-2-pool-4', label: 'noise 2x RMS and a pool of 4 keys', features: { embeddingNoise: 2, keyPool: 4 } },
  { id: 'blocks-56', label: 'block-wise scrambling of the image (16 blocks of 56 px, key-permuted, each rotated, mirrored, inverted, channels shuffled)', features: { blocks: { block: 56 }, imageSize: 224 } },
  { id: 'blocks-16', label: 'block-wise scrambling of the image (196 blocks of 16 px, likewise)', features: { blocks: { block: 16 }, imageSize: 224 } },
  { id: 'blocks-56-permute', label: 'block permutation only (16 blocks of 56 px)', features: { blocks: { block: 56, transformBlocks: false }, imageSize: 224 } },
];

const DESIGN_SETTINGS: Array<{ id: string; label: string; selection: (quick: boolean) => Setting['selection']; features: FeatureConfig; designs: string[] }> = [
  {
    id: 'imagenette-weak',
    label: 'Imagenette (10 labels), weak encoder MobileNet v1 0.25, MobileNetV2 cloud',
    selection: (quick) => imagenette(quick, 50),
    features: { dataset: 'imagenette-val', encoders: [WEAK_ENCODER], cloud: ENCODER },
    designs: DESIGNS.map((d) => d.id),
  },
  {
    id: 'cifar10',
    label: 'CIFAR-10, MobileNetV2 encoder, ResNet-20 cloud (92% on plaintext)',
    selection: (quick) => ({ dataset: 'cifar-10', perLabel: q(quick, 50, 8) }),
    features: { dataset: 'cifar-10', encoders: [ENCODER], cloud: CIFAR10_CLOUD },
    designs: ['paper', 'size-32', 'noise-2', 'noise-4', 'pool-4'],
  },
  {
    id: 'cifar100-weak',
    label: 'CIFAR-100 (100 labels), weak encoder MobileNet v1 0.25, MobileNetV3 cloud',
    selection: (quick) => ({ dataset: 'cifar-100', perLabel: q(quick, 15, 4), labels: quick ? 10 : undefined }),
    features: { dataset: 'cifar-100', encoders: [WEAK_ENCODER], cloud: CIFAR100_CLOUD },
    designs: ['paper', 'size-32', 'noise-2'],
  },
];

EXPERIMENTS.push({
  name: 'design',
  paper: 'beyond the paper (issue 7)',
  title: 'Scrambler designs: accuracy, cloud gain, attack success, cost',
  description:
    'Each design changes the paper\'s generator or how it is used. Beside the IIN and the embedding alone: the same IIN with the cloud vectors shuffled across images (a gain that survives the shuffle is not the cloud\'s), and every attacker of the suite (pixel 1-NN, pooled pixels + class means, cloud-vector 1-NN and logistic regression) with k = 1, 5, 20 labelled leaks per class; the best one counts.',
  settings: (quick) =>
    DESIGN_SETTINGS.flatMap((base) =>
      base.designs.filter((id) => !quick || ['paper', 'noise-2', 'size-32'].includes(id)).map((id) => {
        const d = DESIGNS.find((x) => x.id === id)!;
        return {
          id: `${base.id}/${d.id}`,
          label: `${base.label}; ${d.label}`,
          selection: base.selection(quick),
          features: { ...base.features, ...d.features },
          testFraction: 0.3,
          inputs: ['both', 'embedding', 'cloud', 'both-shuffled'] as InputSet[],
          attack: { perClass: q(quick, 40, 6), maxClasses: 20 },
          attackCurve: quick ? [1, 2] : [1, 5, 20],
        };
      }),
    ),
});

export function findExperiment(name: string): Experiment | undefined {
  return EXPERIMENTS.find((e) => e.name === name);
}
