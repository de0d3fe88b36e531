// The repository's fixed train/test split of the 10,000-digit set (splitMnist) as JSON, for the PyTorch replicas in this folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadMnistNode } from '../../src/data/mnist-node';
import { splitMnist } from '../../src/data/mnist';
mkdirSync('repro-results/torch', { recursive: true });
writeFileSync('repro-results/torch/split.json', JSON.stringify(splitMnist(loadMnistNode())));
