// gate_f32: the MLP activation (spec §2.2): up ← SiLU(gate) ⊙ up ("silu"), or up ← max(up, 0)²
// ("relu2", no gate). Grid: (⌈width / 64⌉, T).

struct GateParams {
  width: u32, // F
  relu2: u32,
}

@group(0) @binding(0) var<uniform> p: GateParams;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read_write> up: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= p.width || gid.y >= step.rows) { return; }
  let i = gid.y * p.width + gid.x;
  if (p.relu2 == 1u) {
    let v = max(up[i], 0.0);
    up[i] = v * v;
  } else {
    up[i] = silu(gate[i]) * up[i];
  }
}
