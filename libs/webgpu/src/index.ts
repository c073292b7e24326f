/**
 * @ringtrain/webgpu: tfjs on WebGPU (Dawn over Vulkan) in Node — what the machine has, the
 * adapter, the backend's registration.
 */
export { activeAdapter, describeAdapter, initWebgpuBackend, type AdapterSummary, type WebgpuInit, type WebgpuOptions } from './backend';
export { vulkanHelp, vulkanPresence, type VulkanPresence } from './vulkan';
