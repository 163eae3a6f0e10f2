// Compiles an AssemblyScript entry under kernels/ to wasm bytes in memory, with the flags every
// kernel module uses. Shared by scripts/build-wasm.ts and scripts/bench-kernels.ts.
// Owns: the AssemblyScript compiler flags.
// Must not import: src/, wasm/.
import asc from 'assemblyscript/asc'

// stub runtime: the kernels never allocate; the host owns the (imported, fixed-size) memory.
const FLAGS = ['-O3', '--runtime', 'stub', '--importMemory', '--noAssert', '--use', 'abort=', '--enable', 'simd']

export async function compileKernels(entry: string, options: { relaxed: boolean }): Promise<Uint8Array<ArrayBuffer>> {
  let binary: Uint8Array | undefined
  const flags = options.relaxed ? [...FLAGS, '--enable', 'relaxed-simd'] : FLAGS
  const { error, stderr } = await asc.main([entry, '--outFile', 'out.wasm', ...flags], {
    writeFile(name: string, contents: string | Uint8Array) {
      if (name.endsWith('.wasm') && typeof contents !== 'string') binary = contents
    },
  })
  if (error || !binary) {
    console.error(stderr.toString())
    throw new Error(`asc failed for ${entry}: ${error?.message ?? 'no output'}`)
  }
  return new Uint8Array(binary) // an own ArrayBuffer, as WebAssembly.compile's BufferSource wants
}
