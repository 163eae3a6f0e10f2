// The WebGPU device and the small helpers every part of the WebGPU backend shares: storage
// buffers, the uniform arena for per-dispatch parameters, reading a buffer back.
// Owns: device acquisition (limits, shader-f16). Must not import: worker/, Node built-ins, src/model.ts.

/** A device with the limits the Hymba kernels were written for. */
export interface Gpu {
  readonly device: GPUDevice
  readonly adapterName: string
  /** The adapter offers `shader-f16` (the device was created with it). */
  readonly f16: boolean
  /** A CPU implementation (SwiftShader: GPUAdapterInfo.isFallbackAdapter); the WASM-SIMD backend is faster there. */
  readonly fallback: boolean
}

export class NoWebGpu extends Error {
  override readonly name = 'NoWebGpu'
}

/** Request an adapter and a device with the adapter's largest storage-buffer limits. */
export async function requestGpu(gpu: GPU | undefined = globalThis.navigator?.gpu): Promise<Gpu> {
  if (!gpu) throw new NoWebGpu('navigator.gpu is undefined: this host has no WebGPU')
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' })
  if (!adapter) throw new NoWebGpu('requestAdapter() returned null: no WebGPU adapter (no GPU driver?)')
  const f16 = adapter.features.has('shader-f16')
  const device = await adapter.requestDevice({
    requiredFeatures: f16 ? ['shader-f16'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(adapter.limits.maxStorageBuffersPerShaderStage, 10),
    },
  })
  const info = adapter.info
  const fallback = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false
  return { device, adapterName: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' '), f16, fallback }
}

/** GPUBufferUsage / GPUMapMode / GPUShaderStage flags (the spec's values; not every lib declares the globals). */
export const Usage = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const
export const MAP_READ = 0x1
export const COMPUTE_STAGE = 0x4

const STORAGE = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST

/** A storage buffer of `bytes` (rounded up to 16), zeroed, or holding `data`. */
export function storage(device: GPUDevice, label: string, bytes: number, data?: ArrayBufferView): GPUBuffer {
  const size = Math.max(16, Math.ceil(bytes / 16) * 16)
  const buffer = device.createBuffer({ label, size, usage: STORAGE, mappedAtCreation: data !== undefined })
  if (data) {
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    buffer.unmap()
  }
  return buffer
}

/** Copy `bytes` from a GPU buffer into a fresh ArrayBuffer. */
export async function readBack(device: GPUDevice, source: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: Usage.MAP_READ | Usage.COPY_DST })
  const encoder = device.createCommandEncoder()
  encoder.copyBufferToBuffer(source, offset, staging, 0, staging.size)
  device.queue.submit([encoder.finish()])
  await staging.mapAsync(MAP_READ)
  const copy = staging.getMappedRange().slice(0, bytes)
  staging.unmap()
  staging.destroy()
  return copy
}

/** A uniform parameter block: u32 fields first, then f32 fields (the WGSL structs follow this order). */
export interface ParamBlock {
  readonly u32: readonly number[]
  readonly f32?: readonly number[]
}

const SLOT = 256 // minUniformBufferOffsetAlignment

/** Every dispatch's parameters in one uniform buffer, one 256-byte slot each: add all, then finish(). */
export class ParamArena {
  private readonly blocks: ParamBlock[] = []
  private buffer: GPUBuffer | null = null

  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
  ) {}

  /** Reserve a slot for `block`; returns its index for binding(). */
  add(block: ParamBlock): number {
    if (this.buffer) throw new Error('ParamArena: add() after finish()')
    if (4 * (block.u32.length + (block.f32?.length ?? 0)) > SLOT) throw new Error('ParamArena: a block exceeds one slot')
    this.blocks.push(block)
    return this.blocks.length - 1
  }

  /** Upload every block. */
  finish(): void {
    const bytes = new ArrayBuffer(Math.max(1, this.blocks.length) * SLOT)
    this.blocks.forEach((block, i) => {
      new Uint32Array(bytes, i * SLOT, block.u32.length).set(block.u32)
      if (block.f32) new Float32Array(bytes, i * SLOT + 4 * block.u32.length, block.f32.length).set(block.f32)
    })
    this.buffer = this.device.createBuffer({ label: this.label, size: bytes.byteLength, usage: Usage.UNIFORM | Usage.COPY_DST })
    this.device.queue.writeBuffer(this.buffer, 0, bytes)
  }

  binding(slot: number): GPUBufferBinding {
    if (!this.buffer) throw new Error('ParamArena: binding() before finish()')
    const block = this.blocks[slot]
    const words = block.u32.length + (block.f32?.length ?? 0)
    return { buffer: this.buffer, offset: slot * SLOT, size: Math.ceil(words / 4) * 16 }
  }

  destroy(): void {
    this.buffer?.destroy()
  }
}
