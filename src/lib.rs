//! Read TensorBoard event files.
pub mod proto;
