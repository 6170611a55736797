//! Outside systems, behind traits with real implementations.
pub mod aws;
pub mod directory;
