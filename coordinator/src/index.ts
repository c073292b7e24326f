export * from './coordinator';
export * from './local-launcher';
