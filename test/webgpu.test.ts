// The WebGPU tier, run from `npm test`: spawns Deno (devDependency `deno`; WebGPU through wgpu on
// Vulkan, lavapipe on CI: `apt-get install -y mesa-vulkan-drivers`) on test/webgpu/run.ts, which
// checks every WGSL kernel against the reference kernels and fixtures A/B through WebGpuModel, and
// reports each of its checks here. Skips only when no Vulkan driver is installed at all.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'

const ROOT = join(import.meta.dirname, '..')
const DENO = join(ROOT, 'node_modules', '.bin', 'deno')
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']
const vulkanDriver = ICD_DIRS.some((dir) => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.json')))

describe('WebGPU kernels and model (Deno)', () => {
  if (!vulkanDriver) {
    it('needs a Vulkan driver', { skip: `no Vulkan ICD in ${ICD_DIRS.join(', ')}: apt-get install -y mesa-vulkan-drivers` }, () => {})
    return
  }
  const run = spawnSync(DENO, ['run', '--allow-read', '--allow-env', '--allow-sys', 'test/webgpu/run.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', NO_COLOR: '1' },
  })
  const lines = (run.stdout ?? '').split('\n')
  const results = lines.filter((l) => l.startsWith('ok ') || l.startsWith('not ok '))

  it('deno ran the checks on a WebGPU adapter', () => {
    assert.ok(existsSync(DENO), `${DENO} missing: npm ci installs the deno devDependency`)
    assert.equal(run.error, undefined, `spawning deno failed: ${run.error?.message}`)
    assert.ok(!lines.some((l) => l.startsWith('NO_ADAPTER')), `a Vulkan driver is installed but Deno found no WebGPU adapter:\n${run.stdout}\n${run.stderr}`)
    assert.ok(results.length > 0, `no checks reported (exit ${run.status}):\n${run.stdout}\n${run.stderr}`)
    assert.ok(lines.some((l) => /^\d+ passed, \d+ failed$/.test(l)), `run.ts did not finish:\n${run.stdout}\n${run.stderr}`)
  })
  for (const line of results) {
    const ok = line.startsWith('ok ')
    const name = ok ? line.slice(3).replace(/ \(\d+ ms\)$/, '') : line.slice(7).split('\t')[0]
    it(name, () => assert.ok(ok, line))
  }
})
