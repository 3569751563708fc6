/** Dataset loaders (CIFAR-10/100, Tiny-ImageNet, GTSRB, class folders), format detection and seeded splits. */
export { loadDataset, detectFormat, type DatasetFormat, type LoadOptions } from './detect.js';
export { loadFolders, listImages, classFolders } from './folders.js';
export { loadCifar10, loadCifar100, planarToInterleaved, CIFAR_SIDE } from './cifar.js';
export { loadTinyImagenet } from './tiny-imagenet.js';
export { loadGtsrb, GTSRB_CLASSES } from './gtsrb.js';
export { IMAGE_EXTENSIONS, isImageFile, byCodePoint } from './common.js';
export {
  selectLabels,
  samplePerLabel,
  stratifiedSplit,
  prepareDataset,
  type ShortLabel,
  type PrepareOptions,
  type Prepared,
} from './split.js';
