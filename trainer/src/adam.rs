//! Adam, written out so that its state (first and second moments, step count)
//! can be saved in checkpoints and restored exactly.

use pix2pix_model::tch::nn::VarStore;
use pix2pix_model::tch::{Kind, Tensor};

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

    pub fn zero_grad(&mut self) {
        for p in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// Turns gradient tracking of all parameters on or off (the reference
    /// freezes the discriminator while the generator is updated).
    pub fn set_requires_grad(&self, on: bool) {
        for p in &self.params {
            let _ = p.set_requires_grad(on);
        }
    }

    pub fn step(&mut self) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let step_size = self.lr / bc1;
        pix2pix_model::tch::no_grad(|| {
            for i in 0..self.params.len() {
                let g = self.params[i].grad();
                if !g.defined() {
                    continue;
                }
                let _ = self.m[i].lerp_(&g, 1.0 - self.beta1);
                let _ = self.v[i].lerp_(&(&g * &g), 1.0 - self.beta2);
                let denom = (&self.v[i] / bc2).sqrt() + self.eps;
                let update = &self.m[i] * (-step_size);
                let _ = self.params[i].addcdiv_(&update, &denom);
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
