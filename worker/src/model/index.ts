/** What the rest of the worker sets on the model from outside (backend.ts: the ops' form). */
export { useDeviceOps } from './ops-mode';
