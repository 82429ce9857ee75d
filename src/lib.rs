//! Read TensorBoard event files.
pub mod masked_crc;
pub mod proto;
pub mod record;
pub mod types;
pub mod event;
pub mod wire;
pub mod value;
pub mod logdir;
pub mod run;
pub mod stats;
pub mod json;
