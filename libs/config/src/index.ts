export * from './model';
export * from './optim';
export * from './train-config';
export * from './memory-estimate';
export * from './strategy';
export * from './suggest';
