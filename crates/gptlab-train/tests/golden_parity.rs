//! Golden parity with PyTorch / HF transformers (fixtures from testdata/gen/gpt2_golden.py):
//! logits (with and without autograd), loss, every gradient, and the losses of 10 AdamW steps
//! with clipping.
//!
//! On the CPU by default. `GPTLAB_TEST_DEVICE=cuda` runs the same checks on a GPU (with
//! tolerances 20× wider: CUDA's attention and reduction kernels sum in another order), and
//! `GPTLAB_GOLDEN_DIR` points at the fixtures when the test binary runs away from its
//! checkout (`bench/gpu_check.sh` does both).

use gptlab_model::checkpoint;
use gptlab_train::optim::{AdamW, OptimConfig};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

fn golden_dir() -> PathBuf {
    match std::env::var_os("GPTLAB_GOLDEN_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden"),
    }
}

/// The device under test and its tolerance factor.
fn device() -> (Device, f64) {
    match std::env::var("GPTLAB_TEST_DEVICE").as_deref() {
        Ok("cuda") => {
            assert!(tch::Cuda::is_available(), "GPTLAB_TEST_DEVICE=cuda but libtorch sees no CUDA device");
            (Device::Cuda(0), 20.0)
        }
        Ok("cpu") | Err(_) => (Device::Cpu, 1.0),
        Ok(other) => panic!("GPTLAB_TEST_DEVICE={other}: expected cpu or cuda"),
    }
}

fn fixtures() -> (std::collections::BTreeMap<String, Tensor>, PathBuf) {
    let g = golden_dir().join("gpt2-tiny-golden.safetensors");
    let t = checkpoint::read_tensors(&g)
        .unwrap_or_else(|e| panic!("{e}\nhint: regenerate the fixtures with `.venv/bin/python testdata/gen/gpt2_golden.py`"));
    (t, golden_dir().join("gpt2-tiny"))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch (stale fixture? rerun testdata/gen/gpt2_golden.py)");
    let cpu = |t: &Tensor| t.to_device(Device::Cpu).to_kind(Kind::Double);
    (cpu(a) - cpu(b)).abs().max().double_value(&[])
}

/// Under `no_grad` on the CPU the MLP's bias and GELU run in place (gptlab-model's `cpu.rs`),
/// on libtorch's thread pool with two threads: the logits still match PyTorch's.
#[test]
fn logits_without_autograd_match_pytorch() {
    tch::set_num_threads(2);
    let (g, dir) = fixtures();
    let (dev, tol) = device();
    let (_vs, model) = checkpoint::load_model(&dir, dev).expect("load HF checkpoint");
    let logits = tch::no_grad(|| model.forward(&g["input"].to_device(dev), false)).expect("forward");
    assert!(!logits.requires_grad());
    let d = max_diff(&logits, &g["logits"]);
    println!("{dev:?}: no_grad logits max |diff| = {d:.3e}");
    assert!(d < 1e-5 * tol, "logits differ by {d}");
}

#[test]
fn logits_loss_and_gradients_match_pytorch() {
    tch::set_num_threads(1);
    let (g, dir) = fixtures();
    let (dev, tol) = device();
    let (vs, model) = checkpoint::load_model(&dir, dev).expect("load HF checkpoint");
    let (x, y) = (&g["input"].to_device(dev), &g["target"].to_device(dev));
    let logits = model.forward(x, false).expect("forward");
    let d = max_diff(&logits, &g["logits"]);
    println!("{dev:?}: logits max |diff| = {d:.3e}");
    assert!(d < 1e-5 * tol, "logits differ by {d}");
    let loss = gptlab_model::ops::cross_entropy(&logits, y);
    let d = max_diff(&loss, &g["loss"]);
    println!("loss |diff| = {d:.3e}");
    assert!(d < 1e-6 * tol, "loss differs by {d}");
    loss.backward();
    let vars = vs.variables();
    let mut checked = 0;
    for (name, want) in g.iter().filter(|(n, _)| n.starts_with("grad.")) {
        let pname = &name["grad.".len()..];
        let var = vars.get(pname).unwrap_or_else(|| panic!("no parameter {pname}"));
        let d = max_diff(&var.grad(), want);
        let scale = want.abs().max().double_value(&[]).max(1e-3);
        println!("{pname:40} grad max |diff| = {d:.3e} (max |grad| {scale:.2e})");
        assert!(d < (1e-5 * scale.max(1.0) + 1e-6) * tol, "{pname}: gradient differs by {d}");
        checked += 1;
    }
    assert_eq!(checked, vars.len(), "every parameter's gradient is checked");
}

#[test]
fn ten_adamw_steps_match_pytorch() {
    tch::set_num_threads(1);
    let (g, dir) = fixtures();
    let (dev, tol) = device();
    let (vs, model) = checkpoint::load_model(&dir, dev).expect("load HF checkpoint");
    let (x, y) = (g["input"].to_device(dev), g["target"].to_device(dev));
    let cfg = OptimConfig { lr: 1e-3, min_lr: 1e-3, weight_decay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, grad_clip: 1.0 };
    let mut opt = AdamW::new(&vs, cfg, gptlab_model::gpt::decays).expect("optimizer");
    let want: Vec<f32> = Vec::<f32>::try_from(&g["losses"]).expect("losses");
    for (i, w) in want.iter().enumerate() {
        opt.zero_grad();
        let loss = model.loss(&x, &y, true).expect("loss");
        loss.backward();
        opt.clip_and_step(1e-3).expect("step");
        let l = loss.double_value(&[]);
        println!("{dev:?} step {i}: gptlab {l:.7} pytorch {w:.7} diff {:.2e}", (l - *w as f64).abs());
        assert!((l - *w as f64).abs() < 2e-5 * tol, "step {i}: loss {l} vs {w}");
    }
}
