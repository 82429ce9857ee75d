//! Read TensorBoard event files.
pub mod event;
pub mod json;
pub mod logdir;
pub mod masked_crc;
pub mod proto;
pub mod record;
pub mod run;
pub mod stats;
pub mod types;
pub mod value;
pub mod wire;
