// Deno-side helpers of the WebGPU test tier: running one WGSL kernel on given buffers, seeded
// random data and size·ε tolerances. Runs under Deno (WebGPU), imported by kernel-checks.ts.
import { ParamArena, readBack, storage, type Gpu, type ParamBlock } from '../../src/webgpu/gpu.ts'
import type { KernelName, KernelSet } from '../../src/webgpu/kernels.ts'

export { expectClose } from '../support/fixture-format.ts'

/** f32 machine epsilon (2^-23). */
export const EPS = 2 ** -23

/** f16 unit roundoff (2^-11): the relative error of rounding a normal f32 to f16. */
export const EPS16 = 2 ** -11

/** WGSL's exp() bound: 3 + 2·|x| ULP (WGSL spec, floating-point accuracy). */
export const expUlps = (maxArg: number) => 3 + 2 * maxArg

export const maxAbs = (a: ArrayLike<number>) => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]))
  return m
}

/** Deterministic uniform floats in [-scale, scale) (mulberry32). */
export function seeded(seed: number): (n: number, scale?: number) => Float32Array {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return (n, scale = 1) => Float32Array.from({ length: n }, () => (2 * next() - 1) * scale)
}

/** Data to upload, zeros of a byte size, or a buffer already on the GPU (a weight matrix). */
export type Input = ArrayBufferView | { readonly zeros: number } | GPUBuffer

/** Run kernel `name` once: params, a Step of [rows, first, pos0, rule], then `buffers` in binding order. */
export async function dispatch(
  gpu: Gpu,
  kernels: KernelSet,
  name: KernelName,
  params: ParamBlock,
  step: readonly [number, number, number, number],
  inputs: readonly Input[],
  grid: readonly [number, number, number],
): Promise<{ read: (binding: number) => Promise<Float32Array>; readInt: (binding: number) => Promise<Int32Array> }> {
  const device = gpu.device
  const arena = new ParamArena(device, name)
  const slot = arena.add(params)
  arena.finish()
  const stepBuffer = storageUniform(device, new Uint32Array(step))
  const buffers = inputs.map((input, i) =>
    input instanceof GPUBuffer ? input : 'zeros' in input ? storage(device, `${name} ${i}`, input.zeros) : storage(device, `${name} ${i}`, input.byteLength, input),
  )
  const group = kernels.bind(name, [arena.binding(slot), stepBuffer, ...buffers])
  const encoder = device.createCommandEncoder()
  const pass = encoder.beginComputePass()
  pass.setPipeline(kernels.get(name).pipeline)
  pass.setBindGroup(0, group)
  pass.dispatchWorkgroups(...grid)
  pass.end()
  device.queue.submit([encoder.finish()])
  const sizeOf = (i: number) => {
    const input = inputs[i]
    return input instanceof GPUBuffer ? input.size : 'zeros' in input ? input.zeros : input.byteLength
  }
  return {
    read: async (binding) => new Float32Array(await readBack(device, buffers[binding - 2], sizeOf(binding - 2))),
    readInt: async (binding) => new Int32Array(await readBack(device, buffers[binding - 2], sizeOf(binding - 2))),
  }
}

function storageUniform(device: GPUDevice, data: Uint32Array): GPUBuffer {
  const buffer = device.createBuffer({ size: 16, usage: 0x40 | 0x8 }) // UNIFORM | COPY_DST
  device.queue.writeBuffer(buffer, 0, data)
  return buffer
}

