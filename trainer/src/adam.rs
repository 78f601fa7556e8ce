//! Adam, written out so that its state (first and second moments, step count)
//! can be saved in checkpoints and restored exactly.

use pix2pix_model::tch::nn::VarStore;
use pix2pix_model::tch::{Kind, TchError, Tensor};

pub struct Adam {
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub t: u64,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Adam {
    /// Adam over the trainable variables of `vs`, in name order.
    pub fn new(vs: &VarStore, lr: f64, beta1: f64, beta2: f64) -> Adam {
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let m = named.iter().map(|(_, t)| t.zeros_like()).collect();
        let v = named.iter().map(|(_, t)| t.zeros_like()).collect();
        let (names, params) = named.into_iter().unzip();
        Adam {
            names,
            params,
            m,
            v,
            t: 0,
            lr,
            beta1,
            beta2,
            eps: 1e-8,
        }
    }

    /// Gradients of `loss` with respect to these parameters, returned rather
    /// than accumulated into each parameter's `.grad` (as `torch.autograd.grad`):
    /// no zeroing pass before the backward and no accumulation pass in it.
    pub fn gradients(&self, loss: &Tensor) -> Result<Vec<Tensor>, TchError> {
        Tensor::f_run_backward(&[loss], &self.params, false, false)
    }

    /// Turns gradient tracking of all parameters on or off (the reference
    /// freezes the discriminator while the generator is updated).
    pub fn set_requires_grad(&self, on: bool) {
        for p in &self.params {
            let _ = p.set_requires_grad(on);
        }
    }

    /// One Adam step with `grads` (from [`gradients`](Self::gradients), in
    /// parameter order; an undefined gradient leaves its parameter alone).
    pub fn step(&mut self, grads: &[Tensor]) {
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let step_size = self.lr / bc1;
        let threads = pix2pix_model::runtime::threads().max(1);
        pix2pix_model::tch::no_grad(|| {
            for (i, g) in grads.iter().enumerate() {
                if !g.defined() {
                    continue;
                }
                // A gradient may come back in another memory layout than its
                // parameter (channels-last convolutions); the fused update
                // wants the parameter's own.
                let g = g.contiguous();
                let fast = [&self.params[i], &g, &self.m[i], &self.v[i]]
                    .iter()
                    .all(|t| {
                        t.device() == pix2pix_model::tch::Device::Cpu
                            && t.kind() == Kind::Float
                            && t.is_contiguous()
                    });
                if fast {
                    let consts = Consts {
                        b1: self.beta1 as f32,
                        b2: self.beta2 as f32,
                        inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
                        step: step_size as f32,
                        eps: self.eps as f32,
                    };
                    // SAFETY: four distinct contiguous f32 CPU tensors of equal size
                    // (parameter, its gradient and its two moments), not used
                    // elsewhere while the step runs.
                    unsafe {
                        fused_update(&self.params[i], &g, &self.m[i], &self.v[i], consts, threads)
                    };
                } else {
                    let _ = self.m[i].lerp_(&g, 1.0 - self.beta1);
                    let _ = self.v[i].lerp_(&(&g * &g), 1.0 - self.beta2);
                    let denom = (&self.v[i] / bc2).sqrt() + self.eps;
                    let update = &self.m[i] * (-step_size);
                    let _ = self.params[i].addcdiv_(&update, &denom);
                }
            }
        });
    }

    /// Moments as named tensors for a checkpoint: `<prefix>.m.<param>`, `<prefix>.v.<param>`.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            out.push((format!("{prefix}.m.{n}"), self.m[i].shallow_clone()));
            out.push((format!("{prefix}.v.{n}"), self.v[i].shallow_clone()));
        }
        out
    }

    /// Restores moments saved by [`state`](Self::state).
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &std::collections::HashMap<String, Tensor>,
        t: u64,
    ) -> Result<(), String> {
        for (i, n) in self.names.iter().enumerate() {
            for (which, dst) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{which}.{n}");
                let src = tensors
                    .get(&key)
                    .ok_or_else(|| format!("checkpoint lacks optimizer state `{key}`"))?;
                if src.size() != dst.size() {
                    return Err(format!("optimizer state `{key}` has the wrong shape"));
                }
                pix2pix_model::tch::no_grad(|| {
                    dst.copy_(&src.to_kind(Kind::Float).to_device(dst.device()))
                });
            }
        }
        self.t = t;
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Consts {
    b1: f32,
    b2: f32,
    inv_sqrt_bc2: f32,
    step: f32,
    eps: f32,
}

/// One pass over parameter, gradient and moments (the tensor-op form makes
/// about eight passes): most of an Adam step's cost is memory traffic.
#[inline]
fn update_slice(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: Consts) {
    for i in 0..p.len() {
        let gi = g[i];
        let mi = c.b1 * m[i] + (1.0 - c.b1) * gi;
        let vi = c.b2 * v[i] + (1.0 - c.b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= c.step * mi / (vi.sqrt() * c.inv_sqrt_bc2 + c.eps);
    }
}

unsafe fn fused_update(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, c: Consts, threads: usize) {
    let n = p.numel();
    assert!(g.numel() == n && m.numel() == n && v.numel() == n);
    let (p, g, m, v) = unsafe {
        (
            std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(g.data_ptr() as *const f32, n),
            std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n),
        )
    };
    const MIN_CHUNK: usize = 1 << 16;
    if threads <= 1 || n < 2 * MIN_CHUNK {
        update_slice(p, g, m, v, c);
        return;
    }
    let chunk = n.div_ceil(threads).max(MIN_CHUNK);
    std::thread::scope(|s| {
        for (((p, g), m), v) in p
            .chunks_mut(chunk)
            .zip(g.chunks(chunk))
            .zip(m.chunks_mut(chunk))
            .zip(v.chunks_mut(chunk))
        {
            s.spawn(move || update_slice(p, g, m, v, c));
        }
    });
}
