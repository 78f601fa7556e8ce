//! The networks have exactly the reference structure: parameter counts, key
//! names and shapes, initialisation, and the behaviour of each mode.

use pix2pix_model::tch::{Device, Kind, Tensor};
use pix2pix_model::{Mode, Norm, PatchGan, PatchGanConfig, UnetConfig, UnetGenerator};

#[test]
fn default_generator_has_reference_parameter_count_and_keys() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = UnetGenerator::new(&UnetConfig::default(), Device::Cpu).unwrap();
    assert_eq!(g.num_parameters(), 54_413_955);
    let vars = g.var_store().variables();
    // The official state_dict has 82 entries: these 69 plus one
    // `num_batches_tracked` counter per BatchNorm (13), which is not a weight.
    assert_eq!(vars.len(), 69);
    assert_eq!(
        vars.keys().filter(|k| k.ends_with("running_mean")).count(),
        13
    );
    for key in [
        "model.model.0.weight",
        "model.model.1.model.1.weight",
        "model.model.1.model.2.weight",
        "model.model.1.model.2.running_mean",
        "model.model.1.model.2.running_var",
        "model.model.3.weight",
        "model.model.3.bias",
    ] {
        assert!(vars.contains_key(key), "missing {key}");
    }
    assert!(
        !vars.contains_key("model.model.0.bias"),
        "conv before batch norm has no bias"
    );
    // ConvTranspose weights are [in, out, kH, kW].
    assert_eq!(vars["model.model.3.weight"].size(), vec![128, 3, 4, 4]);
    assert_eq!(vars["model.model.0.weight"].size(), vec![64, 3, 4, 4]);
    // Innermost block: 7 levels down.
    let inner = format!("model.model.1{}", ".model.3".repeat(6));
    assert_eq!(
        vars[&format!("{inner}.model.1.weight")].size(),
        vec![512, 512, 4, 4]
    );
    assert_eq!(
        vars[&format!("{inner}.model.3.weight")].size(),
        vec![512, 512, 4, 4]
    );
}

#[test]
fn default_discriminator_has_reference_parameter_count_and_keys() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let d = PatchGan::new(&PatchGanConfig::default(), Device::Cpu).unwrap();
    assert_eq!(d.num_parameters(), 2_768_705);
    assert_eq!(d.config().receptive_field(), 70);
    let vars = d.var_store().variables();
    for key in [
        "model.0.weight",
        "model.0.bias",
        "model.2.weight",
        "model.3.running_var",
        "model.8.weight",
        "model.9.weight",
        "model.11.weight",
        "model.11.bias",
    ] {
        assert!(vars.contains_key(key), "missing {key}");
    }
    assert!(!vars.contains_key("model.2.bias"));
    // 256x256 input → 30x30 patches.
    let x = Tensor::zeros([1, 6, 256, 256], (Kind::Float, Device::Cpu));
    let y = d.forward(&x, Mode::Eval);
    assert_eq!(y.size(), vec![1, 1, 30, 30]);
}

#[test]
fn instance_norm_and_unet_128_variants() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let c = UnetConfig {
        num_downs: 7,
        ngf: 8,
        norm: Norm::Instance,
        ..Default::default()
    };
    let g = UnetGenerator::new(&c, Device::Cpu).unwrap();
    let vars = g.var_store().variables();
    assert!(
        vars.contains_key("model.model.0.bias"),
        "instance norm keeps conv biases"
    );
    assert!(!vars.keys().any(|k| k.contains("running")));
    let x = Tensor::rand([2, 3, 128, 128], (Kind::Float, Device::Cpu)) * 2 - 1;
    let y = g.try_forward(&x, Mode::Eval).unwrap();
    assert_eq!(y.size(), vec![2, 3, 128, 128]);
    assert!(g.try_forward(&x.narrow(3, 0, 100), Mode::Eval).is_err());
}

#[test]
fn initialisation_follows_reference() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = UnetGenerator::new(&UnetConfig::default(), Device::Cpu).unwrap();
    let vars = g.var_store().variables();
    let w = &vars["model.model.1.model.1.weight"];
    let std = w.std(true).double_value(&[]);
    let mean = w.mean(Kind::Float).double_value(&[]);
    assert!((std - 0.02).abs() < 0.002, "conv weight std {std}");
    assert!(mean.abs() < 0.002);
    let bn = &vars["model.model.1.model.2.weight"];
    let bn_mean = bn.mean(Kind::Float).double_value(&[]);
    assert!((bn_mean - 1.0).abs() < 0.01, "bn weight mean {bn_mean}");
    let b = &vars["model.model.3.bias"];
    assert_eq!(b.abs().sum(Kind::Float).double_value(&[]), 0.0);
}

/// libtorch's CPU random generator is process-wide: tests that seed it and
/// draw from it must not interleave.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn small() -> UnetGenerator {
    pix2pix_model::tch::manual_seed(1);
    let c = UnetConfig {
        ngf: 8,
        ..Default::default()
    };
    UnetGenerator::new(&c, Device::Cpu).unwrap()
}

#[test]
fn eval_is_deterministic_and_paper_mode_is_seedable() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = small();
    let x = Tensor::rand([1, 3, 256, 256], (Kind::Float, Device::Cpu)) * 2 - 1;
    let a = g.try_forward(&x, Mode::Eval).unwrap();
    let b = g.try_forward(&x, Mode::Eval).unwrap();
    assert_eq!(f64::try_from((&a - &b).abs().max()).unwrap(), 0.0);
    let before = g.var_store().variables()["model.model.1.model.2.running_mean"].copy();

    pix2pix_model::tch::manual_seed(7);
    let p1 = g.try_forward(&x, Mode::Paper).unwrap();
    pix2pix_model::tch::manual_seed(7);
    let p2 = g.try_forward(&x, Mode::Paper).unwrap();
    pix2pix_model::tch::manual_seed(8);
    let p3 = g.try_forward(&x, Mode::Paper).unwrap();
    assert_eq!(
        f64::try_from((&p1 - &p2).abs().max()).unwrap(),
        0.0,
        "same seed, same output"
    );
    assert!(
        f64::try_from((&p1 - &p3).abs().max()).unwrap() > 1e-4,
        "dropout differs by seed"
    );
    assert!(
        f64::try_from((&p1 - &a).abs().max()).unwrap() > 1e-3,
        "paper mode differs from eval"
    );
    // Paper mode must not touch the running statistics.
    let after = &g.var_store().variables()["model.model.1.model.2.running_mean"];
    assert_eq!(f64::try_from((&before - after).abs().max()).unwrap(), 0.0);
    // Output is tanh-bounded.
    assert!(f64::try_from(p1.abs().max()).unwrap() <= 1.0);
}

#[test]
fn train_mode_updates_running_statistics() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let g = small();
    let x = Tensor::rand([2, 3, 256, 256], (Kind::Float, Device::Cpu)) * 2 - 1;
    let before = g.var_store().variables()["model.model.1.model.2.running_mean"].copy();
    let _ = g.forward(&x, Mode::Train);
    let after = &g.var_store().variables()["model.model.1.model.2.running_mean"];
    assert!(f64::try_from((&before - after).abs().max()).unwrap() > 0.0);
}

#[test]
fn folded_inference_form_matches_eval_mode() {
    use pix2pix_model::fused::FusedUnet;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    for norm in [Norm::Batch, Norm::Instance] {
        pix2pix_model::tch::manual_seed(5);
        let c = UnetConfig {
            ngf: 8,
            norm,
            ..Default::default()
        };
        let g = UnetGenerator::new(&c, Device::Cpu).unwrap();
        // Non-trivial running statistics and affine parameters.
        for (n, mut v) in g.var_store().variables() {
            pix2pix_model::tch::no_grad(|| {
                if n.ends_with("running_var") {
                    let _ = v.uniform_(0.3, 3.0);
                } else if n.ends_with("running_mean") {
                    let _ = v.uniform_(-0.5, 0.5);
                } else if v.dim() == 1 {
                    let _ = v.uniform_(-0.5, 1.5);
                }
            });
        }
        // Both CPU paths: oneDNN weights packed per input shape, and the plain
        // folded convolutions. The shape changes and comes back, so the packed
        // weights are re-packed twice.
        let packed = FusedUnet::with_packing(&g, Kind::Float, true);
        let plain = FusedUnet::with_packing(&g, Kind::Float, false);
        let bf16 = FusedUnet::with_packing(&g, Kind::BFloat16, true);
        for (n, h, w) in [(2, 256, 256), (1, 256, 512), (2, 256, 256)] {
            let x = Tensor::rand([n, 3, h, w], (Kind::Float, Device::Cpu)) * 2 - 1;
            let a = g.try_forward(&x, Mode::Eval).unwrap();
            assert!(f64::try_from(a.std(true)).unwrap() > 0.01);
            for (name, f) in [("packed", &packed), ("plain", &plain)] {
                let b = pix2pix_model::tch::no_grad(|| f.forward(&x));
                assert_eq!(b.size(), a.size());
                let d = f64::try_from((&a - &b).abs().max()).unwrap();
                assert!(d < 1e-4, "{norm:?} {name} {n}x{h}x{w}: differs by {d}");
            }
            // bfloat16 keeps about 3 significant digits through 16 layers.
            let b = pix2pix_model::tch::no_grad(|| bf16.forward(&x)).to_kind(Kind::Float);
            let d = f64::try_from((&a - &b).abs().mean(Kind::Float)).unwrap();
            assert!(d < 0.03, "{norm:?} bf16 {n}x{h}x{w}: mean difference {d}");
        }
        // The packed path really ran: it did not fail over to the plain one.
        assert_eq!(packed.packed_status(), Ok(true), "{norm:?}");
        assert_eq!(bf16.packed_status(), Ok(true), "{norm:?} bf16");
        assert_eq!(plain.packed_status(), Ok(false), "{norm:?}");
    }
}

#[test]
fn leaky_relu_has_slope_0_2_forward_and_backward() {
    let x = Tensor::from_slice(&[-2.0f32, -0.5, 1.0, 3.0]).set_requires_grad(true);
    let y = pix2pix_model::layers::leaky_relu(&x);
    assert_eq!(Vec::<f32>::try_from(&y).unwrap(), [-0.4, -0.1, 1.0, 3.0]);
    let g = Tensor::run_backward(
        &[(&y * Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])).sum(Kind::Float)],
        &[&x],
        false,
        false,
    );
    let g = Vec::<f32>::try_from(&g[0]).unwrap();
    for (got, want) in g.iter().zip([0.2f32, 0.4, 3.0, 4.0]) {
        assert!((got - want).abs() < 1e-6, "gradient {g:?}");
    }
    // In half precision too (the element's fp16/bf16 paths).
    let h = pix2pix_model::layers::leaky_relu(
        &Tensor::from_slice(&[-1.0f32, 2.0]).to_kind(Kind::BFloat16),
    );
    assert_eq!(h.kind(), Kind::BFloat16);
    let h = Vec::<f32>::try_from(&h.to_kind(Kind::Float)).unwrap();
    assert!((h[0] + 0.2).abs() < 2e-3 && h[1] == 2.0, "bf16: {h:?}");
}

#[test]
fn subpixel_form_equals_the_transposed_convolution() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    pix2pix_model::tch::manual_seed(11);
    for (n, cin, cout, h, w) in [(1, 16, 8, 1, 1), (2, 12, 5, 3, 5), (1, 32, 16, 8, 8)] {
        let x = Tensor::randn([n, cin, h, w], (Kind::Float, Device::Cpu));
        let weight = Tensor::randn([cin, cout, 4, 4], (Kind::Float, Device::Cpu));
        let bias = Tensor::randn([cout], (Kind::Float, Device::Cpu));
        let want = x.conv_transpose2d(&weight, Some(&bias), [2, 2], [1, 1], [0, 0], 1, [1, 1]);
        let phases = pix2pix_model::fused::phase_weights(&weight);
        let got = pix2pix_model::fused::subpixel_conv_transpose(&x, &phases, Some(&bias));
        assert_eq!(got.size(), want.size());
        let d = f64::try_from((&got - &want).abs().max()).unwrap();
        let scale = f64::try_from(want.abs().max()).unwrap();
        assert!(
            d <= 1e-5 * scale,
            "{n}x{cin}x{h}x{w}: differs by {d} (max {scale})"
        );
    }
}

#[test]
fn packed_path_falls_back_with_its_reason_where_onednn_lacks_the_precision() {
    use pix2pix_model::fused::FusedUnet;
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    pix2pix_model::tch::manual_seed(9);
    let c = UnetConfig {
        ngf: 8,
        ..Default::default()
    };
    let g = UnetGenerator::new(&c, Device::Cpu).unwrap();
    let x = Tensor::rand([1, 3, 256, 256], (Kind::Float, Device::Cpu)) * 2 - 1;
    let want = g.try_forward(&x, Mode::Eval).unwrap();
    // oneDNN packs fp16 weights only on CPUs with avx512_fp16 or avx_ne_convert;
    // elsewhere the packed path fails, says why, and the plain one answers.
    let half = FusedUnet::with_packing(&g, Kind::Half, true);
    let got = pix2pix_model::tch::no_grad(|| half.forward(&x)).to_kind(Kind::Float);
    let d = f64::try_from((&want - &got).abs().mean(Kind::Float)).unwrap();
    assert!(d < 0.01, "fp16: mean difference {d}");
    match half.packed_status() {
        Ok(on) => assert!(on, "packing was asked for and did not fail"),
        Err(why) => assert!(why.contains("fp16"), "reason: {why}"),
    }
    // The next pass takes the plain path at once, with the same result.
    let again = pix2pix_model::tch::no_grad(|| half.forward(&x)).to_kind(Kind::Float);
    assert_eq!(f64::try_from((&got - &again).abs().max()).unwrap(), 0.0);
}
