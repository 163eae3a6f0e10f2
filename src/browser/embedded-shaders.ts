// The WGSL kernels as a ShaderSource for browser bundles: inlined at build time by
// scripts/build-browser.ts (virtual module 'hymba:embedded'), so no shader is fetched at run time.
// Must not import: worker/, Node built-ins. Only bundles built by scripts/build-browser.ts resolve it.
import { wgsl } from 'hymba:embedded'
import type { ShaderSource } from '../webgpu/kernels.ts'

export const embeddedShaders: ShaderSource = async (file) => {
  const code = wgsl[file]
  if (code === undefined) throw new Error(`kernels/wgsl/${file} is not in this bundle`)
  return code
}
