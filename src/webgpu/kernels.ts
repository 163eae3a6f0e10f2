// The WGSL kernels (kernels/wgsl/*.wgsl): which files make each one, its bindings, and compiling
// them into pipelines with explicit layouts (so matvec and matmul of a format share bind groups).
// The f16 kernels (`enable f16;`) are compiled only on devices created with `shader-f16`.
// Must not import: worker/, Node built-ins, src/model.ts.
import { COMPUTE_STAGE } from './gpu.ts'

/** Reads a file of kernels/wgsl/ (fetch in a browser, the file system in Deno/Node). */
export type ShaderSource = (file: string) => Promise<string>

/** How a matrix is stored on the GPU: f32, f16 (f32 weights rounded at upload; the f16 path), int8, int4. */
export type WeightFormat = 'f32' | 'f16' | 'q8' | 'q4'
type Access = 'uniform' | 'read' | 'rw'

interface KernelSpec {
  readonly files: readonly string[]
  readonly bindings: readonly Access[]
  /** Needs the `shader-f16` feature (`enable f16;` is put first in the module). */
  readonly f16?: boolean
}

const WEIGHT_FILES: Record<WeightFormat, string> = { f32: 'weights_f32.wgsl', f16: 'weights_f16.wgsl', q8: 'weights_q8.wgsl', q4: 'weights_q4.wgsl' }
// params, step, x | ids, out, weight data, (scales)
const weightBindings = (format: WeightFormat): Access[] => ['uniform', 'uniform', 'read', 'rw', 'read', ...(format === 'q8' || format === 'q4' ? ['read' as const] : [])]

const matrixKernels = (format: WeightFormat) => {
  const fmt = format === 'f32' ? 'f32' : `${format}_f32`
  const f16 = format === 'f16'
  return {
    [`matvec_${fmt}`]: { files: [WEIGHT_FILES[format], 'matmul_common.wgsl', 'matvec.wgsl'], bindings: weightBindings(format), f16 },
    [`matmul_${fmt}`]: { files: [WEIGHT_FILES[format], 'matmul_common.wgsl', 'matmul.wgsl'], bindings: weightBindings(format), f16 },
    [`gather_${fmt}`]: { files: [WEIGHT_FILES[format], 'gather.wgsl'], bindings: weightBindings(format), f16 },
  }
}

export const KERNELS = {
  ...matrixKernels('f32'),
  ...matrixKernels('f16'),
  ...matrixKernels('q8'),
  ...matrixKernels('q4'),
  rmsnorm_f32: { files: ['rmsnorm.wgsl'], bindings: ['uniform', 'uniform', 'read', 'rw', 'read'] },
  norm_mean_f32: { files: ['norm_mean.wgsl'], bindings: ['uniform', 'uniform', 'read', 'rw', 'read'] },
  split_rope_f32: { files: ['split_rope.wgsl'], bindings: ['uniform', 'uniform', 'read', 'read', 'rw', 'rw', 'rw', 'rw', 'rw'] },
  attention_f32: { files: ['attention.wgsl'], bindings: ['uniform', 'uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'rw'] },
  kv_store_f32: { files: ['kv_store.wgsl'], bindings: ['uniform', 'uniform', 'read', 'read', 'rw', 'rw', 'rw'] },
  causal_conv_f32: { files: ['causal_conv.wgsl'], bindings: ['uniform', 'uniform', 'read', 'read', 'rw', 'rw'] },
  ssm_scan_f32: { files: ['ssm_scan.wgsl'], bindings: ['uniform', 'uniform', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'] },
  gate_f32: { files: ['gate.wgsl'], bindings: ['uniform', 'uniform', 'read', 'rw'] },
  top_k_f32: { files: ['top_k.wgsl'], bindings: ['uniform', 'uniform', 'read', 'rw', 'rw'] },
} satisfies Record<string, KernelSpec>

export type KernelName = keyof typeof KERNELS

/** Names of the matrix kernels for a weight format. */
export function matrixKernelNames(format: WeightFormat): { matvec: KernelName; matmul: KernelName; gather: KernelName } {
  const fmt = format === 'f32' ? 'f32' : `${format}_f32`
  return { matvec: `matvec_${fmt}` as KernelName, matmul: `matmul_${fmt}` as KernelName, gather: `gather_${fmt}` as KernelName }
}

/** Every kernel this device can compile: the f16 ones only with `shader-f16`. */
export function supportedKernels(device: GPUDevice): KernelName[] {
  const f16 = device.features.has('shader-f16')
  return (Object.keys(KERNELS) as KernelName[]).filter((name) => f16 || !(KERNELS[name] as KernelSpec).f16)
}

export interface Kernel {
  readonly name: KernelName
  readonly pipeline: GPUComputePipeline
  readonly layout: GPUBindGroupLayout
}

/** A binding: a whole buffer or a range of one. */
export type Resource = GPUBuffer | GPUBufferBinding

/** Compiled kernels of one device. */
export class KernelSet {
  private constructor(
    private readonly device: GPUDevice,
    private readonly kernels: ReadonlyMap<KernelName, Kernel>,
  ) {}

  /** Compile `names` (default: every kernel the device supports) from their WGSL files; common.wgsl is prepended to each. */
  static async compile(device: GPUDevice, source: ShaderSource, names: readonly KernelName[] = supportedKernels(device)): Promise<KernelSet> {
    const files = new Map<string, Promise<string>>()
    const read = (file: string) => {
      if (!files.has(file)) files.set(file, source(file))
      return files.get(file)!
    }
    const layouts = new Map<string, GPUBindGroupLayout>() // one per binding signature: matvec and matmul share
    const layoutFor = (bindings: readonly Access[]) => {
      const key = bindings.join(',')
      if (!layouts.has(key))
        layouts.set(
          key,
          device.createBindGroupLayout({
            label: key,
            entries: bindings.map((access, binding) => ({
              binding,
              visibility: COMPUTE_STAGE,
              buffer: { type: access === 'uniform' ? 'uniform' : access === 'read' ? 'read-only-storage' : 'storage' },
            })),
          }),
        )
      return layouts.get(key)!
    }
    const compiled = await Promise.all(
      names.map(async (name): Promise<Kernel> => {
        const spec: KernelSpec = KERNELS[name]
        if (spec.f16 && !device.features.has('shader-f16')) throw new Error(`kernel ${name} needs the shader-f16 feature, which this device lacks`)
        const parts = await Promise.all(['common.wgsl', ...spec.files].map(read))
        const code = (spec.f16 ? ['enable f16;', ...parts] : parts).join('\n') // directives precede every declaration
        const module = device.createShaderModule({ label: name, code })
        const layout = layoutFor(spec.bindings)
        const pipeline = await device
          .createComputePipelineAsync({ label: name, layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } })
          .catch(async (err: unknown) => {
            const info = await module.getCompilationInfo()
            const messages = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n')
            throw new Error(`kernel ${name} failed to compile: ${(err as Error).message}\n${messages}`)
          })
        return { name, pipeline, layout }
      }),
    )
    return new KernelSet(device, new Map(compiled.map((k) => [k.name, k])))
  }

  get(name: KernelName): Kernel {
    const kernel = this.kernels.get(name)
    if (!kernel) throw new Error(`kernel ${name} was not compiled`)
    return kernel
  }

  /** A bind group for `name` with one resource per binding, in binding order. */
  bind(name: KernelName, resources: readonly Resource[]): GPUBindGroup {
    const kernel = this.get(name)
    return this.device.createBindGroup({
      label: name,
      layout: kernel.layout,
      entries: resources.map((r, binding) => ({ binding, resource: r instanceof GPUBuffer ? { buffer: r } : r })),
    })
  }
}
