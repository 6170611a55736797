//! Outside systems, behind traits with real implementations.
pub mod directory;
