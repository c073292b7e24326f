/**
 * Allocation-free replacements for the tfjs CPU backend's broadcasting binary ops, Transpose and
 * Slice, whose per-element index arrays dominated a training step. Same results, bit for bit.
 */
export { installFastCpuKernels, uninstallFastCpuKernels } from './install';
