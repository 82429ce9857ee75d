//! A small real training loop recorded with `tfevents::Run`: logistic regression by
//! mini-batch SGD on generated data, swept over three learning rates.
//!
//! ```text
//! cargo run --release --example train -- --logdir DIR [--steps 300] [--seed 7]
//! ```
//!
//! Each learning rate is one run, `DIR/lr=<lr>`, holding its config (hparams), environment,
//! per-step training loss, validation loss and accuracy every 25 steps, a histogram of the
//! weights, an image of the predicted probability over the two informative features with the
//! validation points drawn on it, a PR curve, and the final weights as a checkpoint artifact.
//! Open it with `tensorboard --logdir DIR`, or `tfevents inspect DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use tfevents::artifact::ArtifactMode;
use tfevents::Run;

/// Features per example; only the first two carry signal.
const FEATURES: usize = 16;
const EVAL_EVERY: i64 = 25;
const IMAGE_SIZE: u32 = 96;
/// The plotted square of the two informative features.
const EXTENT: f64 = 3.0;

#[derive(serde::Serialize)]
struct Data {
    n_train: usize,
    n_val: usize,
    features: usize,
    class_separation: f64,
    seed: u64,
}

#[derive(serde::Serialize)]
struct Config {
    model: &'static str,
    optimizer: &'static str,
    lr: f64,
    batch_size: usize,
    steps: i64,
    l2: f64,
    data: Data,
}

/// SplitMix64: a small deterministic generator, so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(f64::MIN_POSITIVE);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

struct Example {
    x: [f64; FEATURES],
    y: bool,
}

/// Two Gaussian classes, apart along the first two features; the rest is noise.
fn make_data(n: usize, separation: f64, rng: &mut Rng) -> Vec<Example> {
    (0..n)
        .map(|_| {
            let y = rng.uniform() < 0.5;
            let sign = if y { 1.0 } else { -1.0 };
            let mut x = [0.0; FEATURES];
            for (i, xi) in x.iter_mut().enumerate() {
                *xi = rng.normal();
                if i < 2 {
                    *xi += sign * separation / 2.0;
                }
            }
            Example { x, y }
        })
        .collect()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

struct Model {
    w: [f64; FEATURES],
    b: f64,
}

impl Model {
    fn predict(&self, x: &[f64; FEATURES]) -> f64 {
        sigmoid(self.w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + self.b)
    }

    /// Mean log loss and accuracy.
    fn evaluate(&self, data: &[Example]) -> (f64, f64) {
        let mut loss = 0.0;
        let mut correct = 0usize;
        for e in data {
            let p = self.predict(&e.x).clamp(1e-12, 1.0 - 1e-12);
            loss -= if e.y { p.ln() } else { (1.0 - p).ln() };
            correct += usize::from((p >= 0.5) == e.y);
        }
        (loss / data.len() as f64, correct as f64 / data.len() as f64)
    }

    /// One SGD step on a batch; returns the batch's mean loss before the step.
    fn step(&mut self, batch: &[&Example], lr: f64, l2: f64) -> f64 {
        let mut gw = [0.0; FEATURES];
        let mut gb = 0.0;
        let mut loss = 0.0;
        for e in batch {
            let p = self.predict(&e.x);
            let pc = p.clamp(1e-12, 1.0 - 1e-12);
            loss -= if e.y { pc.ln() } else { (1.0 - pc).ln() };
            let err = p - f64::from(u8::from(e.y));
            for (g, x) in gw.iter_mut().zip(&e.x) {
                *g += err * x;
            }
            gb += err;
        }
        let n = batch.len() as f64;
        for (w, g) in self.w.iter_mut().zip(&gw) {
            *w -= lr * (g / n + l2 * *w);
        }
        self.b -= lr * gb / n;
        loss / n
    }

    /// RGB image of P(y=1) over the first two features (others 0), blue to red, with the
    /// validation points as dark (negative) and white (positive) dots.
    fn prediction_image(&self, val: &[Example]) -> Vec<u8> {
        let s = IMAGE_SIZE as usize;
        let mut px = vec![0u8; s * s * 3];
        let to_coord = |i: usize| (i as f64 + 0.5) / s as f64 * 2.0 * EXTENT - EXTENT;
        for row in 0..s {
            for col in 0..s {
                let mut x = [0.0; FEATURES];
                x[0] = to_coord(col);
                x[1] = -to_coord(row); // up is positive
                let p = self.predict(&x);
                let o = (row * s + col) * 3;
                px[o] = (255.0 * p) as u8;
                px[o + 1] = (255.0 * (1.0 - (2.0 * p - 1.0).abs()) * 0.6) as u8;
                px[o + 2] = (255.0 * (1.0 - p)) as u8;
            }
        }
        for e in val.iter().take(200) {
            let col = ((e.x[0] + EXTENT) / (2.0 * EXTENT) * s as f64).floor();
            let row = ((EXTENT - e.x[1]) / (2.0 * EXTENT) * s as f64).floor();
            if col < 0.0 || row < 0.0 || col >= s as f64 || row >= s as f64 {
                continue;
            }
            let o = (row as usize * s + col as usize) * 3;
            let v = if e.y { 255 } else { 20 };
            px[o..o + 3].copy_from_slice(&[v, v, v]);
        }
        px
    }

    fn to_bytes(&self) -> Vec<u8> {
        self.w
            .iter()
            .chain(std::iter::once(&self.b))
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }
}

struct Args {
    logdir: PathBuf,
    steps: i64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut logdir = None;
    let mut steps = 300;
    let mut seed = 7;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--logdir" => logdir = Some(PathBuf::from(value("--logdir")?)),
            "--steps" => {
                steps = value("--steps")?
                    .parse()
                    .map_err(|e| format!("--steps: {e}"))?
            }
            "--seed" => {
                seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        logdir: logdir.ok_or("--logdir DIR is required")?,
        steps,
        seed,
    })
}

fn train(args: &Args, lr: f64) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let data = Data {
        n_train: 2000,
        n_val: 500,
        features: FEATURES,
        class_separation: 2.0,
        seed: args.seed,
    };
    let mut rng = Rng(args.seed);
    let train = make_data(data.n_train, data.class_separation, &mut rng);
    let val = make_data(data.n_val, data.class_separation, &mut rng);
    let config = Config {
        model: "logistic_regression",
        optimizer: "sgd",
        lr,
        batch_size: 32,
        steps: args.steps,
        l2: 1e-3,
        data,
    };
    let run = Run::create(args.logdir.join(format!("lr={lr}")))?
        .metrics(&["val/accuracy", "val/loss"])?
        .config(&config)?;

    let mut model = Model {
        w: [0.0; FEATURES],
        b: 0.0,
    };
    // Batches drawn with the run's own generator, the same for every learning rate.
    let mut order = Rng(args.seed ^ 0xBA7C);
    for step in 1..=args.steps {
        let batch: Vec<&Example> = (0..config.batch_size)
            .map(|_| &train[(order.next_u64() % train.len() as u64) as usize])
            .collect();
        let loss = model.step(&batch, lr, config.l2);
        run.log(step, &[("train/loss", loss)])?;
        if step % EVAL_EVERY == 0 || step == args.steps {
            let (val_loss, val_acc) = model.evaluate(&val);
            run.log(step, &[("val/loss", val_loss), ("val/accuracy", val_acc)])?;
            run.histogram(step, "weights", &model.w)?;
        }
        if step % 100 == 0 || step == args.steps {
            let img = model.prediction_image(&val);
            run.image(step, "prediction", IMAGE_SIZE, IMAGE_SIZE, 3, &img)?;
        }
    }
    let labels: Vec<bool> = val.iter().map(|e| e.y).collect();
    let preds: Vec<f32> = val.iter().map(|e| model.predict(&e.x) as f32).collect();
    run.pr_curve(args.steps, "val/pr", &labels, &preds, 127)?;

    // Saved outside the run, then copied into it with its hash.
    let scratch = std::env::temp_dir().join(format!("train-example-{}-lr{lr}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let ckpt = scratch.join("model.bin");
    std::fs::write(&ckpt, model.to_bytes())?;
    let artifact = run.log_artifact(args.steps, &ckpt, "checkpoint", ArtifactMode::Copy);
    let _ = std::fs::remove_dir_all(&scratch);
    artifact?;
    let result = model.evaluate(&val);
    run.close()?;
    Ok(result)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("train: {e}\nusage: train --logdir DIR [--steps N] [--seed N]");
            return ExitCode::from(2);
        }
    };
    for lr in [0.01, 0.1, 1.0] {
        match train(&args, lr) {
            Ok((loss, acc)) => println!("lr={lr}: val/loss {loss:.4}, val/accuracy {acc:.4}"),
            Err(e) => {
                eprintln!("train: lr={lr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("runs written to {}", args.logdir.display());
    ExitCode::SUCCESS
}
