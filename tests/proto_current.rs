//! The generated protobuf code in `src/proto/` must match the `.proto` files in `proto/`.
//!
//! Regenerate with `TFEVENTS_BLESS=1 cargo test --test proto_current`.

use std::path::Path;

const PROTOS: &[&str] = &[
    "tensorboard/tensor.proto",
    "tensorboard/summary.proto",
    "tensorboard/event.proto",
    "tensorboard/plugin_data.proto",
    "tensorboard/hparams.proto",
];

#[test]
fn generated_code_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fds = protox::compile(PROTOS, [root.join("proto")]).expect("compile .proto files");
    let out = tempfile::tempdir().expect("temp dir");
    prost_build::Config::new()
        .out_dir(out.path())
        .compile_fds(fds)
        .expect("generate Rust code");
    let bless = std::env::var_os("TFEVENTS_BLESS").is_some();
    let mut stale = Vec::new();
    for name in ["tensorboard.rs", "tensorboard.hparams.rs"] {
        let fresh = std::fs::read_to_string(out.path().join(name)).expect("generated file");
        let committed_path = root.join("src/proto").join(name);
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if fresh != committed {
            if bless {
                std::fs::write(&committed_path, fresh).expect("write generated file");
            } else {
                stale.push(name);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale: {stale:?}; run TFEVENTS_BLESS=1 cargo test --test proto_current"
    );
}
