/** Layout and zero-shot prompt of one of the standard few-shot transfer data sets, as CoOp prepares it. */
export interface CoopDatasetInfo {
  /** Name of the data set class in CoOp, which is also the `<Name>` of its `split_zhou_<Name>.json`. */
  readonly name: string;
  /** Other names the data set is known by (case does not matter when looking one up). */
  readonly aliases: readonly string[];
  /** Folder of the data set under CoOp's data root. */
  readonly folder: string;
  /** The split file in `folder`, or undefined when CoOp builds the split from the data set's own lists. */
  readonly splitFile: string | undefined;
  /** Folder, relative to `folder`, that the image paths of the split are relative to. The empty string is `folder` itself. */
  readonly imageDir: string;
  /** Zero-shot prompt template, in which `{}` is replaced by the class name. */
  readonly template: string;
}

/** The template used when a data set has no template of its own. */
export const defaultTemplate = 'a photo of a {}.';

// Sources, read from KaiyangZhou/CoOp: templates from CUSTOM_TEMPLATES in trainers/zsclip.py, folders and image
// folders from the dataset_dir and image_dir of each class in datasets/*.py, split files from DATASETS.md.
// FGVCAircraft and ImageNet have no split_zhou file: CoOp reads them from the data sets' own lists.
const entry = (name: string, aliases: readonly string[], folder: string, splitFile: string | undefined, imageDir: string, template: string): CoopDatasetInfo => ({
  name,
  aliases,
  folder,
  splitFile,
  imageDir,
  template,
});

/** The standard data sets of CoOp's few-shot transfer benchmark. */
export const coopDatasets: readonly CoopDatasetInfo[] = [
  entry('OxfordPets', ['Pets'], 'oxford_pets', 'split_zhou_OxfordPets.json', 'images', 'a photo of a {}, a type of pet.'),
  entry('OxfordFlowers', ['Flowers102', 'Flowers'], 'oxford_flowers', 'split_zhou_OxfordFlowers.json', 'jpg', 'a photo of a {}, a type of flower.'),
  entry('FGVCAircraft', ['Aircraft'], 'fgvc_aircraft', undefined, 'images', 'a photo of a {}, a type of aircraft.'),
  entry('DescribableTextures', ['DTD'], 'dtd', 'split_zhou_DescribableTextures.json', 'images', '{} texture.'),
  entry('EuroSAT', [], 'eurosat', 'split_zhou_EuroSAT.json', '2750', 'a centered satellite photo of {}.'),
  entry('StanfordCars', ['Cars'], 'stanford_cars', 'split_zhou_StanfordCars.json', '', 'a photo of a {}.'),
  entry('Food101', [], 'food-101', 'split_zhou_Food101.json', 'images', 'a photo of {}, a type of food.'),
  entry('SUN397', [], 'sun397', 'split_zhou_SUN397.json', 'SUN397', 'a photo of a {}.'),
  entry('Caltech101', [], 'caltech-101', 'split_zhou_Caltech101.json', '101_ObjectCategories', 'a photo of a {}.'),
  entry('UCF101', [], 'ucf101', 'split_zhou_UCF101.json', 'UCF-101-midframes', 'a photo of a person doing {}.'),
  entry('ImageNet', [], 'imagenet', undefined, 'images', 'a photo of a {}.'),
];

/** Finds a standard data set by its CoOp name, an alias or its folder name, ignoring case. */
export function findCoopDataset(name: string): CoopDatasetInfo | undefined {
  const key = name.toLowerCase();
  return coopDatasets.find((info) => [info.name, info.folder, ...info.aliases].some((candidate) => candidate.toLowerCase() === key));
}

/** Returns CoOp's zero-shot template for a standard data set, or undefined for any other name. */
export function coopTemplate(name: string): string | undefined {
  return findCoopDataset(name)?.template;
}
