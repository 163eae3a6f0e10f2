// A ShaderSource over kernels/wgsl/ on the local file system (Deno and Node: tests, scripts).
// Must not import: worker/.
import { readFile } from 'node:fs/promises'
import type { ShaderSource } from '../webgpu/kernels.ts'

const WGSL_DIR = new URL('../../kernels/wgsl/', import.meta.url)

export const wgslFiles: ShaderSource = (file) => readFile(new URL(file, WGSL_DIR), 'utf8')
