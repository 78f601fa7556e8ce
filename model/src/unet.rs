//! The U-Net generator of pix2pix, block by block as `UnetSkipConnectionBlock`
//! in the reference implementation, with the same variable names.

use tch::nn::{Path, VarStore};
use tch::{Device, Tensor};

use crate::config::{Norm, UnetConfig};
use crate::layers::{leaky_relu, Conv, Mode, NormLayer};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Outermost,
    Middle,
    Innermost,
}

/// One `UnetSkipConnectionBlock`. Its layers sit at `<path>.model.<index>`.
#[derive(Debug)]
struct Block {
    kind: Kind,
    down_conv: Conv,
    down_norm: Option<NormLayer>,
    sub: Option<Box<Block>>,
    up_conv: Conv,
    up_norm: Option<NormLayer>,
    dropout: bool,
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &Path,
        outer_nc: i64,
        inner_nc: i64,
        input_nc: i64,
        sub: Option<Block>,
        kind: Kind,
        norm: Norm,
        dropout: bool,
    ) -> Block {
        let use_bias = norm == Norm::Instance;
        let m = p / "model";
        match kind {
            // [downconv] + [submodule] + [uprelu, upconv, tanh]
            Kind::Outermost => Block {
                kind,
                down_conv: Conv::new(&(&m / 0), input_nc, inner_nc, 2, use_bias),
                down_norm: None,
                up_conv: Conv::transposed(&(&m / 3), inner_nc * 2, outer_nc, true),
                up_norm: None,
                sub: Some(Box::new(sub.expect("outermost block has a submodule"))),
                dropout: false,
            },
            // [downrelu, downconv] + [uprelu, upconv, upnorm]
            Kind::Innermost => Block {
                kind,
                down_conv: Conv::new(&(&m / 1), input_nc, inner_nc, 2, use_bias),
                down_norm: None,
                up_conv: Conv::transposed(&(&m / 3), inner_nc, outer_nc, use_bias),
                up_norm: Some(NormLayer::new(&(&m / 4), norm, outer_nc)),
                sub: None,
                dropout: false,
            },
            // [downrelu, downconv, downnorm] + [submodule] + [uprelu, upconv, upnorm] (+ [dropout])
            Kind::Middle => Block {
                kind,
                down_conv: Conv::new(&(&m / 1), input_nc, inner_nc, 2, use_bias),
                down_norm: Some(NormLayer::new(&(&m / 2), norm, inner_nc)),
                sub: Some(Box::new(sub.expect("middle block has a submodule"))),
                up_conv: Conv::transposed(&(&m / 5), inner_nc * 2, outer_nc, use_bias),
                up_norm: Some(NormLayer::new(&(&m / 6), norm, outer_nc)),
                dropout,
            },
        }
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        // The reference applies LeakyReLU in place, so its skip connection carries
        // leaky_relu(x); the parent's ReLU makes that identical to relu(x), which is
        // what taking `x` here gives too.
        let h = match self.kind {
            Kind::Outermost => self.down_conv.forward(x),
            _ => self.down_conv.forward(&leaky_relu(x)),
        };
        let h = match &self.down_norm {
            Some(n) => n.forward(&h, mode),
            None => h,
        };
        let h = match &self.sub {
            Some(s) => s.forward(&h, mode),
            None => h,
        };
        let h = self.up_conv.forward(&h.relu());
        match self.kind {
            Kind::Outermost => h.tanh(),
            _ => {
                let mut h = self.up_norm.as_ref().expect("norm").forward(&h, mode);
                if self.dropout {
                    h = h.dropout(0.5, mode.dropout_active());
                }
                Tensor::cat(&[x, &h], 1)
            }
        }
    }
}

/// Read access to one block's layers (for building inference forms).
pub struct BlockView<'a> {
    pub outermost: bool,
    pub down_conv: &'a Conv,
    pub down_norm: Option<&'a NormLayer>,
    pub sub: Option<Box<BlockView<'a>>>,
    pub up_conv: &'a Conv,
    pub up_norm: Option<&'a NormLayer>,
}

impl Block {
    fn view(&self) -> BlockView<'_> {
        BlockView {
            outermost: self.kind == Kind::Outermost,
            down_conv: &self.down_conv,
            down_norm: self.down_norm.as_ref(),
            sub: self.sub.as_ref().map(|s| Box::new(s.view())),
            up_conv: &self.up_conv,
            up_norm: self.up_norm.as_ref(),
        }
    }
}

/// The pix2pix U-Net generator.
pub struct UnetGenerator {
    vs: VarStore,
    config: UnetConfig,
    root: Block,
}

impl std::fmt::Debug for UnetGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnetGenerator")
            .field("config", &self.config)
            .field("device", &self.vs.device())
            .finish()
    }
}

impl UnetGenerator {
    /// Builds a freshly initialised generator (weights N(0, 0.02), BatchNorm
    /// weights N(1, 0.02), biases 0) on `device`.
    pub fn new(config: &UnetConfig, device: Device) -> Result<UnetGenerator> {
        config.validate()?;
        let vs = VarStore::new(device);
        let root = Self::build(&vs.root(), config);
        Ok(UnetGenerator {
            vs,
            config: config.clone(),
            root,
        })
    }

    /// Builds the generator under `p` (which must be a fresh path of some VarStore);
    /// used by the trainer to keep the generator in its own store.
    fn build(p: &Path, c: &UnetConfig) -> Block {
        let (ngf, norm) = (c.ngf, c.norm);
        let p = p / "model";
        // Paths of the nested blocks: the outermost holds its submodule at index 1
        // (model.model.1), every other block at index 3 (model.model.1.model.3, ...).
        let depth = c.num_downs as usize;
        let mut paths = vec![p.clone()];
        for i in 1..depth {
            let prev = paths[i - 1].clone();
            let idx = if i == 1 { 1 } else { 3 };
            paths.push(&(&prev / "model") / idx);
        }
        // Innermost first, as in the reference constructor.
        let mut block = Block::new(
            &paths[depth - 1],
            ngf * 8,
            ngf * 8,
            ngf * 8,
            None,
            Kind::Innermost,
            norm,
            false,
        );
        let n_mid = depth - 5;
        for i in 0..n_mid {
            let level = depth - 2 - i;
            block = Block::new(
                &paths[level],
                ngf * 8,
                ngf * 8,
                ngf * 8,
                Some(block),
                Kind::Middle,
                norm,
                c.dropout,
            );
        }
        let specs = [(ngf * 4, ngf * 8), (ngf * 2, ngf * 4), (ngf, ngf * 2)];
        for (j, (outer, inner)) in specs.into_iter().enumerate() {
            let level = 3 - j;
            block = Block::new(
                &paths[level],
                outer,
                inner,
                outer,
                Some(block),
                Kind::Middle,
                norm,
                false,
            );
        }
        Block::new(
            &paths[0],
            c.output_nc,
            ngf,
            c.input_nc,
            Some(block),
            Kind::Outermost,
            norm,
            false,
        )
    }

    pub fn config(&self) -> &UnetConfig {
        &self.config
    }

    /// The layers, block by block from the outermost.
    pub fn root_view(&self) -> BlockView<'_> {
        self.root.view()
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// Number of learnable parameters (54,413,955 for the default unet_256).
    pub fn num_parameters(&self) -> i64 {
        crate::layers::count_parameters(&self.vs)
    }

    /// Runs the generator on an NCHW batch in [-1, 1]. Height and width must be
    /// multiples of 2^num_downs.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        self.root.forward(x, mode)
    }

    /// Like [`forward`](Self::forward) but checks the input first.
    pub fn try_forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let size = x.size();
        let m = self.config.size_multiple();
        if size.len() != 4 || size[1] != self.config.input_nc {
            return Err(Error::Image(format!(
                "generator expects an N x {} x H x W tensor, got {size:?}",
                self.config.input_nc
            )));
        }
        if size[2] % m != 0 || size[3] % m != 0 || size[2] == 0 || size[3] == 0 {
            return Err(Error::Image(format!(
                "generator input height and width must be multiples of {m}, got {}x{}",
                size[3], size[2]
            )));
        }
        Ok(tch::no_grad(|| self.forward(x, mode)))
    }
}
