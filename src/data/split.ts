/** Which half of a dataset: 'val' is the held-out split (IDX `t10k`, CIFAR `test`, folder `val/`). */
export type Split = 'train' | 'val';
